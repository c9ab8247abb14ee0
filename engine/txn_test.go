package engine

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logd/logd/index"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// txnBatch is a transactional batch of n keyed records from producer pid at sequence seq.
func txnBatch(pid int64, seq int32, ts int64, recs ...kv) []byte {
	return transactional(keyedBatch(segment.CompressionNone, ts, producerOpts{id: pid, seq: seq}, recs...))
}

// transactional sets batch b's transactional attribute, in place, and returns it.
func transactional(b []byte) []byte {
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|segment.AttrTransactional)
	binary.BigEndian.PutUint32(b[17:], segment.CRC(b))
	return b
}

func mustMarker(t *testing.T, l *Log, pid int64, commit bool) int64 {
	t.Helper()
	res, err := l.AppendTxnMarker(TxnMarker{ProducerID: pid, Commit: commit}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res.BaseOffset
}

func readTxnIndex(t *testing.T, fs vfs.FS, dir string, base int64) []AbortedTxn {
	t.Helper()
	data, err := vfs.ReadFile(fs, filepath.Join(dir, segment.FileName(base, segment.TxnIndexSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := index.ParseTxnIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

func TestTxnLastStableOffsetAndAbortedIndex(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, DefaultLogConfig)
	mustAppend(t, l, batch(1, 10, 1))                                       // 0
	mustAppend(t, l, txnBatch(1, 0, 2, kv{"a", []byte("1")}, kv{"b", nil})) // 1-2
	mustAppend(t, l, txnBatch(2, 0, 3, kv{"c", []byte("2")}))               // 3
	if got := l.LastStableOffset(); got != 1 {
		t.Fatalf("LSO with two open transactions = %d, want 1", got)
	}
	if _, err := l.Append(keyedBatch(segment.CompressionNone, 4, producerOpts{id: 1, seq: 2}, kv{"x", nil}), AppendOptions{}); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch inside the transaction: %v", err)
	}
	if abort := mustMarker(t, l, 1, false); abort != 4 {
		t.Fatalf("abort marker at %d, want 4", abort)
	}
	if got := l.LastStableOffset(); got != 3 {
		t.Fatalf("LSO after the abort = %d, want 3", got)
	}
	want := AbortedTxn{ProducerID: 1, FirstOffset: 1, LastOffset: 4, LastStableOffset: 3}
	if got := l.AbortedTxns(0, 10); len(got) != 1 || got[0] != want {
		t.Fatalf("AbortedTxns = %+v, want %+v", got, want)
	}
	if got := l.AbortedTxns(5, 10); len(got) != 0 {
		t.Fatalf("AbortedTxns after the marker = %+v", got)
	}
	mustMarker(t, l, 2, true) // 5
	if got := l.LastStableOffset(); got != 6 || got != l.HighWatermark() {
		t.Fatalf("LSO with no open transaction = %d, want the high watermark 6", got)
	}
	if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: 2, ProducerEpoch: -1}, 0); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("marker with a negative epoch: %v", err)
	}
	mustAppend(t, l, txnBatch(3, 0, 5, kv{"d", []byte("3")})) // 6: open across the restart
	if got := readTxnIndex(t, fs, "/data/events-0", 0); len(got) != 1 || got[0] != want {
		t.Fatalf(".txnindex = %+v", got)
	}
	env.reopen()
	l = env.log(tp0, DefaultLogConfig)
	if got := l.LastStableOffset(); got != 6 {
		t.Fatalf("LSO after a clean restart = %d, want 6 (producer 3's open transaction)", got)
	}
	if got := l.AbortedTxns(0, 10); len(got) != 1 || got[0] != want {
		t.Fatalf("AbortedTxns after a restart = %+v", got)
	}
	// A marker of an older epoch is refused once the producer moved on.
	if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: 3, ProducerEpoch: 1, Commit: false}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: 3, ProducerEpoch: 0, Commit: true}, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker of a fenced epoch: %v", err)
	}
}

// TestTxnCrashRecovery crashes the filesystem (only synced data survives) with transactions
// open and aborted across segment rolls, and checks the last stable offset and the aborted
// transactions after recovery.
func TestTxnCrashRecovery(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 300
	l := env.log(tp0, cfg)
	var wantAborted []AbortedTxn
	seqs := map[int64]int32{}
	open := map[int64]int64{} // producer -> first offset
	for i := 0; i < 60; i++ {
		pid := int64(1 + rng.Intn(4))
		if first, ok := open[pid]; ok && rng.Intn(3) == 0 {
			commit := rng.Intn(2) == 0
			off := mustMarker(t, l, pid, commit)
			if !commit {
				wantAborted = append(wantAborted, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: off})
			}
			delete(open, pid)
			continue
		}
		res := mustAppend(t, l, txnBatch(pid, seqs[pid], int64(i), kv{"k", []byte("v")}))
		seqs[pid]++
		if _, ok := open[pid]; !ok {
			open[pid] = res.BaseOffset
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	wantLSO := l.LogEndOffset()
	for _, first := range open {
		wantLSO = min(wantLSO, first)
	}
	if got := l.LastStableOffset(); got != wantLSO {
		t.Fatalf("LSO before the crash = %d, want %d", got, wantLSO)
	}
	fs.Crash(rng)
	env.open()
	l = env.log(tp0, cfg)
	if got := l.LastStableOffset(); got != wantLSO {
		t.Fatalf("LSO after the crash = %d, want %d", got, wantLSO)
	}
	got := l.AbortedTxns(0, l.LogEndOffset())
	if len(got) != len(wantAborted) {
		t.Fatalf("after the crash %d aborted transactions, want %d: %+v", len(got), len(wantAborted), got)
	}
	for i := range got {
		got[i].LastStableOffset = 0
		if got[i] != wantAborted[i] {
			t.Fatalf("aborted[%d] = %+v, want %+v", i, got[i], wantAborted[i])
		}
	}
}

// TestTxnTruncate: a follower truncating below a marker reopens the transaction it ended and
// forgets its aborted entry, in memory and in the .txnindex.
func TestTxnTruncate(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l, err := env.e.OpenLogWith(tp0, DefaultLogConfig, OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(1, 0, 1, kv{"a", []byte("1")})) // 0
	mustAppend(t, l, batch(1, 10, 2))                         // 1
	abort := mustMarker(t, l, 1, false)                       // 2
	if got := l.LastStableOffset(); got != 0 {
		t.Fatalf("LSO with the marker above the high watermark = %d, want 0", got)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 3 {
		t.Fatalf("LSO once the marker is committed = %d, want 3", got)
	}
	if err := l.TruncateTo(abort); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTxns(0, 10); len(got) != 0 {
		t.Fatalf("aborted transactions after truncating their marker: %+v", got)
	}
	if got := l.LastStableOffset(); got != 0 {
		t.Fatalf("LSO after truncating the marker = %d, want 0", got)
	}
	if _, err := fs.Stat(filepath.Join("/data/events-0", segment.FileName(0, segment.TxnIndexSuffix))); err == nil {
		t.Fatal("the .txnindex of a truncated abort is still there")
	}
}

// TestTxnClean: the cleaner drops aborted data whatever its keys (KAFKA-8351: the aborted
// data and its marker in different segment groups), keeps committed data and the markers,
// keeps the aborted-transaction index of the cleaned segments (KAFKA-13727), and does not
// take a committed record whose key equals a marker's key for a marker (KAFKA-14055).
func TestTxnClean(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, compactConfig(600))
	markerKey := string([]byte{0, 0, 0, 0}) // ABORT's control key
	mustAppend(t, l, txnBatch(1, 0, 1, kv{"a", []byte("aborted")}, kv{markerKey, []byte("aborted")}))
	mustAppend(t, l, txnBatch(2, 0, 2, kv{"b", []byte("committed")}, kv{markerKey, []byte("committed")}))
	for i := 0; i < 6; i++ { // spread across segments
		mustAppend(t, l, keyedBatch(segment.CompressionNone, int64(3+i), producerOpts{}, kv{"filler", []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")}))
	}
	abort := mustMarker(t, l, 1, false)
	mustMarker(t, l, 2, true)
	for i := 0; i < 3; i++ { // the markers leave the active segment
		mustAppend(t, l, keyedBatch(segment.CompressionNone, int64(20+i), producerOpts{}, kv{"z", []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")}))
	}
	if segs := l.segments(); len(segs) < 3 || segs[1].base > abort || segs[1].base <= 2 {
		t.Fatalf("segments at %v: want the aborted data (0-1) and its marker (%d) in different segments", segs, abort)
	}
	if _, err := env.e.Clean(tp0); err != nil {
		t.Fatal(err)
	}
	recs, hs := readRecords(t, l)
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.key+"="+string(r.value)] = true
	}
	if seen["a=aborted"] || seen[markerKey+"=aborted"] {
		t.Fatalf("aborted records survived the clean: %v", seen)
	}
	if !seen["b=committed"] || !seen[markerKey+"=committed"] {
		t.Fatalf("committed records lost by the clean: %v", seen)
	}
	markers := 0
	for _, h := range hs {
		if h.IsControl() {
			markers++
		}
	}
	if markers != 2 {
		t.Fatalf("%d markers after the clean, want 2", markers)
	}
	if got := l.AbortedTxns(0, l.LogEndOffset()); len(got) != 1 || got[0].LastOffset != abort {
		t.Fatalf("aborted transactions after the clean: %+v", got)
	}
	env.reopen()
	l = env.log(tp0, compactConfig(600))
	if got := l.AbortedTxns(0, l.LogEndOffset()); len(got) != 1 || got[0].LastOffset != abort {
		t.Fatalf("aborted transactions after the clean and a restart: %+v", got)
	}

	// KIP-534 for markers: the ABORT marker, whose data is gone now, gets its delete horizon
	// at the next clean and goes with its aborted-transaction entry at the first clean past
	// it; the COMMIT marker stays while its transaction's data does.
	markersAt := func() map[int64]bool {
		_, hs := readRecords(t, l)
		out := map[int64]bool{}
		for _, h := range hs {
			if h.IsControl() {
				out[h.BaseOffset] = h.Attributes&segment.AttrDeleteHorizon != 0
			}
		}
		return out
	}
	// The aborted batch stays empty while it is its producer's last (so its sequence
	// survives, as in Kafka), and so does its marker: the producer writes again first.
	mustAppend(t, l, keyedBatch(segment.CompressionNone, 30, producerOpts{id: 1, seq: 2}, kv{"c", []byte("after")}))
	for i := 0; i < 2; i++ {
		if _, err := env.e.Clean(tp0); err != nil {
			t.Fatal(err)
		}
	}
	if m := markersAt(); len(m) != 2 || !m[abort] || m[abort+1] {
		t.Fatalf("markers after a clean with the aborted data gone (offset: has horizon): %v", m)
	}
	env.clock.Advance(2 * time.Hour) // past delete.retention.ms
	if _, err := env.e.Clean(tp0); err != nil {
		t.Fatal(err)
	}
	if m := markersAt(); len(m) != 1 || m[abort+1] {
		t.Fatalf("markers after the horizon (offset: has horizon): %v, want the COMMIT at %d alone", m, abort+1)
	}
	if got := l.AbortedTxns(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted transactions after their marker went: %+v", got)
	}
	env.reopen()
	l = env.log(tp0, compactConfig(600))
	if got := l.AbortedTxns(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted transactions after their marker went and a restart: %+v", got)
	}
	if recs, _ := readRecords(t, l); !slices.ContainsFunc(recs, func(r storedRecord) bool { return r.key == "b" }) {
		t.Fatal("committed record lost")
	}
}

// txnModelFromLog derives what the transaction state must be from the log's batches alone:
// the last stable offset and the aborted transactions (without their LastStableOffset field).
func txnModelFromLog(t *testing.T, l *Log) (int64, []AbortedTxn) {
	t.Helper()
	open := map[int64]int64{}
	var aborted []AbortedTxn
	for _, h := range readAll(t, l, l.LogStartOffset(), l.LogEndOffset()) {
		switch {
		case h.IsControl():
			r, err := l.Read(h.BaseOffset, int32(h.Size()), h.NextOffset())
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, r.Len)
			r.File.ReadAt(body, r.Pos)
			r.Release()
			m, ok, err := parseMarker(&h, body)
			if err != nil || !ok {
				t.Fatalf("control batch at %d: %v %v", h.BaseOffset, ok, err)
			}
			first, isOpen := open[h.ProducerID]
			if !isOpen {
				first = h.BaseOffset
			}
			if !m.Commit {
				aborted = append(aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset})
			}
			delete(open, h.ProducerID)
		case h.IsTransactional():
			if _, ok := open[h.ProducerID]; !ok {
				open[h.ProducerID] = h.BaseOffset
			}
		}
	}
	lso := l.HighWatermark()
	for _, first := range open {
		lso = min(lso, first)
	}
	return lso, aborted
}

// TestTxnCrashModel appends transactional data, markers and plain batches across segment
// rolls, syncing some, crashes (only synced bytes and directory entries survive, unsynced
// tails torn at random) and reopens, cycle after cycle; after each recovery the last stable
// offset, the aborted transactions and the .txnindex files must be what the surviving log
// says. Seed printed; rerun with -args -seed=N.
func TestTxnCrashModel(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	cfg := DefaultLogConfig
	cfg.SegmentBytes = int64(300 + rng.Intn(700))
	l := env.log(tp0, cfg)
	cycles := 25
	if testing.Short() {
		cycles = 8
	}
	for cycle := 0; cycle < cycles; cycle++ {
		wantLSO, wantAborted := txnModelFromLog(t, l)
		if got := l.LastStableOffset(); got != wantLSO {
			t.Fatalf("cycle %d: LSO %d, the log says %d", cycle, got, wantLSO)
		}
		got := l.AbortedTxns(0, l.LogEndOffset())
		var files []AbortedTxn
		for _, h := range l.segments() {
			if _, err := fs.Stat(filepath.Join("/data/events-0", segment.FileName(h.base, segment.TxnIndexSuffix))); err == nil {
				files = append(files, readTxnIndex(t, fs, "/data/events-0", h.base)...)
			}
		}
		if len(got) != len(wantAborted) || len(files) != len(wantAborted) {
			t.Fatalf("cycle %d: %d aborted in memory, %d in .txnindex files, the log says %d:\n%+v\n%+v\n%+v", cycle, len(got), len(files), len(wantAborted), got, files, wantAborted)
		}
		for i := range got {
			if got[i] != files[i] {
				t.Fatalf("cycle %d: aborted[%d] %+v in memory, %+v in its .txnindex", cycle, i, got[i], files[i])
			}
			got[i].LastStableOffset = 0
			if got[i] != wantAborted[i] {
				t.Fatalf("cycle %d: aborted[%d] = %+v, the log says %+v", cycle, i, got[i], wantAborted[i])
			}
		}
		// Producers of this cycle are fresh (sequences from 0); markers may end any open one.
		seqs := map[int64]int32{}
		open := map[int64]bool{}
		for i, ops := 0, rng.Intn(40); i < ops; i++ {
			switch op := rng.Intn(10); {
			case op < 5:
				pid := int64(1000*(cycle+1) + rng.Intn(3))
				mustAppend(t, l, txnBatch(pid, seqs[pid], int64(i), kv{"k", []byte("v")}))
				seqs[pid]++
				open[pid] = true
			case op < 8 && len(open) > 0:
				for pid := range open {
					mustMarker(t, l, pid, rng.Intn(2) == 0)
					delete(open, pid)
					break
				}
			default:
				res := mustAppend(t, l, batch(1+rng.Intn(3), rng.Intn(100), int64(i)))
				if rng.Intn(2) == 0 {
					if err := l.WaitDurable(res.SyncSeq); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if rng.Intn(4) == 0 {
			env.reopen()
			l = env.log(tp0, cfg)
			continue
		}
		crashed := fs.CrashClone(rng)
		env.e.Close()
		fs = crashed
		env.fs = fs
		env.open()
		l = env.log(tp0, cfg)
	}
	env.close()
}

// TestTxnCoordinatorAppend: a batch a coordinator writes on a producer's behalf
// (AppendOptions.Coordinator, the group coordinator's transactional offset commits) has no
// sequence; its epoch is checked, it opens the producer's transaction (the last stable
// offset stops at it) and its marker ends it, across a restart too.
func TestTxnCoordinatorAppend(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, DefaultLogConfig)
	coord := func(epoch int16, key string) []byte {
		return transactional(keyedBatch(segment.CompressionNone, 1, producerOpts{id: 7, epoch: epoch, seq: -1}, kv{key, []byte("v")}))
	}
	if _, err := l.Append(coord(1, "a"), AppendOptions{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a batch with no sequence from a client: %v, want ErrInvalidRecord", err)
	}
	plain := keyedBatch(segment.CompressionNone, 1, producerOpts{id: 7, epoch: 1, seq: -1}, kv{"a", []byte("v")})
	if _, err := l.Append(plain, AppendOptions{Coordinator: true}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a non-transactional coordinator batch: %v, want ErrInvalidRecord", err)
	}
	mustAppend(t, l, batch(1, 10, 1))        // 0
	for i, key := range []string{"a", "b"} { // 1, 2: no sequence, so never a duplicate
		if res, err := l.Append(coord(1, key), AppendOptions{Coordinator: true}); err != nil || res.Duplicate || res.BaseOffset != int64(1+i) {
			t.Fatalf("coordinator batch %d: %+v %v", i, res, err)
		}
	}
	if got := l.LastStableOffset(); got != 1 {
		t.Fatalf("LSO with the coordinator's batch open = %d, want 1", got)
	}
	if _, err := l.Append(coord(0, "c"), AppendOptions{Coordinator: true}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("an older epoch: %v, want ErrInvalidProducerEpoch", err)
	}
	env.reopen()
	l = env.log(tp0, DefaultLogConfig)
	if got := l.LastStableOffset(); got != 1 {
		t.Fatalf("LSO after a restart = %d, want 1", got)
	}
	if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: 7, ProducerEpoch: 1, Commit: true}, 0); err != nil {
		t.Fatal(err)
	}
	if got, hw := l.LastStableOffset(), l.HighWatermark(); got != 4 || got != hw {
		t.Fatalf("LSO after the COMMIT = %d, want the high watermark 4 (%d)", got, hw)
	}
}

// TestTxnVerificationGuard (KIP-890 part 1): a transactional batch appended with a guard is
// accepted while the guard is current, needs no guard once its producer's transaction is
// open, and is refused when a marker of its producer came between the verification and the
// append (a late batch that would otherwise open a transaction no coordinator knows).
func TestTxnVerificationGuard(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, DefaultLogConfig)
	g, need := l.BeginTxnVerification(1, 0)
	if !need || g == 0 {
		t.Fatalf("first batch of producer 1: guard %d, needed %v", g, need)
	}
	if g2, _ := l.BeginTxnVerification(1, 0); g2 != g {
		t.Fatalf("a concurrent verification got guard %d, want the shared %d", g2, g)
	}
	if _, err := l.Append(txnBatch(1, 0, 1, kv{"a", nil}), AppendOptions{TxnGuard: g}); err != nil {
		t.Fatalf("verified batch: %v", err)
	}
	if _, need := l.BeginTxnVerification(1, 0); need {
		t.Fatal("producer 1 has an open transaction here: no verification needed")
	}
	if _, err := l.Append(txnBatch(1, 1, 2, kv{"b", nil}), AppendOptions{TxnGuard: g}); err != nil {
		t.Fatalf("second batch of the open transaction: %v", err)
	}
	// Transaction version 2: a batch at the next epoch belongs to the next transaction, which
	// the open one (its marker still to come) does not vouch for.
	if g1, need := l.BeginTxnVerification(1, 1); !need {
		t.Fatal("producer 1's open transaction is at epoch 0: a batch at epoch 1 needs its own verification")
	} else {
		l.EndTxnVerification(1, g1)
	}
	mustMarker(t, l, 1, true) // 2

	g, need = l.BeginTxnVerification(1, 0)
	if !need {
		t.Fatal("after the marker the next transaction needs a verification")
	}
	mustMarker(t, l, 1, false) // 3: the coordinator aborted while the leader verified
	end := l.LogEndOffset()
	if _, err := l.Append(txnBatch(1, 2, 3, kv{"late", nil}), AppendOptions{TxnGuard: g}); !errors.Is(err, ErrTxnNotVerified) {
		t.Fatalf("batch after a marker that spent its guard: %v, want ErrTxnNotVerified", err)
	}
	if l.LogEndOffset() != end || l.LastStableOffset() != end {
		t.Fatalf("refused batch changed the log: end %d→%d, LSO %d", end, l.LogEndOffset(), l.LastStableOffset())
	}

	g, _ = l.BeginTxnVerification(2, 0)
	l.EndTxnVerification(2, g) // the coordinator said no
	if _, err := l.Append(txnBatch(2, 0, 4, kv{"c", nil}), AppendOptions{TxnGuard: g}); !errors.Is(err, ErrTxnNotVerified) {
		t.Fatalf("batch with a dropped guard: %v, want ErrTxnNotVerified", err)
	}
}

// TestTxnMarkerVersion2Crash: a transaction version 2 marker (KIP-1228) must carry an epoch
// above its producer's while the producer's transaction is open; a refused one writes
// nothing. The epoch the accepted marker gave the producer survives a crash of the
// filesystem (only synced data survives), rebuilt by replaying the log, and, with small
// segments, from a producer snapshot: a late copy of the marker still cannot end the next
// transaction.
func TestTxnMarkerVersion2Crash(t *testing.T) {
	for _, segBytes := range []int64{DefaultLogConfig.SegmentBytes, 100} {
		rng := rand.New(rand.NewSource(testSeed(t)))
		fs := vfs.NewMemFS()
		env := newTestEnv(t, fs, "/data")
		cfg := DefaultLogConfig
		cfg.SegmentBytes = segBytes
		l := env.log(tp0, cfg)
		const pid = 7
		b := transactional(keyedBatch(segment.CompressionNone, 1, producerOpts{id: pid, epoch: 4}, kv{"a", []byte("1")}))
		mustAppend(t, l, b) // 0: open at epoch 4
		for _, m := range []TxnMarker{
			{ProducerID: pid, ProducerEpoch: 4, Commit: true, TxnVersion: 2},
			{ProducerID: pid, ProducerEpoch: 3, Commit: true, TxnVersion: 2},
		} {
			if _, err := l.AppendTxnMarker(m, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("segments of %d bytes: %+v: %v, want ErrInvalidProducerEpoch", segBytes, m, err)
			}
			if end := l.LogEndOffset(); end != 1 {
				t.Fatalf("segments of %d bytes: refused %+v, yet the log end is %d", segBytes, m, end)
			}
		}
		if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: pid, ProducerEpoch: 5, Commit: true, TxnVersion: 2}, 0); err != nil {
			t.Fatal(err) // 1
		}
		b = transactional(keyedBatch(segment.CompressionNone, 2, producerOpts{id: pid, epoch: 5}, kv{"b", []byte("2")}))
		mustAppend(t, l, b) // 2: the next transaction, at the marker's epoch
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		fs.Crash(rng)
		env.open()
		l = env.log(tp0, cfg)
		if segBytes == 100 {
			names, err := fs.ReadDir("/data/events-0")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(names, func(n string) bool { return filepath.Ext(n) == ".snapshot" }) {
				t.Fatalf("no producer snapshot to recover from: %v", names)
			}
		}
		if ps := l.Producers(); len(ps) != 1 || ps[0].ProducerEpoch != 5 || ps[0].TxnStartOffset != 2 {
			t.Fatalf("segments of %d bytes: producers after the crash %+v, want epoch 5 with a transaction open at 2", segBytes, ps)
		}
		if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: pid, ProducerEpoch: 5, Commit: true, TxnVersion: 2}, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("segments of %d bytes: late tv2 marker after the crash: %v, want ErrInvalidProducerEpoch", segBytes, err)
		}
		if end, lso := l.LogEndOffset(), l.LastStableOffset(); end != 3 || lso != 2 {
			t.Fatalf("segments of %d bytes: after the refusal end %d, last stable offset %d, want 3 and 2", segBytes, end, lso)
		}
		if _, err := l.AppendTxnMarker(TxnMarker{ProducerID: pid, ProducerEpoch: 6, Commit: false, TxnVersion: 2}, 0); err != nil {
			t.Fatalf("segments of %d bytes: tv2 abort at the next epoch: %v", segBytes, err)
		}
		env.close()
	}
}
