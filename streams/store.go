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
	dataPrefix  = 'd' // 'd' ‖ store key: the key, start ‖ key (windowStoreKey), or the keyed layout (keyedTimeKey)
	indexPrefix = 'i' // keyed layouts: 'i' ‖ first time (8 bytes, ordered) ‖ store key, empty value
	metaPrefix  = 'm' // 'm' ‖ name
)

var (
	metaCheckpoint = []byte("mcheckpoint") // next changelog offset to restore from (8 bytes BE)
	metaStreamTime = []byte("mstreamtime") // the store's stream time, windowed stores (8 bytes BE)
	metaSeqnum     = []byte("mseqnum")     // the last seqnum given, stores retaining duplicates (8 bytes BE)
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
	seq        uint32        // stores retaining duplicates: the last seqnum given (see putDup)
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
	if v, ok, err := s.meta(metaSeqnum); err != nil {
		db.Close()
		return nil, err
	} else if ok {
		s.seq = uint32(v)
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
			err = s.applyChangelog(b, r)
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

// applyChangelog adds a changelog record to b (a restore or standby batch).
func (s *kvStore) applyChangelog(b *pebble.Batch, r *kgo.Record) error {
	s.streamTime = max(s.streamTime, r.Timestamp.UnixMilli())
	sk, err := s.localKey(r.Key)
	if err != nil {
		return err
	}
	if s.spec.dups {
		s.seq = binary.BigEndian.Uint32(sk[len(sk)-4:]) // seqnums grow: the last record has the latest
	}
	return s.setLocal(b, sk, r.Value)
}

// commitRestoreBatch applies a restore batch with the checkpoint it reaches.
func (s *kvStore) commitRestoreBatch(b *pebble.Batch, checkpoint int64) error {
	b.Set(metaCheckpoint, binary.BigEndian.AppendUint64(nil, uint64(checkpoint)), nil)
	s.seal(b)
	return b.Commit(pebble.NoSync)
}

// seal adds the stream time and seqnum of windowed stores to b and, in a time window
// store, drops the windows that expired by stream time (start + retention ≤ stream
// time): one range deletion, the way Kafka's segmented stores drop a whole segment.
func (s *kvStore) seal(b *pebble.Batch) {
	if s.spec.kind.windowed() {
		b.Set(metaStreamTime, binary.BigEndian.AppendUint64(nil, uint64(s.streamTime)), nil)
	}
	if s.spec.kind == timeWindowStore && s.streamTime > math.MinInt64+s.spec.retention {
		b.DeleteRange([]byte{dataPrefix}, append([]byte{dataPrefix}, windowStoreKey(s.streamTime-s.spec.retention+1, nil)...), nil)
	}
	if s.spec.dups {
		b.Set(metaSeqnum, binary.BigEndian.AppendUint64(nil, uint64(s.seq)), nil)
	}
}

// localKey maps a changelog key to the store key (the database key without its prefix).
func (s *kvStore) localKey(changelogKey []byte) ([]byte, error) {
	switch s.spec.kind {
	case timeWindowStore:
		k, start, _, err := splitWindowChangelogKey(changelogKey)
		if err != nil {
			return nil, err
		}
		return windowStoreKey(start, k), nil
	case keyedWindowStore:
		k, start, seq, err := splitWindowChangelogKey(changelogKey)
		if err != nil {
			return nil, err
		}
		if s.spec.dups {
			return binary.BigEndian.AppendUint32(keyedTimeKey(k, start), seq), nil
		}
		return keyedTimeKey(k, start), nil
	case sessionStore:
		k, end, start, err := splitSessionKey(changelogKey)
		if err != nil {
			return nil, err
		}
		return keyedTimeKey(k, end, start), nil
	}
	return changelogKey, nil
}

// windowStoreKey is the store key of a window: start (8 bytes, ordered: see orderedTime)
// ‖ key, so that windows sort by start and closing them is one range scan.
func windowStoreKey(start int64, key []byte) []byte {
	out := make([]byte, 0, 8+len(key))
	out = binary.BigEndian.AppendUint64(out, orderedTime(start))
	return append(out, key...)
}

// windowStoreStart is the window start of a store key made by windowStoreKey.
func windowStoreStart(sk []byte) int64 { return int64(binary.BigEndian.Uint64(sk) ^ 1<<63) }

// keyedTimeKey is the store key of sliding windows and sessions:
//
//	len(key) (4 bytes BE) ‖ key ‖ times (8 bytes each, ordered: see orderedTime)
//
// so that one key's windows are one range, sorted by their first time (a sliding
// window's start, a session's end; a session's start follows). Stores retaining
// duplicates (join buffers) add the entry's seqnum (4 bytes BE) after the time. The
// index entry 'i' ‖ first time ‖ store key sorts every key's windows by that time, for
// closing.
func keyedTimeKey(key []byte, times ...int64) []byte {
	out := make([]byte, 0, 4+len(key)+8*len(times))
	out = binary.BigEndian.AppendUint32(out, uint32(len(key)))
	out = append(out, key...)
	for _, t := range times {
		out = binary.BigEndian.AppendUint64(out, orderedTime(t))
	}
	return out
}

// splitKeyedTimeKey undoes keyedTimeKey for n times, ignoring a seqnum after them.
func splitKeyedTimeKey(sk []byte, n int) (key []byte, times []int64, err error) {
	if len(sk) < 4 || uint64(len(sk)) != 4+uint64(binary.BigEndian.Uint32(sk))+8*uint64(n) &&
		uint64(len(sk)) != 4+uint64(binary.BigEndian.Uint32(sk))+8*uint64(n)+4 {
		return nil, nil, fmt.Errorf("streams: a keyed store key of %d bytes does not hold a key and %d times", len(sk), n)
	}
	kl := int(binary.BigEndian.Uint32(sk))
	for i := range n {
		times = append(times, int64(binary.BigEndian.Uint64(sk[4+kl+8*i:])^1<<63))
	}
	return sk[4 : 4+kl], times, nil
}

// orderedTime maps a timestamp to 8 bytes that sort as the timestamps do, negative
// ones included (the sign bit flipped).
func orderedTime(t int64) uint64 { return uint64(t) ^ 1<<63 }

// changelogKey maps a store key (a database key without the data prefix) to the
// changelog key.
func (s *kvStore) changelogKey(lk []byte) []byte {
	switch s.spec.kind {
	case timeWindowStore:
		return windowChangelogKey(lk[8:], windowStoreStart(lk), 0)
	case keyedWindowStore:
		k, times, _ := splitKeyedTimeKey(lk, 1) // lk was made by keyedTimeKey
		var seq uint32
		if s.spec.dups {
			seq = binary.BigEndian.Uint32(lk[len(lk)-4:])
		}
		return windowChangelogKey(k, times[0], seq)
	case sessionStore:
		k, times, _ := splitKeyedTimeKey(lk, 2)
		return sessionKey(k, times[0], times[1])
	}
	return lk
}

// setLocal writes (or, value nil, deletes) store key sk into b, with its index entry
// in the keyed layouts.
func (s *kvStore) setLocal(b *pebble.Batch, sk, value []byte) error {
	dk := append([]byte{dataPrefix}, sk...)
	var ik []byte
	if s.spec.kind.keyed() {
		kl := int(binary.BigEndian.Uint32(sk))
		ik = append(append([]byte{indexPrefix}, sk[4+kl:4+kl+8]...), sk...)
	}
	if value == nil {
		if err := b.Delete(dk, nil); err != nil || ik == nil {
			return err
		}
		return b.Delete(ik, nil)
	}
	if err := b.Set(dk, value, nil); err != nil || ik == nil {
		return err
	}
	return b.Set(ik, nil, nil)
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

// putDup adds value under sk ‖ the next seqnum, so that a store retaining duplicates
// (Kafka's join buffers) keeps every value written under one key and time.
func (s *kvStore) putDup(c *recordContext, sk, value []byte) error {
	s.seq = (s.seq + 1) & 0x7FFFFFFF // Kafka's ChangeLoggingWindowBytesStore.maybeUpdateSeqnumForDups
	return s.write(c, binary.BigEndian.AppendUint32(sk, s.seq), value)
}

// delete removes key locally and writes a tombstone to the changelog.
func (s *kvStore) delete(c *recordContext, key []byte) error {
	return s.write(c, key, nil)
}

// write puts (value nil: deletes) key locally and sends it to the changelog.
func (s *kvStore) write(c *recordContext, key, value []byte) error {
	if s.batch == nil {
		s.batch = s.db.NewIndexedBatch()
	}
	if err := s.setLocal(s.batch, key, value); err != nil {
		return fmt.Errorf("streams: writing store %s: %w", s.spec.name, err)
	}
	c.t.sendChangelog(s, s.changelogKey(key), value, c.ts)
	return nil
}

// closedWindows calls emit with the start, key and value of every window starting in
// (from, to], oldest first, uncommitted writes included.
func (s *kvStore) closedWindows(from, to int64, emit func(start int64, key, value []byte) error) error {
	if from >= to {
		return nil
	}
	lower := []byte{dataPrefix}
	if from != math.MinInt64 {
		lower = append(lower, windowStoreKey(from+1, nil)...)
	}
	done, err := s.scan(lower, append([]byte{dataPrefix}, windowStoreKey(to+1, nil)...), false)
	if err != nil {
		return err
	}
	for _, w := range done {
		if err := emit(windowStoreStart(w.sk), w.sk[8:], w.value); err != nil {
			return err
		}
	}
	return nil
}

// keyedEntry is one window of a keyed layout: its store key and value.
type keyedEntry struct {
	sk, value []byte
}

// fetchKeyed returns key's windows whose first time is in [from, to], in order of it,
// uncommitted writes included.
func (s *kvStore) fetchKeyed(key []byte, from, to int64) ([]keyedEntry, error) {
	return s.scan(append([]byte{dataPrefix}, keyedTimeKey(key, from)...),
		append([]byte{dataPrefix}, keyedTimeKey(key, to+1)...), false)
}

// expireKeyed calls emit (unless nil) with the store key and value of every window of
// a keyed layout whose first time is in (from, to], oldest first, then deletes every
// window whose first time is at or before drop.
func (s *kvStore) expireKeyed(c *recordContext, from, to, drop int64, emit func(sk, value []byte) error) error {
	bound := func(t int64) []byte { return binary.BigEndian.AppendUint64([]byte{indexPrefix}, orderedTime(t)) }
	if emit != nil && from < to {
		ws, err := s.scan(bound(from+1), bound(to+1), true)
		if err != nil {
			return err
		}
		for _, w := range ws {
			if err := emit(w.sk, w.value); err != nil {
				return err
			}
		}
	}
	gone, err := s.scan([]byte{indexPrefix}, bound(drop+1), true)
	if err != nil {
		return err
	}
	for _, w := range gone {
		if err := s.delete(c, w.sk); err != nil {
			return err
		}
	}
	return nil
}

// scan returns the entries of the database keys in [lower, upper), uncommitted writes
// included. Through an index (index true), each entry is the store key the index
// entry names and its value.
func (s *kvStore) scan(lower, upper []byte, index bool) ([]keyedEntry, error) {
	if s.batch == nil {
		s.batch = s.db.NewIndexedBatch()
	}
	out, err := s.iterate(s.batch, lower, upper)
	if err != nil || !index {
		return out, err
	}
	for i, e := range out {
		sk := e.sk[8:] // the index key less its prefix is time ‖ store key
		v, found, err := s.get(sk)
		if err == nil && !found {
			err = fmt.Errorf("streams: store %s: an index entry without its window", s.spec.name)
		}
		if err != nil {
			return nil, err
		}
		out[i] = keyedEntry{sk, v}
	}
	return out, nil
}

// iterate returns the entries of r in [lower, upper), keys less their prefix byte.
func (s *kvStore) iterate(r pebble.Reader, lower, upper []byte) ([]keyedEntry, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("streams: scanning store %s: %w", s.spec.name, err)
	}
	var out []keyedEntry
	for it.First(); it.Valid(); it.Next() {
		out = append(out, keyedEntry{append([]byte(nil), it.Key()[1:]...), append([]byte(nil), it.Value()...)})
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("streams: scanning store %s: %w", s.spec.name, err)
	}
	return out, nil
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
	s.seal(b)
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
