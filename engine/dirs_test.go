package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/properties"
	"github.com/logd/logd/internal/vfs"
)

// openDirs opens LogDirs over paths on the real file system, the background loops off.
func openDirs(t *testing.T, watch time.Duration, paths ...string) *LogDirs {
	t.Helper()
	d, err := OpenLogDirs(LogDirsConfig{Dirs: paths, NodeID: 3, WatchInterval: watch,
		Engine: Config{RetentionCheckInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// readMeta parses a directory's meta.properties into a map.
func readMeta(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, metaPropertiesFile))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := properties.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		m[e.Key] = e.Value
	}
	return m
}

func TestLogDirsPlacementAndRestart(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, -1, a, b)
	const n = 6
	for i := range n {
		tp := TopicPartition{Topic: "t", Partition: int32(i)}
		l, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		for range i + 1 {
			mustAppend(t, l, batch(2, 10, 1))
		}
	}
	// Fewest partitions first, the first listed on a tie: they alternate.
	for i := range n {
		tp := TopicPartition{Topic: "t", Partition: int32(i)}
		want := d.Dirs()[i%2]
		if got := d.DirOf(tp); got != want {
			t.Fatalf("%s placed in %s, want %s", tp, got.Path, want.Path)
		}
		if _, err := os.Stat(filepath.Join(want.Path, tp.dirName())); err != nil {
			t.Fatalf("%s: %v", tp, err)
		}
	}
	ids := []string{d.Dirs()[0].ID.String(), d.Dirs()[1].ID.String()}
	if ids[0] == ids[1] {
		t.Fatalf("both directories have id %s", ids[0])
	}
	for i, dir := range []string{a, b} {
		m := readMeta(t, dir)
		if m["directory.id"] != ids[i] || m["node.id"] != "3" || m["version"] != "1" {
			t.Fatalf("%s meta.properties: %v, want directory.id %s, node.id 3, version 1", dir, m, ids[i])
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openDirs(t, -1, a, b)
	defer d.Close()
	for i, ld := range d.Dirs() {
		if ld.ID.String() != ids[i] {
			t.Fatalf("%s: id %s after restart, want %s", ld.Path, ld.ID, ids[i])
		}
	}
	if got := len(d.Partitions()); got != n {
		t.Fatalf("%d partitions after restart, want %d", got, n)
	}
	for i := range n {
		tp := TopicPartition{Topic: "t", Partition: int32(i)}
		if got := d.DirOf(tp); got != d.Dirs()[i%2] {
			t.Fatalf("%s found in %v after restart", tp, got)
		}
		l, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := l.LogEndOffset(), int64(2*(i+1)); got != want {
			t.Fatalf("%s: log end %d after restart, want %d", tp, got, want)
		}
		if got := len(readAll(t, l, 0, l.LogEndOffset())); got != i+1 {
			t.Fatalf("%s: read %d batches back, want %d", tp, got, i+1)
		}
	}
	// A new partition goes where fewest are: a tie again, so the first directory.
	if _, err := d.OpenLogWith(TopicPartition{Topic: "u", Partition: 0}, DefaultLogConfig, OpenOptions{Create: true}); err != nil {
		t.Fatal(err)
	}
	if d.DirOf(TopicPartition{Topic: "u", Partition: 0}) != d.Dirs()[0] {
		t.Fatal("u-0 not placed in the first directory")
	}
	if err := d.DeleteLog(TopicPartition{Topic: "u", Partition: 0}); err != nil {
		t.Fatal(err)
	}
	if d.DirOf(TopicPartition{Topic: "u", Partition: 0}) != nil {
		t.Fatal("u-0 still placed after its deletion")
	}
}

func TestLogDirsRefuseAmbiguousLayouts(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, -1, a, b)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T)
		dirs  []string
		want  []string
	}{
		{name: "same directory twice", dirs: []string{a, filepath.Join(root, "x", "..", "a")},
			want: []string{"lists the directory", "twice"}},
		{name: "partition in both", dirs: []string{a, b}, setup: func(t *testing.T) {
			for _, dir := range []string{a, b} {
				if err := os.MkdirAll(filepath.Join(dir, "t-0"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}, want: []string{"partition t-0 is in two log directories", filepath.Join(a, "t-0"), filepath.Join(b, "t-0")}},
		{name: "copied directory", dirs: []string{a, filepath.Join(root, "c")}, setup: func(t *testing.T) {
			c := filepath.Join(root, "c")
			if err := os.MkdirAll(c, 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(a, metaPropertiesFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(c, metaPropertiesFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"have the same directory.id"}},
		{name: "another node's directory", dirs: []string{filepath.Join(root, "n")}, setup: func(t *testing.T) {
			n := filepath.Join(root, "n")
			if err := os.MkdirAll(n, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(n, metaPropertiesFile), []byte("version=1\nnode.id=9\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"belongs to node.id 9, this broker is node.id 3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup(t)
			}
			_, err := OpenLogDirs(LogDirsConfig{Dirs: c.dirs, NodeID: 3, WatchInterval: -1,
				Engine: Config{RetentionCheckInterval: -1}})
			if err == nil {
				t.Fatal("opened")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLogDirsDirectoryVanishes(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, 10*time.Millisecond, a, b)
	defer d.Close()
	logs := make([]*Log, 2)
	for i := range logs {
		l, err := d.OpenLogWith(TopicPartition{Topic: "t", Partition: int32(i)}, DefaultLogConfig, OpenOptions{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		res := mustAppend(t, l, batch(1, 10, 1))
		if err := l.WaitDurable(res.SyncSeq); err != nil {
			t.Fatal(err)
		}
		logs[i] = l
	}
	if err := os.RemoveAll(b); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); d.OfflineCount() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the removed directory never went offline")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Dirs()[1].Engine.Offline(); err == nil || !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("directory b offline with %v, want it to say it vanished", err)
	}
	if d.Offline() != nil {
		t.Fatal("the broker reports no log directory online while a is")
	}
	// The offline directory's partition refuses appends; the other one serves.
	if _, err := logs[1].Append(batch(1, 10, 2), AppendOptions{}); !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("append to the offline directory: %v, want ErrLogDirOffline", err)
	}
	mustAppend(t, logs[0], batch(1, 10, 2))
	// New partitions go to the online directory only.
	for i := 2; i < 5; i++ {
		tp := TopicPartition{Topic: "t", Partition: int32(i)}
		if _, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{Create: true}); err != nil {
			t.Fatal(err)
		}
		if d.DirOf(tp) != d.Dirs()[0] {
			t.Fatalf("%s placed in the offline directory", tp)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v (the offline directory was reported when it failed)", err)
	}
	if _, err := os.Stat(filepath.Join(a, cleanShutdownFile)); err != nil {
		t.Fatalf("the online directory was not closed cleanly: %v", err)
	}
}

func TestDirIDRoundTrip(t *testing.T) {
	for range 100 {
		id := newDirID()
		got, err := parseDirID(id.String())
		if err != nil || got != id {
			t.Fatalf("%s parsed as %s, %v", id, got, err)
		}
	}
	var reserved DirID
	reserved[15] = 1 // Kafka's DirectoryId.LOST
	for _, s := range []string{"", "AAAA", reserved.String(), fmt.Sprintf("%s==", newDirID())} {
		if _, err := parseDirID(s); err == nil {
			t.Fatalf("%q parsed as a directory id", s)
		}
	}
}

// A crash while meta.properties is written leaves the old file or the new one: the directory
// keeps one id.
func TestMetaPropertiesCrash(t *testing.T) {
	fs := vfs.NewMemFS()
	id, err := ensureMetaProperties(fs, "/d", 1)
	if err == nil {
		t.Fatalf("wrote meta.properties %s into a missing directory", id)
	}
	if err := fs.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if id, err = ensureMetaProperties(fs, "/d", 1); err != nil {
		t.Fatal(err)
	}
	fs.Crash(nil)
	again, err := ensureMetaProperties(fs, "/d", 1)
	if err != nil || again != id {
		t.Fatalf("after a crash: id %s, %v; want %s", again, err, id)
	}
}

// TestLogDirsDirectoryFailsAtStart starts with one directory that cannot be opened (an I/O
// error: its parent is a file): it starts offline and the other serves its partitions, a
// partition found in no directory is not created (it may be in the failed one), and a start
// where every directory fails is refused.
func TestLogDirsDirectoryFailsAtStart(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	d := openDirs(t, -1, a)
	tp := TopicPartition{Topic: "t", Partition: 0}
	l, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(2, 10, 1))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "b")
	d = openDirs(t, -1, a, bad)
	defer d.Close()
	if n := d.OfflineCount(); n != 1 {
		t.Fatalf("%d offline directories, want 1", n)
	}
	if err := d.Dirs()[1].Engine.Offline(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("the failed directory's error: %v", err)
	}
	if l, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{}); err != nil || l.LogEndOffset() != 2 {
		t.Fatalf("partition of the healthy directory: %v", err)
	}
	if _, err := d.OpenLogWith(TopicPartition{Topic: "new", Partition: 0}, DefaultLogConfig, OpenOptions{Create: true}); !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("a partition in no online directory: %v, want ErrLogDirOffline", err)
	}
	if _, err := OpenLogDirs(LogDirsConfig{Dirs: []string{bad}, NodeID: 3, WatchInterval: -1,
		Engine: Config{RetentionCheckInterval: -1}}); err == nil || !strings.Contains(err.Error(), "every log directory failed") {
		t.Fatalf("every directory failed: %v", err)
	}
}

// TestSetClusterID: cluster.id joins Kafka's other v1 keys in every directory's
// meta.properties, once; a directory naming another cluster goes offline while the others
// keep serving; the ids survive a restart.
func TestSetClusterID(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, -1, a, b)
	if err := d.SetClusterID("Zm9vYmFyYmF6cXV4MTIzNA"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, dir := range []string{a, b} {
		m := readMeta(t, dir)
		if m["cluster.id"] != "Zm9vYmFyYmF6cXV4MTIzNA" || m["version"] != "1" || m["node.id"] != "3" || m["directory.id"] == "" {
			t.Fatalf("%s meta.properties: %v", dir, m)
		}
		ids[dir] = m["directory.id"]
	}
	if err := d.SetClusterID("Zm9vYmFyYmF6cXV4MTIzNA"); err != nil {
		t.Fatalf("the same cluster id again: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// b now claims another cluster: it goes offline, a stays online.
	data, err := os.ReadFile(filepath.Join(b, metaPropertiesFile))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "cluster.id=Zm9vYmFyYmF6cXV4MTIzNA", "cluster.id=b3RoZXJjbHVzdGVyMTIzNA", 1))
	if err := os.WriteFile(filepath.Join(b, metaPropertiesFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d = openDirs(t, -1, a, b)
	defer d.Close()
	err = d.SetClusterID("Zm9vYmFyYmF6cXV4MTIzNA")
	if err == nil || !strings.Contains(err.Error(), "another cluster") || !strings.Contains(err.Error(), b) {
		t.Fatalf("a directory of another cluster: %v", err)
	}
	if d.Dirs()[0].Engine.Offline() != nil || d.Dirs()[1].Engine.Offline() == nil {
		t.Fatalf("offline: a %v, b %v; want only b", d.Dirs()[0].Engine.Offline(), d.Dirs()[1].Engine.Offline())
	}
	for i, dir := range []string{a, b} {
		if got := d.Dirs()[i].ID.String(); got != ids[dir] {
			t.Fatalf("%s: directory id %s after restart, was %s", dir, got, ids[dir])
		}
	}
}
