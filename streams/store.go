package streams

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Local key space of a store's pebble database. Data and metadata never collide.
const (
	dataPrefix = 'd' // 'd' ‖ key (windowed: 'd' ‖ start (8 bytes BE) ‖ key)
	metaPrefix = 'm' // 'm' ‖ name
)

var (
	metaCheckpoint = []byte("mcheckpoint") // next changelog offset to restore from (8 bytes BE)
	metaStreamTime = []byte("mstreamtime") // the store's stream time, windowed stores (8 bytes BE)
)

// kvStore is one state store of one task: a pebble database under
// <StateDir>/<application>/<task>/<store>, and the changelog partition with the task's
// number. Writes go to an indexed batch (reads see them) and to the changelog; the batch
// is applied, with the new checkpoint, only once the commit that covers them succeeded
// (offsets committed, or the transaction committed), and dropped otherwise: the local
// database never holds a write the changelog may lose.
type kvStore struct {
	spec       storeSpec
	changelog  string
	partition  int32
	db         *pebble.DB
	batch      *pebble.Batch // uncommitted writes, nil until the first
	pending    atomic.Int64  // changelog offset after the last acknowledged write of batch, -1 if none (set by produce promises)
	streamTime int64         // windowed stores: largest timestamp processed, math.MinInt64 if none
	committed  int64         // streamTime as of the last apply
}

// openStore opens (creating) the store's database and restores it from its changelog:
// from the checkpoint if the database has one, else from the start.
func openStore(ctx context.Context, a *App, spec storeSpec, partition int32) (*kvStore, error) {
	dir := filepath.Join(a.cfg.StateDir, a.cfg.ApplicationID, strconv.Itoa(int(partition)), spec.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("streams: state directory: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Cache: a.cache, Logger: quietPebble{}})
	if err != nil {
		return nil, fmt.Errorf("streams: opening store %s of task %d: %w", spec.name, partition, err)
	}
	s := &kvStore{spec: spec, changelog: a.changelogTopic(spec.name), partition: partition, db: db, streamTime: math.MinInt64}
	if v, ok, err := s.meta(metaStreamTime); err != nil {
		db.Close()
		return nil, err
	} else if ok {
		s.streamTime = v
	}
	if err := s.restore(ctx, a); err != nil {
		db.Close()
		return nil, err
	}
	s.committed = s.streamTime
	s.pending.Store(-1)
	return s, nil
}

// meta reads an 8-byte metadata value.
func (s *kvStore) meta(key []byte) (int64, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("streams: reading store %s: %w", s.spec.name, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("streams: store %s: metadata %q is %d bytes, want 8", s.spec.name, key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// RestoreProgress reports a store being restored from its changelog.
type RestoreProgress struct {
	Store     string
	Partition int32
	Restored  int64 // records applied so far
	Total     int64 // changelog offsets to cover (an upper bound on the records)
	Done      bool
}

// restoreQuiet is how long an empty poll may last before a restore that has not reached
// the end offset concludes that only control records (transaction markers) remain.
const restoreQuiet = 2 * time.Second

// restore applies the changelog from the checkpoint (or the start) to its end offset.
func (s *kvStore) restore(ctx context.Context, a *App) error {
	from, ok, err := s.meta(metaCheckpoint)
	if err != nil {
		return err
	}
	if !ok {
		from = 0
	}
	adm := kadm.NewClient(a.admin)
	var ends kadm.ListedOffsets
	if a.cfg.ProcessingGuarantee == ExactlyOnceV2 {
		ends, err = adm.ListCommittedOffsets(ctx, s.changelog)
	} else {
		ends, err = adm.ListEndOffsets(ctx, s.changelog)
	}
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("streams: end offset of %s: %w", s.changelog, err)
	}
	end, found := ends.Lookup(s.changelog, s.partition)
	if !found {
		return fmt.Errorf("streams: changelog %s has no partition %d", s.changelog, s.partition)
	}
	report := func(restored int64, done bool) {
		p := RestoreProgress{Store: s.spec.name, Partition: s.partition, Restored: restored, Total: max(0, end.Offset-from), Done: done}
		if a.cfg.OnRestore != nil {
			a.cfg.OnRestore(p)
		}
	}
	if from >= end.Offset {
		report(0, true)
		return nil
	}
	a.log.Info("restoring store", "store", s.spec.name, "partition", s.partition, "from", from, "to", end.Offset)
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.changelog: {s.partition: kgo.NewOffset().At(from)}}),
	}
	if a.cfg.ProcessingGuarantee == ExactlyOnceV2 {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(append(opts, a.cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	next, restored, quiet := from, int64(0), time.Duration(0)
	b := s.db.NewBatch()
	for next < end.Offset {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			b.Close()
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				b.Close()
				return fmt.Errorf("streams: restoring %s partition %d: %w", s.changelog, s.partition, fe.Err)
			}
		}
		if fs.NumRecords() == 0 {
			if quiet += 500 * time.Millisecond; quiet >= restoreQuiet {
				break
			}
			continue
		}
		quiet = 0
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			if err != nil || r.Offset >= end.Offset {
				return
			}
			next = r.Offset + 1
			restored++
			s.streamTime = max(s.streamTime, r.Timestamp.UnixMilli())
			lk, kerr := s.localKey(r.Key)
			if kerr != nil {
				err = kerr
				return
			}
			if r.Value == nil {
				err = b.Delete(lk, nil)
			} else {
				err = b.Set(lk, r.Value, nil)
			}
		})
		if err == nil && b.Len() > 1<<20 {
			err = s.commitRestoreBatch(b, next)
			b = s.db.NewBatch()
		}
		if err != nil {
			b.Close()
			return fmt.Errorf("streams: restoring store %s: %w", s.spec.name, err)
		}
		report(restored, false)
	}
	if err := s.commitRestoreBatch(b, end.Offset); err != nil {
		return err
	}
	a.metrics.RestoredRecords.Add(restored)
	a.log.Info("restored store", "store", s.spec.name, "partition", s.partition, "records", restored)
	report(restored, true)
	return nil
}

// commitRestoreBatch applies a restore batch with the checkpoint it reaches.
func (s *kvStore) commitRestoreBatch(b *pebble.Batch, checkpoint int64) error {
	b.Set(metaCheckpoint, binary.BigEndian.AppendUint64(nil, uint64(checkpoint)), nil)
	if s.spec.windowed {
		b.Set(metaStreamTime, binary.BigEndian.AppendUint64(nil, uint64(s.streamTime)), nil)
	}
	return b.Commit(pebble.NoSync)
}

// localKey maps a changelog key to the database key.
func (s *kvStore) localKey(changelogKey []byte) ([]byte, error) {
	if !s.spec.windowed {
		return append([]byte{dataPrefix}, changelogKey...), nil
	}
	k, start, err := splitWindowKey(changelogKey)
	if err != nil {
		return nil, err
	}
	return append([]byte{dataPrefix}, windowStoreKey(start, k)...), nil
}

// windowStoreKey is the store key of a window: start ‖ key, so that windows sort by start
// and closing them is one range scan.
func windowStoreKey(start int64, key []byte) []byte {
	out := make([]byte, 0, 8+len(key))
	out = binary.BigEndian.AppendUint64(out, uint64(start))
	return append(out, key...)
}

// changelogKey maps a store key (a database key without the data prefix) to the
// changelog key.
func (s *kvStore) changelogKey(lk []byte) []byte {
	if !s.spec.windowed {
		return lk
	}
	start := int64(binary.BigEndian.Uint64(lk[:8]))
	return windowKey(lk[8:], start)
}

// get returns the value of key, uncommitted writes included.
func (s *kvStore) get(key []byte) ([]byte, bool, error) {
	var (
		v      []byte
		closer interface{ Close() error }
		err    error
	)
	dk := append([]byte{dataPrefix}, key...)
	if s.batch != nil {
		v, closer, err = s.batch.Get(dk)
	} else {
		v, closer, err = s.db.Get(dk)
	}
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("streams: reading store %s: %w", s.spec.name, err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

// put writes key (without the data prefix) locally and to the changelog.
func (s *kvStore) put(c *recordContext, key, value []byte) error {
	return s.write(c, key, value)
}

// delete removes key locally and writes a tombstone to the changelog.
func (s *kvStore) delete(c *recordContext, key []byte) error {
	return s.write(c, key, nil)
}

func (s *kvStore) write(c *recordContext, key, value []byte) error {
	if s.batch == nil {
		s.batch = s.db.NewIndexedBatch()
	}
	dk := append([]byte{dataPrefix}, key...)
	var err error
	if value == nil {
		err = s.batch.Delete(dk, nil)
	} else {
		err = s.batch.Set(dk, value, nil)
	}
	if err != nil {
		return fmt.Errorf("streams: writing store %s: %w", s.spec.name, err)
	}
	c.t.sendChangelog(s, s.changelogKey(key), value, c.ts)
	return nil
}

// closeWindows deletes every window starting at or before last, oldest first, calling
// emit with each one's start, key and value before it goes.
func (s *kvStore) closeWindows(c *recordContext, last int64, emit func(start int64, key, value []byte) error) error {
	if last < 0 {
		return nil
	}
	if s.batch == nil {
		s.batch = s.db.NewIndexedBatch()
	}
	it, err := s.batch.NewIter(&pebble.IterOptions{
		LowerBound: []byte{dataPrefix},
		UpperBound: append([]byte{dataPrefix}, windowStoreKey(last+1, nil)...),
	})
	if err != nil {
		return fmt.Errorf("streams: scanning store %s: %w", s.spec.name, err)
	}
	type closed struct {
		lk, v []byte
	}
	var done []closed
	for it.First(); it.Valid(); it.Next() {
		done = append(done, closed{append([]byte(nil), it.Key()[1:]...), append([]byte(nil), it.Value()...)})
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("streams: scanning store %s: %w", s.spec.name, err)
	}
	for _, w := range done {
		start := int64(binary.BigEndian.Uint64(w.lk[:8]))
		if err := emit(start, w.lk[8:], w.v); err != nil {
			return err
		}
		if err := s.delete(c, w.lk); err != nil {
			return err
		}
	}
	return nil
}

// apply makes the uncommitted writes local, with the checkpoint after them.
func (s *kvStore) apply() error {
	if s.batch == nil {
		return nil
	}
	b := s.batch
	s.batch = nil
	if p := s.pending.Swap(-1); p >= 0 {
		b.Set(metaCheckpoint, binary.BigEndian.AppendUint64(nil, uint64(p)), nil)
	}
	if s.spec.windowed {
		b.Set(metaStreamTime, binary.BigEndian.AppendUint64(nil, uint64(s.streamTime)), nil)
	}
	s.committed = s.streamTime
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("streams: applying store %s: %w", s.spec.name, err)
	}
	return b.Close()
}

// discard drops the uncommitted writes (their transaction aborted).
func (s *kvStore) discard() {
	if s.batch != nil {
		s.batch.Close()
		s.batch = nil
	}
	s.pending.Store(-1)
	s.streamTime = s.committed
}

// close discards uncommitted writes and closes the database.
func (s *kvStore) close() error {
	s.discard()
	return s.db.Close()
}

// quietPebble drops pebble's informational logs and keeps its errors on stderr. pebble
// calls Fatalf only on unrecoverable corruption and relies on it not returning, as its
// own default logger (log.Fatalf) does.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any) {}
func (quietPebble) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietPebble) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
	os.Exit(1)
}
