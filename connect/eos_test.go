//go:build compat

package connect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/connect/internal/workertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestExactlyOnceSourceKilled runs a file source on a distributed worker with
// exactly.once.source.support=enabled, SIGKILLs the worker three times while the task is
// writing (a new worker takes over each time), and reads the topic with read_committed: every
// line of the file is there exactly once, in order.
func TestExactlyOnceSourceKilled(t *testing.T) {
	t.Parallel()
	runs := killSourceWorkers(t, true, 3)
	if len(runs) != 1 {
		t.Fatalf("exactly once: the committed output is %d runs of consecutive lines, want 1: %v", len(runs), runs)
	}
}

// TestAtLeastOnceSourceKilled is the same without exactly-once support: the model is that
// every line is there and that each restart resumes from the last flushed offset, so the
// output is at most kills+1 runs of consecutive lines, each starting at or before the line
// after the previous run's end (the overlap is the duplicates).
func TestAtLeastOnceSourceKilled(t *testing.T) {
	t.Parallel()
	runs := killSourceWorkers(t, false, 3)
	if len(runs) > 4 {
		t.Fatalf("at least once: %d runs of consecutive lines after 3 kills, want at most 4: %v", len(runs), runs)
	}
	dups := 0
	for i := 1; i < len(runs); i++ {
		dups += runs[i-1][1] - runs[i][0] + 1
	}
	t.Logf("at least once: %d duplicates over 3 kills (runs %v)", dups, runs)
}

// killSourceWorkers appends lines (500/s) to a file read by a FileStreamSource (batch.size 5,
// so a transaction per 5 lines) on one distributed worker at a time, kills each worker with
// SIGKILL while lines are flowing (after it stored an offset), and returns the read_committed output as runs of
// consecutive line numbers ([first, last]), after checking that no line is missing and that
// each run resumes at or before the line after the previous one.
func killSourceWorkers(t *testing.T, eos bool, kills int) [][2]int {
	dir, p := t.TempDir(), names(t)
	topic := p + "-lines"
	createTopic(t, topic, 1)
	props := map[string]string{"exactly.once.source.support": "enabled"}
	cfg := `"exactly.once.support":"required","transaction.boundary":"poll",`
	if !eos {
		props, cfg = nil, ""
	}
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, 0, 0)
	// The writer appends 5 lines every 10 ms until stopped, so the task is always mid-stream.
	stop, written := make(chan struct{}), make(chan int, 1)
	go func() {
		n := 0
		defer func() { written <- n }()
		f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return
		}
		defer f.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var b []byte
			for range 5 {
				b = fmt.Appendf(b, "line %d\n", n)
				n++
			}
			if _, err := f.Write(b); err != nil {
				return
			}
		}
	}()
	w := workertest.Start(t, logdBin, brokers, dir, p, 0, props)
	w.MustCall(t, "POST", "/connectors", fmt.Sprintf(`{"name":"src","config":{%s"connector.class":"FileStreamSource","file":%q,"topic":%q,"batch.size":"5"}}`, cfg, in, topic), 201)
	var resume []int // per kill: the line the next task resumes at, from the stored offset
	for k := range kills {
		// Kill once the task stored an offset past its start (the writer is still going).
		last := 0
		if len(resume) > 0 {
			last = resume[len(resume)-1]
		}
		waitFor(t, 60*time.Second, "an offset stored before kill "+strconv.Itoa(k+1), func() (bool, string) {
			n := storedLine(t, p+"-offsets", in)
			return n > last+20, fmt.Sprint(n)
		})
		w.Kill()
		resume = append(resume, storedLine(t, p+"-offsets", in))
		w = workertest.Start(t, logdBin, brokers, dir, p, k+1, props)
	}
	close(stop)
	total := <-written
	if total == 0 {
		t.Fatal("the writer wrote nothing")
	}
	cl := client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []int
	seen := map[int]bool{}
	waitFor(t, 120*time.Second, fmt.Sprintf("all %d lines read with read_committed", total), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			n, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "line "))
			if err != nil {
				bad = fmt.Errorf("record %q is not a line of the input", r.Value)
			}
			got = append(got, n)
			seen[n] = true
		})
		if bad != nil {
			t.Fatal(bad)
		}
		return len(seen) == total, fmt.Sprintf("%d distinct of %d (%d records)", len(seen), total, len(got))
	})
	// Nothing more arrives once every line is there (a late duplicate would show here).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		n, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "line "))
		got = append(got, n)
	})
	cancel()
	var runs [][2]int
	for i, n := range got {
		if i > 0 && n == got[i-1]+1 {
			runs[len(runs)-1][1] = n
			continue
		}
		if i > 0 && n > got[i-1]+1 {
			t.Fatalf("line %d follows line %d: lines %d..%d are missing before it", n, got[i-1], got[i-1]+1, n-1)
		}
		runs = append(runs, [2]int{n, n})
	}
	if runs[0][0] != 0 || runs[len(runs)-1][1] != total-1 {
		t.Fatalf("output runs %v do not cover lines 0..%d", runs, total-1)
	}
	// The model: after kill k the task starts again at the line its stored offset points to,
	// so a new run starts exactly there; with exactly once the stored offset is always the
	// line after the last committed record, so no new run starts at all.
	var starts []int
	for _, r := range runs[1:] {
		starts = append(starts, r[0])
	}
	for _, s := range starts {
		if !slices.Contains(resume, s) {
			t.Fatalf("a run of the output starts at line %d, but the stored offsets at the kills pointed at lines %v (runs %v)", s, resume, runs)
		}
	}
	t.Logf("stored offsets at the kills: lines %v; output runs %v", resume, runs)
	return runs
}

// storedLine reads the offsets topic (read_committed) to its end and returns the line the
// file source's stored position for file points at (0 if none is stored).
func storedLine(t *testing.T, topic, file string) int {
	t.Helper()
	cl := client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	key := fmt.Sprintf(`["src",{"filename":%q}]`, file)
	position := int64(-1)
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s to its end: %v (left %v)", topic, ctx.Err(), want)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if !r.Attrs.IsControl() && string(r.Key) == key {
					var v struct{ Position int64 }
					if err := json.Unmarshal(r.Value, &v); err != nil {
						t.Fatalf("offset %s: %v", r.Value, err)
					}
					position = v.Position
				}
			}
			if len(p.Records) > 0 && p.Records[len(p.Records)-1].Offset+1 >= want[p.Partition] {
				delete(want, p.Partition)
			}
		})
	}
	if position < 0 {
		return 0
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b[:position], []byte("\n"))
}
