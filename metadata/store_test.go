package metadata

import (
	"errors"
	"strings"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

func TestStorePersistsAndValidates(t *testing.T) {
	fs := vfs.NewMemFS()
	fs.MkdirAll("/d", 0o755)
	fs.SyncDir("/") // the data directory itself is durable (the engine makes sure of it)
	s, err := Open(fs, "/d")
	if err != nil {
		t.Fatal(err)
	}
	cluster := s.ClusterID()
	a, err := s.CreateTopic("orders", 3, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic("orders", 1, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []string{"", ".", "..", "a/b", "sp ace", strings.Repeat("x", 250)} {
		if _, err := s.CreateTopic(bad, 1, nil); !errors.Is(err, ErrInvalidTopic) {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	if _, err := s.CreateTopic("zero", 0, nil); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("zero partitions: %v", err)
	}
	if err := s.SetPartitions("orders", 2); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrink: %v", err)
	}
	if err := s.SetPartitions("orders", 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfigs("orders", map[string]string{"segment.bytes": "1048576"}); err != nil {
		t.Fatal(err)
	}
	s.CreateTopic("gone", 1, nil)
	if _, err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}

	// Only what was persisted (atomically, with fsyncs) survives a crash.
	crashed := fs.CrashClone(nil)
	r, err := Open(crashed, "/d")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := r.Topic("orders")
	if !ok || got.ID != a.ID || got.Partitions != 5 || got.Configs["segment.bytes"] != "1048576" || len(got.Configs) != 1 {
		t.Fatalf("after crash: %+v", got)
	}
	if _, ok := r.Topic("gone"); ok {
		t.Fatal("deleted topic came back")
	}
	if byID, ok := r.TopicByID(a.ID); !ok || byID.Name != "orders" {
		t.Fatal("lookup by id")
	}
	if r.ClusterID() != cluster {
		t.Fatalf("cluster id changed: %s -> %s", cluster, r.ClusterID())
	}
}

func TestStoreRejectsCorruptFile(t *testing.T) {
	fs := vfs.NewMemFS()
	fs.MkdirAll("/d", 0o755)
	vfs.WriteFileAtomic(fs, "/d", "/d/"+FileName, []byte("{not json"))
	if _, err := Open(fs, "/d"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
}
