//go:build compat

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/internal/testcluster"
)

// The test driver: the smallest loop that runs a task against the contract the way the
// runtime does (poll, produce, wait for the acknowledgements, store the offset, Commit), with
// offsets kept as JSON the way the offsets topic keeps them. It is not a runtime: one task,
// no converters beyond jsonconv_test.go, no REST.

// runSource starts a source task and runs it until ctx is done; it returns the first error.
// Stopping through ctx is a crash as far as the task knows: records polled but not yet
// acknowledged are never committed.
func runSource(ctx context.Context, cl *kgo.Client, config map[string]string, store *offsetStore) error {
	task := &SourceTask{}
	if err := task.Start(store, config); err != nil {
		return err
	}
	defer task.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		recs, err := task.Poll(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		krs := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			krs[i] = &kgo.Record{Topic: r.Topic, Key: encodeJSON(r.KeySchema, r.Key), Value: encodeJSON(r.ValueSchema, r.Value), Timestamp: r.Timestamp}
		}
		for _, res := range cl.ProduceSync(ctx, krs...) {
			if ctx.Err() != nil {
				return nil
			}
			if res.Err != nil {
				return fmt.Errorf("producing to %s: %w", res.Record.Topic, res.Err)
			}
		}
		last := recs[len(recs)-1]
		store.put(last.SourcePartition, last.SourceOffset)
		stored, _ := store.Offset(last.SourcePartition)
		if err := task.Commit(map[string]map[string]any{last.SourcePartition["server"].(string): stored}); err != nil {
			return err
		}
	}
	return nil
}

// runSink starts a sink task consuming the topics matching topicRegex from the start and
// runs it until ctx is done, flushing after every fetch.
func runSink(ctx context.Context, brokers []string, topicRegex string, config map[string]string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeRegex(), kgo.ConsumeTopics(topicRegex),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(500*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	task := &SinkTask{}
	if err := task.Start(nil, config); err != nil {
		return err
	}
	defer task.Stop()
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(fctx)
		cancel()
		var recs []connect.SinkRecord
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			// Retriable errors (a topic just auto-created, a leader moving) clear up by themselves.
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !kerr.IsRetriable(err) {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if err != nil {
				return
			}
			sr := connect.SinkRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
			if sr.KeySchema, sr.Key, err = decodeJSON(r.Key); err != nil {
				return
			}
			sr.ValueSchema, sr.Value, err = decodeJSON(r.Value)
			recs = append(recs, sr)
		})
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		if err := retry(ctx, func() error { return task.Put(recs) }); err != nil {
			return err
		}
		if err := retry(ctx, func() error { return task.Flush(nil) }); err != nil {
			return err
		}
	}
	return nil
}

// retry calls f until it succeeds, fails without connect.ErrRetriable, or ctx is done, waiting
// a little between attempts as the runtime does.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || !errors.Is(err, connect.ErrRetriable) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// One `logd serve` per package test run, started on first use.
var (
	brokers   []string
	brokerErr error
	startOnce atomic.Bool
	cluster   *testcluster.Cluster // the shared `logd serve`, once started
)

// needBroker returns the addresses of the shared `logd serve`, building and starting it once.
func needBroker(t *testing.T) []string {
	t.Helper()
	if !startOnce.Swap(true) {
		brokerErr = startBroker()
	}
	if brokerErr != nil {
		t.Fatal(brokerErr)
	}
	return brokers
}

func startBroker() error {
	bin := filepath.Join(tmpDir, "logd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/logd").CombinedOutput(); err != nil {
		return fmt.Errorf("building logd: %v\n%s", err, out)
	}
	// The processes live as long as the context given to Start (Start bounds its own wait).
	c, err := testcluster.Start(context.Background(), testcluster.Config{Binary: bin, Nodes: 1, Dir: tmpDir, Log: brokerLog()})
	if err != nil {
		return fmt.Errorf("starting logd: %w", err)
	}
	brokers, cluster = c.Bootstrap(), c
	cleanups = append(cleanups, func() { c.Close() })
	return nil
}

// brokerPid is the shared broker's process id (0 if it is not running).
func brokerPid() int {
	if cluster == nil {
		return 0
	}
	return cluster.Node(1).Pid()
}

// newClient returns a franz-go client of the shared broker closed at the end of the test.
func newClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(needBroker(t)...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// brokerLog is where the broker's output goes: $CONNECTPG_BROKER_LOG when set, else nowhere.
func brokerLog() io.Writer {
	if p := os.Getenv("CONNECTPG_BROKER_LOG"); p != "" {
		if f, err := os.Create(p); err == nil {
			return f
		}
	}
	return io.Discard
}
