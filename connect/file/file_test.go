package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logd/logd/connect"
)

// storedOffsets is a SourceTaskContext over a map, as the runtime's offset store answers.
type storedOffsets map[string]map[string]any

func (s storedOffsets) Offset(p map[string]any) (map[string]any, error) {
	return s[p[FileField].(string)], nil
}

func poll(t *testing.T, task *sourceTask) []connect.SourceRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	recs, err := task.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestSourceLinesAndOffsets: lines end at \n, \r\n and \r (a trailing \r waits for the next
// byte), each record's offset is the byte after its line, and a task started at a stored
// offset resumes there.
func TestSourceLinesAndOffsets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, []byte("a\r\nbb\rc\npartial\r"), 0o644); err != nil {
		t.Fatal(err)
	}
	task := &sourceTask{}
	if err := task.Start(storedOffsets{}, map[string]string{"file": path, "topic": "t", "batch.size": "10"}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	recs := poll(t, task)
	var got []string
	var offs []int64
	for _, r := range recs {
		got = append(got, r.Value.(string))
		offs = append(offs, r.SourceOffset[PositionField].(int64))
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "bb" || got[2] != "c" || offs[0] != 3 || offs[1] != 6 || offs[2] != 8 {
		t.Fatalf("lines %q at %v", got, offs)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\nlast\n")
	f.Close()
	recs = poll(t, task)
	if len(recs) != 2 || recs[0].Value != "partial" || recs[1].Value != "last" || recs[1].SourceOffset[PositionField] != int64(22) {
		t.Fatalf("after the append: %+v", recs)
	}

	resumed := &sourceTask{}
	if err := resumed.Start(storedOffsets{path: {PositionField: int64(6)}}, map[string]string{"file": path, "topic": "t"}); err != nil {
		t.Fatal(err)
	}
	defer resumed.Stop()
	recs = poll(t, resumed)
	if len(recs) != 3 || recs[0].Value != "c" {
		t.Fatalf("resumed at 6: %+v", recs)
	}
}

func TestSinkWritesValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	task := &sinkTask{}
	if err := task.Start(nil, map[string]string{"file": path}); err != nil {
		t.Fatal(err)
	}
	if err := task.Put([]connect.SinkRecord{{Value: "x"}, {Value: nil}, {Value: int64(3)}}); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	task.Stop()
	if b, _ := os.ReadFile(path); string(b) != "x\nnull\n3\n" {
		t.Fatalf("sink file %q", b)
	}
}

func TestValidate(t *testing.T) {
	c := &connector{kind: connect.Source}
	if errs := c.Validate(map[string]string{"file": "f", "topic": "a,b", "batch.size": "0"}); len(errs) != 2 {
		t.Fatalf("errors %+v, want topic and batch.size", errs)
	}
	if errs := c.Validate(map[string]string{"file": "f", "topic": "t"}); len(errs) != 0 {
		t.Fatalf("errors %+v", errs)
	}
}
