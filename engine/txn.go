package engine

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine/internal/producer"
	"github.com/logd/logd/index"
	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/internal/invariants"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// Transactions, partition side (Kafka's ProducerStateManager transaction half, LogSegment's
// txnIndex and UnifiedLog.lastStableOffset). See doc.go, "Transactions".

// TxnMarker is a transaction marker the leader appends for the transaction coordinator
// (WriteTxnMarkers): it ends the producer's open transaction on this partition.
type TxnMarker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool // COMMIT, else ABORT
	// TxnVersion is the transaction version the coordinator ends the transaction at
	// (WriteTxnMarkers v2, KIP-1228; 0 before v2). From 2 (producer.StrictMarkerTxnVersion)
	// the epoch must be above the producer's unless its transaction here has ended already:
	// see AppendTxnMarker. It is not written to the log.
	TxnVersion int8
}

// AbortedTxn is an aborted transaction of the partition: its data lies in
// [FirstOffset, LastOffset], LastOffset being its ABORT marker's offset.
type AbortedTxn = index.AbortedTxn

// ErrCoordinatorFenced: a marker from a coordinator epoch older than the producer's last
// marker's (TRANSACTION_COORDINATOR_FENCED).
var ErrCoordinatorFenced = producer.ErrCoordinatorFenced

// ErrInvalidTxnState: a non-transactional batch from a producer with an open transaction
// (INVALID_TXN_STATE).
var ErrInvalidTxnState = producer.ErrInvalidTxnState

// ErrTxnNotVerified: a transactional batch whose verification with the transaction
// coordinator no longer holds: a marker for its producer was written here after the
// verification began (TxnGuard), so the batch may belong to a transaction that has ended.
var ErrTxnNotVerified = errors.New("the transaction ended while the partition was being verified with its coordinator")

// TxnGuard stands for one verification of a producer's transaction at a partition (Kafka's
// VerificationGuard): the append that follows it must present it, and any marker of the
// producer here in between spends it.
type TxnGuard uint64

// BeginTxnVerification returns a guard for appending producer pid's transactional batch of
// epoch once its coordinator has confirmed the partition is in the producer's transaction
// (or added it, transaction version 2), and whether that verification is needed at all: not
// when the producer already has an open transaction here at that epoch (its first batch was
// verified, and no marker has ended it since; one at an older epoch is a previous
// transaction whose marker is still to come). Concurrent verifications of one producer share
// the guard.
func (l *Log) BeginTxnVerification(pid int64, epoch int16) (TxnGuard, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.producers.InTxnAt(pid, epoch) {
		return 0, false
	}
	if g, ok := l.verifying[pid]; ok {
		return g, true
	}
	if l.verifying == nil {
		l.verifying = make(map[int64]TxnGuard)
	}
	l.lastGuard++
	l.verifying[pid] = l.lastGuard
	return l.lastGuard, true
}

// EndTxnVerification drops guard g of producer pid after a verification that failed.
func (l *Log) EndTxnVerification(pid int64, g TxnGuard) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.verifying[pid] == g {
		delete(l.verifying, pid)
	}
}

// ProducerState describes one producer of the partition (DescribeProducers): its epoch, last
// sequence, offset and timestamp, its last marker's coordinator epoch and the first offset
// of its open transaction (-1 for none).
type ProducerState = producer.Entry

// Producers returns the partition's producers, by ascending producer id.
func (l *Log) Producers() []ProducerState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.producers.Entries()
}

// unstable is the published part of the transaction state the last stable offset needs,
// replaced (never modified) under Log.mu so reads take no lock.
type unstable struct {
	firstOngoing int64 // first offset of the oldest open transaction; MaxInt64 when none
	// ended are transactions whose marker was at or past the high watermark when published:
	// until the marker is committed they stay unstable (Kafka's unreplicatedTxns).
	ended []producer.CompletedTxn
}

// LastStableOffset is the offset below which every transaction is decided: the first offset
// of the oldest open transaction (or of one whose marker is not yet below the high
// watermark), else the high watermark. read_committed consumers read up to it.
func (l *Log) LastStableOffset() int64 {
	hw := l.highWatermark.Load()
	u := l.unstable.Load()
	if u == nil {
		return hw
	}
	lso := min(hw, u.firstOngoing)
	for _, t := range u.ended {
		if t.LastOffset >= hw {
			lso = min(lso, t.FirstOffset)
		}
	}
	return lso
}

// publishUnstableLocked republishes the open transactions after a change of the transaction
// state, dropping ended transactions whose marker the high watermark has passed.
// REQUIRES: l.mu held.
func (l *Log) publishUnstableLocked() {
	hw := l.highWatermark.Load()
	kept := l.ended[:0]
	for _, t := range l.ended {
		if t.LastOffset >= hw {
			kept = append(kept, t)
		}
	}
	clear(l.ended[len(kept):])
	l.ended = kept
	first, ok := l.producers.FirstUnstableOffset()
	if !ok && len(l.ended) == 0 {
		l.unstable.Store(nil)
		return
	}
	if !ok {
		first = math.MaxInt64
	}
	l.unstable.Store(&unstable{firstOngoing: first, ended: append([]producer.CompletedTxn(nil), l.ended...)})
}

// AbortedTxns returns the aborted transactions a read_committed fetch of [from, upTo) must
// know: those whose data overlaps it (Kafka's collectAbortedTransactions), ordered by their
// markers' offsets.
func (l *Log) AbortedTxns(from, upTo int64) []AbortedTxn {
	all := l.abortedList()
	i := sort.Search(len(all), func(i int) bool { return all[i].LastOffset >= from })
	var out []AbortedTxn
	for _, t := range all[i:] {
		if t.FirstOffset < upTo {
			out = append(out, t)
		}
	}
	return out
}

// abortedList is the published aborted transactions, ordered by LastOffset. Appends under
// Log.mu write past the published length only, so a reader's slice never changes under it.
func (l *Log) abortedList() []AbortedTxn {
	if p := l.aborted.Load(); p != nil {
		return *p
	}
	return nil
}

// isAborted reports whether a transactional data batch belongs to an aborted transaction:
// its records are dropped by the cleaner whatever their keys.
func (l *Log) isAborted(h *segment.Header) bool {
	all := l.abortedList()
	i := sort.Search(len(all), func(i int) bool { return all[i].LastOffset >= h.BaseOffset })
	for _, t := range all[i:] {
		if t.ProducerID == h.ProducerID && t.FirstOffset <= h.BaseOffset {
			return true
		}
	}
	return false
}

// AppendTxnMarker appends a COMMIT or ABORT control batch for m as the leader of epoch
// leaderEpoch, through the same path as Append (group commit, durability, listeners). A
// producer epoch older than the producer's is ErrInvalidProducerEpoch, and so is, for a
// transaction version 2 marker (KIP-1228), an epoch equal to the producer's while its
// transaction is open here; a coordinator epoch older than its last marker's is
// ErrCoordinatorFenced; nothing is appended then. The check runs under Log.mu in the same
// critical section that writes the marker, so no batch of the producer can come in between.
// After the marker the producer's epoch is the marker's.
func (l *Log) AppendTxnMarker(m TxnMarker, leaderEpoch int32) (AppendResult, error) {
	return l.Append(MarkerBatch(m, l.now().UnixMilli()), AppendOptions{LeaderEpoch: leaderEpoch, MarkerTxnVersion: m.TxnVersion})
}

// MarkerBatch encodes m as a control batch (Kafka's EndTransactionMarker: key version 0 and
// type, value version 0 and coordinator epoch) stamped with timestamp ts.
func MarkerBatch(m TxnMarker, ts int64) []byte {
	typ := kmsg.ControlRecordKeyTypeAbort
	if m.Commit {
		typ = kmsg.ControlRecordKeyTypeCommit
	}
	key := (&kmsg.ControlRecordKey{Version: 0, Type: typ}).AppendTo(nil)
	val := (&kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: m.CoordinatorEpoch}).AppendTo(nil)
	return segment.EncodeBatch(segment.Header{
		Attributes:    segment.AttrTransactional | segment.AttrControl,
		BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, BaseSequence: -1,
	}, []kmsg.Record{{Key: key, Value: val}})
}

// parseMarker reads the transaction marker of control batch b (header h). ok is false for a
// control batch that is not a transaction marker (another control record type).
func parseMarker(h *segment.Header, b []byte) (m producer.Marker, ok bool, err error) {
	recs, err := compress.Decompress(h.Compression(), b[segment.HeaderSize:], maxCleanerBatchRecords)
	if err != nil {
		return m, false, fmt.Errorf("%w: control batch at %d: %v", ErrInvalidRecord, h.BaseOffset, err)
	}
	var key kmsg.ControlRecordKey
	var val kmsg.EndTxnMarker
	var perr error
	n := 0
	if err := forEachRecord(recs, min(h.RecordCount, 1), new(kmsg.Record), func(r *kmsg.Record) {
		n++
		if perr = key.ReadFrom(r.Key); perr != nil {
			return
		}
		if key.Type == kmsg.ControlRecordKeyTypeAbort || key.Type == kmsg.ControlRecordKeyTypeCommit {
			perr = val.ReadFrom(r.Value)
		}
	}); err != nil {
		return m, false, fmt.Errorf("%w: control batch at %d: %v", ErrInvalidRecord, h.BaseOffset, err)
	}
	if n == 0 {
		return m, false, nil // emptied by the cleaner: no marker any more
	}
	if perr != nil {
		return m, false, fmt.Errorf("%w: control batch at %d has no valid control record: %v", ErrInvalidRecord, h.BaseOffset, perr)
	}
	if key.Type != kmsg.ControlRecordKeyTypeAbort && key.Type != kmsg.ControlRecordKeyTypeCommit {
		return m, false, nil
	}
	return producer.Marker{
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, CoordinatorEpoch: val.CoordinatorEpoch,
		Commit: key.Type == kmsg.ControlRecordKeyTypeCommit, Offset: h.BaseOffset,
	}, true, nil
}

// checkMarkerLocked validates a control batch the leader is about to append: a transaction
// marker of transaction version tv whose epochs the producer state accepts.
// REQUIRES: l.mu held.
func (l *Log) checkMarkerLocked(h *segment.Header, b []byte, tv int8) error {
	m, ok, err := parseMarker(h, b[:h.Size()])
	if err == nil && !ok {
		err = fmt.Errorf("%w: control batch at %d is not a transaction marker", ErrInvalidRecord, h.BaseOffset)
	}
	if err == nil {
		m.TxnVersion = tv
		err = l.producers.CheckMarker(m)
	}
	if errors.Is(err, producer.ErrInvalidRecord) {
		err = fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if errors.Is(err, producer.ErrInvalidProducerEpoch) && tv >= producer.StrictMarkerTxnVersion {
		return fmt.Errorf("%s: transaction version %d marker of producer %d epoch %d: not above the producer's epoch while its transaction is open: %w",
			l.tp, tv, h.ProducerID, h.ProducerEpoch, err)
	}
	if err != nil {
		return fmt.Errorf("%s: marker of producer %d epoch %d: %w", l.tp, h.ProducerID, h.ProducerEpoch, err)
	}
	return nil
}

// applyBatch records one appended (or replayed) batch in state: transactional and idempotent
// data batches through Update, markers through EndTxn. body reads the whole batch, only for
// control batches. It returns the transaction a marker ended, if any.
func applyBatch(state *producer.State, h *segment.Header, body func() ([]byte, error)) (*producer.CompletedTxn, error) {
	if h.ProducerID < 0 {
		return nil, nil
	}
	if !h.IsControl() {
		state.Update(batchInfo(h, h.BaseOffset, h.LastOffset()))
		return nil, nil
	}
	b, err := body()
	if err != nil {
		return nil, err
	}
	m, ok, err := parseMarker(h, b)
	if err != nil || !ok {
		return nil, err
	}
	c := state.EndTxn(m)
	return &c, nil
}

// abortedEntry is the .txnindex entry of an aborted transaction c, given the state after its
// marker: the last stable offset then (the oldest other open transaction, else the offset
// after the marker).
func abortedEntry(state *producer.State, c producer.CompletedTxn) AbortedTxn {
	lso := c.LastOffset + 1
	if first, ok := state.FirstUnstableOffset(); ok {
		lso = min(lso, first)
	}
	return AbortedTxn{ProducerID: c.ProducerID, FirstOffset: c.FirstOffset, LastOffset: c.LastOffset, LastStableOffset: lso}
}

// endedTxnLocked records a transaction a marker appended at the log's end ended: an aborted
// one goes to the aborted list and the active segment's .txnindex; any waits for the high
// watermark to pass its marker. REQUIRES: l.mu held.
func (l *Log) endedTxnLocked(c producer.CompletedTxn) error {
	if l.replicated {
		l.ended = append(l.ended, c)
	}
	if !c.Aborted {
		return nil
	}
	e := abortedEntry(l.producers, c)
	all := append(l.abortedList(), e)
	if n := len(all); invariants.Enabled && n > 1 && all[n-2].LastOffset >= e.LastOffset {
		panic(fmt.Sprintf("%s: aborted transaction ending at %d after one ending at %d", l.tp, e.LastOffset, all[n-2].LastOffset))
	}
	l.aborted.Store(&all)
	return l.appendTxnIndexLocked(l.active.BaseOffset(), e)
}

// appendTxnIndexLocked appends e to segment base's .txnindex, created on first use and kept
// open while the segment is active; the group committer syncs it with the log.
// REQUIRES: l.mu held.
func (l *Log) appendTxnIndexLocked(base int64, e AbortedTxn) error {
	if l.txnFile != nil && l.txnFileBase != base {
		l.closeTxnFileLocked()
	}
	if l.txnFile == nil {
		f, err := l.fs.OpenFile(filepath.Join(l.dir, segment.FileName(base, segment.TxnIndexSuffix)), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return l.failLocked(err)
		}
		if _, err := l.gc.Load().MarkDirDirty(l.dir); err != nil {
			f.Close()
			return err
		}
		l.txnFile, l.txnFileBase = f, base
	}
	size, err := l.txnFile.Size()
	if err == nil {
		size -= size % index.TxnEntrySize // a torn entry from a crash is overwritten
		_, err = l.txnFile.WriteAt(index.AppendTxnEntry(nil, e), size)
	}
	if err != nil {
		return l.failLocked(err)
	}
	seq, err := l.gc.Load().MarkDirty(l.txnFile)
	if err != nil {
		return err
	}
	l.pendingSeq = max(l.pendingSeq, seq)
	return nil
}

// closeTxnFileLocked syncs and closes the open .txnindex (a roll, a truncation, close). It
// happens once per segment that had an aborted transaction. REQUIRES: l.mu held.
func (l *Log) closeTxnFileLocked() {
	if l.txnFile == nil {
		return
	}
	l.gc.Load().Forget(l.txnFile)
	if err := l.txnFile.Sync(); err != nil {
		l.log.Warn("transaction index sync failed", "partition", l.tp.String(), "err", err)
	}
	l.txnFile.Close()
	l.txnFile = nil
}

// loadTxnIndexes reads the .txnindex files of the segments at bases (names is the directory
// listing), dropping entries at or past end. It reports false when a file was unreadable or
// corrupt (then removed): the caller must rebuild the list from the whole log.
func (l *Log) loadTxnIndexes(names []string, bases []int64, end int64) bool {
	present := map[int64]bool{}
	for _, n := range names {
		if b, ok := parseOffsetName(n, segment.TxnIndexSuffix); ok {
			present[b] = true
		}
	}
	var all []AbortedTxn
	whole := true
	for _, b := range bases {
		if !present[b] {
			continue
		}
		name := filepath.Join(l.dir, segment.FileName(b, segment.TxnIndexSuffix))
		data, err := vfs.ReadFile(l.fs, name)
		var ents []AbortedTxn
		if err == nil {
			data = data[:len(data)-len(data)%index.TxnEntrySize] // a torn tail entry is rebuilt by the replay
			ents, err = index.ParseTxnIndex(data)
		}
		if err != nil {
			l.log.Warn("rebuilding unreadable transaction index", "partition", l.tp.String(), "file", name, "err", err)
			l.fs.Remove(name)
			whole = false
			continue
		}
		for _, e := range ents {
			if e.LastOffset < end && (len(all) == 0 || e.LastOffset > all[len(all)-1].LastOffset) {
				all = append(all, e)
			}
		}
	}
	l.aborted.Store(&all)
	return whole
}

// rewriteTxnIndexesLocked makes the .txnindex files of the segments holding offsets at or
// after from match the aborted list (after a truncation or a replay changed it): each is
// rewritten atomically, or removed when it has no entry. REQUIRES: l.mu held.
func (l *Log) rewriteTxnIndexesLocked(from int64) error {
	l.closeTxnFileLocked()
	all := l.abortedList()
	segs := l.segments()
	for i, h := range segs {
		end := int64(math.MaxInt64)
		if i+1 < len(segs) {
			end = segs[i+1].base
		}
		if end <= from {
			continue
		}
		var data []byte
		for _, e := range all {
			if e.LastOffset >= h.base && e.LastOffset < end {
				data = index.AppendTxnEntry(data, e)
			}
		}
		name := filepath.Join(l.dir, segment.FileName(h.base, segment.TxnIndexSuffix))
		if len(data) == 0 {
			if err := l.fs.Remove(name); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return err
			}
			continue
		}
		if old, err := vfs.ReadFile(l.fs, name); err == nil && string(old) == string(data) {
			continue
		}
		if err := vfs.WriteFileAtomic(l.fs, l.dir, name, data); err != nil {
			return l.failLocked(err)
		}
	}
	return nil
}

// dropAbortedBelowLocked forgets the aborted transactions whose marker is below offset (their
// segments were deleted). REQUIRES: l.mu held.
func (l *Log) dropAbortedBelowLocked(offset int64) {
	all := l.abortedList()
	i := sort.Search(len(all), func(i int) bool { return all[i].LastOffset >= offset })
	if i > 0 {
		rest := append([]AbortedTxn(nil), all[i:]...)
		l.aborted.Store(&rest)
	}
}

// writeCleanedTxnIndex writes the .txnindex of a cleaned group [base, end) under the cleaner's
// temporary suffix, so the swap renames it with the group's other files: the aborted
// transactions whose marker stays (not in dropped). A group with none gets no file.
func (l *Log) writeCleanedTxnIndex(base, end int64, dropped []int64) error {
	var data []byte
	for _, e := range l.abortedList() {
		if e.LastOffset >= base && e.LastOffset < end && !slices.Contains(dropped, e.LastOffset) {
			data = index.AppendTxnEntry(data, e)
		}
	}
	if len(data) == 0 {
		return nil
	}
	return vfs.WriteFileAtomic(l.fs, l.dir, filepath.Join(l.dir, segment.FileName(base, segment.TxnIndexSuffix)+cleanedSuffix), data)
}

// cleanTxns is what one clean knows of the transactions it walks through, from the log start
// (Kafka's CleanedTransactionMetadata): the aborted transactions whose data it has reached,
// whether it saw any of their batches, and the producers whose committed data it saw since
// their last marker. It decides which data is aborted and which markers may go.
type cleanTxns struct {
	byFirst   []AbortedTxn // every aborted transaction, by first offset
	next      int          // byFirst[:next] were reached
	aborted   map[int64]*cleanAborted
	committed map[int64]bool
	// dropped are the marker offsets of the aborted transactions whose marker the clean
	// removed: their entries leave the aborted list with the swap.
	dropped []int64
}

// cleanAborted is an aborted transaction the clean reached, and whether it saw its data.
type cleanAborted struct {
	txn      AbortedTxn
	observed bool
}

func newCleanTxns(aborted []AbortedTxn) *cleanTxns {
	byFirst := append([]AbortedTxn(nil), aborted...)
	sort.SliceStable(byFirst, func(i, j int) bool { return byFirst[i].FirstOffset < byFirst[j].FirstOffset })
	return &cleanTxns{byFirst: byFirst, aborted: map[int64]*cleanAborted{}, committed: map[int64]bool{}}
}

// reach records the aborted transactions starting at or before offset.
func (t *cleanTxns) reach(offset int64) {
	for ; t.next < len(t.byFirst) && t.byFirst[t.next].FirstOffset <= offset; t.next++ {
		a := t.byFirst[t.next]
		t.aborted[a.ProducerID] = &cleanAborted{txn: a}
	}
}

// dataBatch walks a transactional data batch and reports whether it is aborted (dropped
// whatever its keys).
func (t *cleanTxns) dataBatch(h *segment.Header) bool {
	t.reach(h.LastOffset())
	if a := t.aborted[h.ProducerID]; a != nil {
		a.observed = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// marker walks a control batch and reports whether it may go (after its delete horizon): an
// ABORT marker once the clean saw none of its transaction's data, a COMMIT marker once it saw
// none of its transaction's batches (they were all compacted away before).
func (t *cleanTxns) marker(h *segment.Header, batch []byte) (discardable bool, m producer.Marker) {
	t.reach(h.LastOffset())
	m, ok, err := parseMarker(h, batch)
	if err != nil || !ok {
		return false, m
	}
	if m.Commit {
		seen := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		return !seen, m
	}
	a := t.aborted[h.ProducerID]
	delete(t.aborted, h.ProducerID)
	return a == nil || !a.observed, m
}

// cleanMarker decides a control batch's fate in a clean (KIP-534 for markers): one that may
// go (and is not its producer's last entry) gets the delete horizon at the first clean that
// finds it so, and goes at the first clean after the horizon — emptied rather than removed
// when keepEmpty (it ends the clean's round: its offsets stay). It returns the batch to write,
// or nil.
func cleanMarker(h *segment.Header, batch []byte, f *cleanFilter, keepEmpty bool, st *CleanStats) []byte {
	discardable, m := f.txns.marker(h, batch)
	if last, ok := f.lastOfProducer[h.ProducerID]; ok && last < h.BaseOffset {
		// The marker is its (still known) producer's last entry: it holds the producer's epoch
		// (fencing, after a replay of the log), so it stays, as in Kafka.
		discardable = false
	}
	if !discardable {
		return batch
	}
	if h.Attributes&segment.AttrDeleteHorizon != 0 {
		if f.now >= h.BaseTimestamp {
			if !m.Commit {
				f.txns.dropped = append(f.txns.dropped, h.BaseOffset)
			}
			st.RecordsGone += int64(h.RecordCount)
			if !keepEmpty {
				return nil
			}
			// It ends the round: an empty control batch (no marker in it) keeps the offsets.
			st.BatchesEmpied++
			eh := *h
			eh.Attributes &^= segment.AttrCompressionMask
			eh.RecordCount = 0
			return segment.AppendBatch(nil, eh, nil)
		}
		st.NextHorizon = minHorizon(st.NextHorizon, h.BaseTimestamp)
		return batch
	}
	recs, err := compress.Decompress(h.Compression(), batch[segment.HeaderSize:], maxCleanerBatchRecords)
	if err != nil {
		return batch
	}
	var body []byte
	if err := forEachRecord(recs, h.RecordCount, new(kmsg.Record), func(r *kmsg.Record) {
		ts := h.BaseTimestamp + r.TimestampDelta64
		r.TimestampDelta64 = ts - f.horizon
		r.TimestampDelta = int32(r.TimestampDelta64)
		body = segment.AppendRecord(body, *r)
	}); err != nil {
		return batch
	}
	nh := *h
	nh.Attributes = (nh.Attributes | segment.AttrDeleteHorizon) &^ segment.AttrCompressionMask
	nh.BaseTimestamp = f.horizon
	st.NextHorizon = minHorizon(st.NextHorizon, f.horizon)
	return segment.AppendBatch(nil, nh, body)
}

// minHorizon is the earlier of two delete horizons, 0 meaning none.
func minHorizon(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// dropAbortedLocked removes the aborted transactions whose markers are at the offsets in
// markers (a clean removed them). REQUIRES: l.mu held.
func (l *Log) dropAbortedLocked(markers []int64) {
	if len(markers) == 0 {
		return
	}
	gone := make(map[int64]bool, len(markers))
	for _, off := range markers {
		gone[off] = true
	}
	var kept []AbortedTxn
	for _, e := range l.abortedList() {
		if !gone[e.LastOffset] {
			kept = append(kept, e)
		}
	}
	l.aborted.Store(&kept)
}
