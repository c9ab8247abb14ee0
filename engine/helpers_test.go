package engine

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer captures the engine's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testEnv struct {
	t     testing.TB
	fs    vfs.FS
	dir   string
	clock *testClock
	logs  *logBuffer
	e     *Engine
}

func newTestEnv(t testing.TB, fs vfs.FS, dir string) *testEnv {
	env := &testEnv{t: t, fs: fs, dir: dir, clock: newTestClock(), logs: &logBuffer{}}
	env.open()
	return env
}

func (env *testEnv) open() {
	env.t.Helper()
	e, err := Open(Config{
		Dir: env.dir, FS: env.fs, Now: env.clock.Now, RetentionCheckInterval: -1,
		Logger: slog.New(slog.NewTextHandler(env.logs, nil)),
	})
	if err != nil {
		env.t.Fatal(err)
	}
	env.e = e
}

func (env *testEnv) close() {
	env.t.Helper()
	if err := env.e.Close(); err != nil {
		env.t.Fatal(err)
	}
}

func (env *testEnv) reopen() {
	env.close()
	env.open()
}

func (env *testEnv) log(tp TopicPartition, cfg LogConfig) *Log {
	env.t.Helper()
	l, err := env.e.OpenLog(tp, cfg, true)
	if err != nil {
		env.t.Fatal(err)
	}
	return l
}

// batch builds a batch of n records with values of size bytes and timestamps from ts.
func batch(n, size int, ts int64) []byte {
	return testbatch.Build(testbatch.Options{Records: n, ValueSize: size, BaseTimestamp: ts, TimestampStep: 1})
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readAll returns the headers of every batch from offset to upTo.
func readAll(t testing.TB, l *Log, offset, upTo int64) []segment.Header {
	t.Helper()
	var out []segment.Header
	for offset < upTo {
		r, err := l.Read(offset, 1<<20, upTo)
		if err != nil {
			t.Fatal(err)
		}
		if r.Len == 0 {
			r.Release()
			break
		}
		buf := make([]byte, r.Len)
		if _, err := r.File.ReadAt(buf, r.Pos); err != nil {
			t.Fatal(err)
		}
		r.Release()
		for p := 0; p < len(buf); {
			h, err := segment.ValidateBatch(buf[p:])
			if err != nil {
				t.Fatalf("read at %d: batch at byte %d: %v", offset, p, err)
			}
			out = append(out, h)
			p += h.Size()
			offset = h.NextOffset()
		}
	}
	return out
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
