package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/engine/internal/groupcommit"
	"github.com/logd/logd/engine/internal/producer"
	"github.com/logd/logd/internal/invariants"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// Log is one partition's log: ordered segments, the log start and end offsets, the high
// watermark, leader epochs and producer state.
//
// Concurrency: Append, Truncate, retention and DeleteRecords serialize on mu. Reads take no
// log lock: they load the copy-on-write segment list and the atomically published offsets, so
// they see only complete batches. Lock order: Log.mu, then segHandle.mu; the group committer's
// lock is never held while taking either.
type Log struct {
	tp TopicPartition
	fs vfs.FS
	// dir and gc are the partition's directory and its log directory's group committer.
	// A move to another log directory (move.go) replaces both holding cleanMu, mu and
	// snapMu: read them under any of the three; gc is also loaded without a lock by the
	// durability waits.
	dir string
	gc  atomic.Pointer[groupcommit.Committer]
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex // serializes writers; guards the fields marked "guarded by mu"
	cfg       LogConfig  // guarded by mu
	active    *segment.Segment
	producers *producer.State // guarded by mu
	epochs    *epochCache     // guarded by mu
	closed    bool            // guarded by mu
	// unflushed counts messages appended since the last sync this log asked for (flush.messages).
	unflushed int64 // guarded by mu
	// Durability tracking: the sync sequence and end offset of the latest append; once the
	// committer's synced sequence passes pendingSeq, everything below pendingEnd is durable.
	pendingSeq       uint64            // guarded by mu
	pendingEnd       int64             // guarded by mu
	activeCreatedAt  time.Time         // guarded by mu
	lastFlush        time.Time         // last flush.ms sync; guarded by mu
	pendingSnapshot  *producerSnapshot // taken at a roll, written after mu; guarded by mu
	pendingIndexSync *segment.Segment  // sealed at a roll, its indexes synced after mu; guarded by mu
	snapMu           sync.Mutex        // serializes producer snapshot file writes
	// cleanMu serializes cleans of this log (taken before mu, never held by writers).
	cleanMu sync.Mutex
	// compact mirrors cfg.compacts() for Append's key check outside mu.
	compact atomic.Bool
	// deleteHorizon is the earliest delete horizon (ms) of a tombstone the last clean kept;
	// 0 when none or unknown. Written by the cleaner under cleanMu.
	deleteHorizon atomic.Int64

	segs           atomic.Pointer[[]*segHandle] // copy-on-write, sorted by base offset
	logStartOffset atomic.Int64
	logEndOffset   atomic.Int64
	highWatermark  atomic.Int64
	recoveryPoint  atomic.Int64 // every offset below is durable on disk
	// checkpointedRecoveryPoint is what the directory's recovery-point checkpoint file holds
	// for this log, where recovery after a crash starts (written under Engine.ckptMu, with
	// the file): the cleaner cleans only below it (doc.go, "Compaction").
	checkpointedRecoveryPoint atomic.Int64
	// replicated is fixed when the log is opened (OpenOptions.Replicated): replication sets
	// the high watermark and it is checkpointed; otherwise it follows the end offset.
	replicated bool

	onAppend atomic.Pointer[func()] // called after every append, outside mu

	// Transactions (txn.go). aborted is the partition's aborted transactions ordered by
	// marker offset, published for lock-free reads; appended to (past the published length)
	// and replaced under mu. unstable is what LastStableOffset needs, replaced under mu.
	aborted  atomic.Pointer[[]AbortedTxn]
	unstable atomic.Pointer[unstable]
	ended    []producer.CompletedTxn // transactions ended at or past the high watermark; guarded by mu
	// txnFile is the active segment's open .txnindex (txnFileBase), nil until an abort.
	txnFile     vfs.File // guarded by mu
	txnFileBase int64    // guarded by mu
	// verifying holds the guard of each producer whose first transactional batch here is
	// being verified with its coordinator (KIP-890 part 1, BeginTxnVerification); guarded by
	// mu, like lastGuard, the last guard handed out.
	verifying map[int64]TxnGuard
	lastGuard TxnGuard
	// dirOffline is set when the log's directory goes offline (Engine.fail): reads refuse
	// from then on, as Kafka answers KAFKA_STORAGE_ERROR for a replica on a failed directory.
	dirOffline atomic.Bool
	// resets counts truncations (TruncateTo, TruncateFullyAndStartAt): a move to another
	// log directory that copied bytes a truncation removed starts over. Guarded by mu.
	resets uint64
}

// AppendOptions are the per-call parameters of Append.
type AppendOptions struct {
	// LeaderEpoch is stamped into every batch's PartitionLeaderEpoch.
	LeaderEpoch int32
	// SkipProducerChecks disables idempotence checks (replica appends copy the leader's log).
	SkipProducerChecks bool
	// KeepOffsets is set for replica appends, whose batches already carry the leader's offsets
	// and epochs.
	KeepOffsets bool
	// Coordinator marks batches a coordinator writes on a transactional producer's behalf
	// (the group coordinator's TxnOffsetCommit records, Kafka's AppendOrigin.COORDINATOR):
	// each must be a transactional data batch; its producer epoch is checked but it has no
	// sequence to check. It opens the producer's transaction like a client's batch, so the
	// last stable offset and the .txnindex treat it as transactional data.
	Coordinator bool
	// TxnGuard, if not zero, is the guard BeginTxnVerification gave before the leader had the
	// batches' transaction verified: a transactional batch whose producer has no open
	// transaction here is refused (ErrTxnNotVerified) unless the guard is still current.
	TxnGuard TxnGuard
	// MarkerTxnVersion is the transaction version of the markers appended (AppendTxnMarker:
	// WriteTxnMarkers v2, KIP-1228); from 2 a marker's epoch must be above its producer's.
	MarkerTxnVersion int8
}

// AppendResult describes a completed append.
type AppendResult struct {
	BaseOffset     int64 // offset of the first appended record
	LastOffset     int64 // offset of the last appended record
	LogAppendTime  int64 // broker timestamp for LogAppendTime topics, else -1
	LogStartOffset int64
	// Duplicate is true when an idempotent producer resent a batch already in the log: nothing
	// was appended and the offsets are the original ones.
	Duplicate bool
	// SyncSeq is the group commit sequence covering this append; wait on it with
	// Log.WaitDurable or Log.NotifyDurable.
	SyncSeq uint64
	// MustSync is true when the topic's flush.messages says this append must be synced before
	// it is acknowledged.
	MustSync bool
}

// TP returns the log's topic partition.
func (l *Log) TP() TopicPartition { return l.tp }

// Dir returns the partition's directory.
func (l *Log) Dir() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dir
}

// LogStartOffset is the first offset a consumer may read.
func (l *Log) LogStartOffset() int64 { return l.logStartOffset.Load() }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.logEndOffset.Load() }

// HighWatermark is the offset up to which records are committed (visible to consumers).
func (l *Log) HighWatermark() int64 { return l.highWatermark.Load() }

// RecoveryPoint is the offset below which everything is known durable.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// SetHighWatermark moves a replicated log's high watermark (replication calls it; it never
// passes the end offset and never moves backwards). A non-replicated log's high watermark
// already follows its end offset.
func (l *Log) SetHighWatermark(hw int64) {
	for {
		cur := l.highWatermark.Load()
		if hw <= cur {
			return
		}
		if leo := l.logEndOffset.Load(); hw > leo {
			hw = leo
		}
		if l.highWatermark.CompareAndSwap(cur, hw) {
			l.notifyAppend()
			return
		}
	}
}

// Offline reports whether the log's directory is offline: its data may not be readable or
// durable, so fetches answer KAFKA_STORAGE_ERROR (appends fail by themselves).
func (l *Log) Offline() bool { return l.dirOffline.Load() }

// Replicated reports whether replication sets the log's high watermark (OpenOptions).
func (l *Log) Replicated() bool { return l.replicated }

// SetAppendListener installs fn to be called after every append and high watermark advance
// (the broker wakes parked fetches with it). fn must not block.
func (l *Log) SetAppendListener(fn func()) { l.onAppend.Store(&fn) }

func (l *Log) notifyAppend() {
	if fn := l.onAppend.Load(); fn != nil {
		(*fn)()
	}
}

// Config returns the log's current configuration.
func (l *Log) Config() LogConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// SetConfig changes the log's configuration (AlterConfigs). Index settings apply from the
// next segment.
func (l *Log) SetConfig(cfg LogConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	l.cfg = cfg
	l.compact.Store(cfg.compacts())
	l.mu.Unlock()
	return nil
}

func (l *Log) segments() []*segHandle { return *l.segs.Load() }

func (l *Log) setSegments(s []*segHandle) { l.segs.Store(&s) }

// Append validates and appends a set of record batches (the bytes of one produce request for
// this partition) with one write. data is modified in place: BaseOffset and
// PartitionLeaderEpoch are stamped (both outside the CRC), and for LogAppendTime topics
// MaxTimestamp and the CRC are rewritten. data must not be touched by anyone else until
// Append returns; it is not retained after.
func (l *Log) Append(data []byte, opts AppendOptions) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	// Validate outside the lock: the CRC over every byte is the expensive part.
	var stack [4]segment.BatchMeta
	metas := stack[:0]
	records := int64(0)
	validate := segment.ValidateBatch
	if opts.KeepOffsets {
		validate = segment.ValidateStoredBatch // a compacted leader's log holds empty batches
	}
	for pos := 0; pos < len(data); {
		h, err := validate(data[pos:])
		if err != nil {
			return res, fmt.Errorf("%s: batch at byte %d: %w", l.tp, pos, err)
		}
		if l.compact.Load() && !opts.KeepOffsets {
			if err := checkKeys(&h, data[pos:pos+h.Size()]); err != nil {
				return res, fmt.Errorf("%s: batch at byte %d: %w", l.tp, pos, err)
			}
		}
		metas = append(metas, segment.BatchMeta{RelPos: int32(pos), LastOffset: int64(h.LastOffsetDelta), MaxTimestamp: h.MaxTimestamp})
		records += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
	}
	if len(metas) == 0 {
		return res, ErrInvalidRecord
	}

	l.mu.Lock()
	res, err := l.appendLocked(data, metas, records, opts)
	snap, sealed := l.pendingSnapshot, l.pendingIndexSync
	l.pendingSnapshot, l.pendingIndexSync = nil, nil
	l.mu.Unlock()
	if err == nil && !res.Duplicate {
		l.notifyAppend()
	}
	if sealed != nil {
		if serr := sealed.SyncIndexes(); serr != nil {
			l.log.Warn("index sync after roll failed", "partition", l.tp.String(), "err", serr)
		}
	}
	if snap != nil {
		l.writeSnapshot(snap)
	}
	return res, err
}

// REQUIRES: l.mu held.
func (l *Log) appendLocked(data []byte, metas []segment.BatchMeta, records int64, opts AppendOptions) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	if l.closed {
		return res, ErrClosed
	}
	for i := range metas {
		size := len(data) - int(metas[i].RelPos)
		if i+1 < len(metas) {
			size = int(metas[i+1].RelPos - metas[i].RelPos)
		}
		if int64(size) > int64(l.cfg.MaxMessageBytes) {
			return res, fmt.Errorf("%s: batch of %d bytes: %w", l.tp, size, ErrMessageTooLarge)
		}
	}
	next := l.logEndOffset.Load()
	if opts.KeepOffsets {
		h, _ := segment.ParseHeader(data)
		if h.BaseOffset < next {
			return res, fmt.Errorf("%s: replica batch at offset %d below end offset %d: %w", l.tp, h.BaseOffset, next, ErrInvalidRecord)
		}
		next = h.BaseOffset
	}

	// Idempotence: checked per batch before anything is written.
	if !opts.SkipProducerChecks {
		for i := range metas {
			b := data[metas[i].RelPos:]
			h, _ := segment.ParseHeader(b)
			if h.ProducerID < 0 {
				continue
			}
			if h.IsControl() {
				if err := l.checkMarkerLocked(&h, b, opts.MarkerTxnVersion); err != nil {
					return res, err
				}
				continue
			}
			if opts.Coordinator {
				if err := l.producers.CheckCoordinator(batchInfo(&h, 0, 0)); err != nil {
					if errors.Is(err, producer.ErrInvalidRecord) {
						err = fmt.Errorf("%w: a coordinator batch must be transactional data with a producer id and epoch", ErrInvalidRecord)
					}
					return res, fmt.Errorf("%s: coordinator batch of producer %d epoch %d: %w", l.tp, h.ProducerID, h.ProducerEpoch, err)
				}
				continue
			}
			v, err := l.producers.Check(batchInfo(&h, 0, 0))
			if errors.Is(err, producer.ErrInvalidRecord) {
				err = fmt.Errorf("%w: %v", ErrInvalidRecord, err)
			}
			if err != nil {
				return res, fmt.Errorf("%s: producer %d epoch %d sequence %d: %w", l.tp, h.ProducerID, h.ProducerEpoch, h.BaseSequence, err)
			}
			if opts.TxnGuard != 0 && h.IsTransactional() && !l.producers.InTxnAt(h.ProducerID, h.ProducerEpoch) && l.verifying[h.ProducerID] != opts.TxnGuard {
				return res, fmt.Errorf("%s: producer %d epoch %d: %w", l.tp, h.ProducerID, h.ProducerEpoch, ErrTxnNotVerified)
			}
			if v.Duplicate {
				if len(metas) != 1 {
					return res, fmt.Errorf("%s: duplicate batch inside a multi-batch set: %w", l.tp, ErrInvalidRecord)
				}
				res.Duplicate = true
				res.BaseOffset, res.LastOffset = v.FirstOffset, v.LastOffset
				res.LogStartOffset = l.logStartOffset.Load()
				return res, nil
			}
		}
	}

	lastOffset := next + records - 1
	if opts.KeepOffsets {
		h, _ := segment.ParseHeader(data[metas[len(metas)-1].RelPos:])
		lastOffset = h.LastOffset()
	}
	if err := l.maybeRollLocked(len(data), next, lastOffset); err != nil {
		return res, err
	}

	now := l.now().UnixMilli()
	if l.cfg.LogAppendTime {
		res.LogAppendTime = now
	}
	off := next
	for i := range metas {
		b := data[metas[i].RelPos:]
		if !opts.KeepOffsets {
			segment.SetBaseOffset(b, off)
			segment.SetPartitionLeaderEpoch(b, opts.LeaderEpoch)
			if l.cfg.LogAppendTime {
				// SetLogAppendTime checksums to the end of its slice: pass this batch alone.
				end := len(data)
				if i+1 < len(metas) {
					end = int(metas[i+1].RelPos)
				}
				segment.SetLogAppendTime(data[metas[i].RelPos:end], now)
				metas[i].MaxTimestamp = now
			}
			metas[i].LastOffset += off
		} else {
			h, _ := segment.ParseHeader(b)
			metas[i].LastOffset = h.LastOffset()
		}
		off = metas[i].LastOffset + 1
	}
	if err := l.active.Append(data, metas); err != nil {
		return res, l.failLocked(err)
	}
	seq, err := l.gc.Load().MarkDirty(l.active.File())
	if err != nil {
		return res, err
	}

	// Per-batch bookkeeping: leader epochs, producer and transaction state.
	epochChanged, txnChanged := false, false
	for i := range metas {
		b := data[metas[i].RelPos:]
		h, _ := segment.ParseHeader(b)
		if l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) {
			epochChanged = true
		}
		c, err := applyBatch(l.producers, &h, func() ([]byte, error) { return b[:h.Size()], nil })
		if err != nil {
			// Checked before the write on the leader; a replica's copy is the leader's bytes.
			l.log.Warn("unreadable transaction marker", "partition", l.tp.String(), "offset", h.BaseOffset, "err", err)
		}
		if h.IsTransactional() { // opens the producer's transaction, or ends it: either way the guard is spent
			delete(l.verifying, h.ProducerID)
			txnChanged = true
		}
		if c != nil {
			if err := l.endedTxnLocked(*c); err != nil {
				return res, err
			}
		}
	}
	seq = max(seq, l.pendingSeq) // a .txnindex write is covered too
	if epochChanged {
		if err := l.epochs.persist(); err != nil {
			return res, l.failLocked(err)
		}
	}

	newEnd := metas[len(metas)-1].LastOffset + 1
	if invariants.Enabled && newEnd <= next {
		panic(fmt.Sprintf("%s: end offset did not advance: %d -> %d", l.tp, next, newEnd))
	}
	l.advanceRecoveryPointLocked()
	l.pendingSeq, l.pendingEnd = seq, newEnd
	l.logEndOffset.Store(newEnd)
	if !l.replicated {
		l.highWatermark.Store(newEnd)
	}
	if txnChanged {
		l.publishUnstableLocked()
	}
	l.unflushed += records
	if l.unflushed >= l.cfg.FlushMessages {
		res.MustSync = true
		l.unflushed = 0
	}
	res.BaseOffset = next
	res.LastOffset = newEnd - 1
	res.LogStartOffset = l.logStartOffset.Load()
	res.SyncSeq = seq
	return res, nil
}

// advanceRecoveryPointLocked moves the recovery point to the end of the last append a
// completed sync covered. REQUIRES: l.mu held.
func (l *Log) advanceRecoveryPointLocked() {
	if l.pendingSeq != 0 && l.gc.Load().SyncedSeq() >= l.pendingSeq && l.pendingEnd > l.recoveryPoint.Load() {
		l.recoveryPoint.Store(l.pendingEnd)
	}
}

// failLocked turns a write error into a log directory failure: after a failed write the file
// state is unknown, so the directory goes offline like after an fsync error.
func (l *Log) failLocked(err error) error {
	l.gc.Load().Fail(fmt.Errorf("%s: %w", l.tp, err))
	return fmt.Errorf("%s: %w: %v", l.tp, ErrLogDirOffline, err)
}

func batchInfo(h *segment.Header, first, last int64) producer.BatchInfo {
	return producer.BatchInfo{
		ProducerID:    h.ProducerID,
		ProducerEpoch: h.ProducerEpoch,
		BaseSequence:  h.BaseSequence,
		LastSequence:  h.LastSequence(),
		FirstOffset:   first,
		LastOffset:    last,
		MaxTimestamp:  h.MaxTimestamp,
		Transactional: h.IsTransactional(),
	}
}

// maybeRollLocked starts a new segment when the active one is full (segment.bytes), old
// (segment.ms), has a full index, or cannot hold the offsets up to lastOffset as 32-bit
// deltas from its base. The new segment starts at the log end offset, also for a replica
// append whose first batch (firstOffset) lies past it — a compacted leader's offset gap —
// so that every segment starts where the previous one ends, the property recovery checks
// (doc.go, "Recovery"). Only when lastOffset is too far from the log end for one segment does
// the new segment start at firstOffset, after a gap (see gapRollLocked). REQUIRES: l.mu held.
func (l *Log) maybeRollLocked(size int, firstOffset, lastOffset int64) error {
	a := l.active
	overflow := lastOffset-a.BaseOffset() > math.MaxInt32
	if a.Size() == 0 && !overflow {
		return nil
	}
	full := a.Size()+int64(size) > l.cfg.SegmentBytes
	old := l.now().Sub(l.activeCreatedAt) >= l.cfg.SegmentMs
	if !full && !old && !overflow && !a.IndexFull() {
		return nil
	}
	if end := l.logEndOffset.Load(); lastOffset-end <= math.MaxInt32 {
		return l.rollLocked(end)
	}
	return l.gapRollLocked(firstOffset, lastOffset)
}

// gapRollLocked starts a segment at firstOffset, after an offset gap too long for one segment
// (lastOffset is more than 2³¹-1 past the log end). Recovery tells such a gap from a lost
// tail by its length: a segment created at a roll to the log end starts at most 2³¹ past the
// previous segment's base (its last batch's offsets are 32-bit deltas from that base), so a
// longer gap was made here, and the active segment's data was synced before it: nothing
// below the gap can be missing. The sync under l.mu is the price of a rare event (a follower
// copying more than 2³¹ offsets a leader's cleaner removed). REQUIRES: l.mu held.
func (l *Log) gapRollLocked(firstOffset, lastOffset int64) error {
	base := l.active.BaseOffset()
	switch {
	case lastOffset-firstOffset > math.MaxInt32:
		return fmt.Errorf("%s: batches at offsets %d to %d do not fit one segment's 32-bit offset deltas: %w", l.tp, firstOffset, lastOffset, ErrInvalidRecord)
	case !gapRollSpan(base, firstOffset):
		return fmt.Errorf("%s: batch at offset %d (last %d) needs a new segment after the log end %d, within 2^31 of the active segment's base %d, where recovery could not tell the gap from a lost tail: %w",
			l.tp, firstOffset, lastOffset, l.logEndOffset.Load(), base, ErrInvalidRecord)
	}
	if err := l.active.File().Sync(); err != nil {
		return l.failLocked(err)
	}
	return l.rollLocked(firstOffset)
}

// gapRollSpan reports whether a segment starting at next may follow a segment based at prev
// after an offset gap: only a gap roll makes segments more than 2³¹ offsets apart.
func gapRollSpan(prev, next int64) bool { return next-prev > math.MaxInt32+1 }

// rollLocked seals the active segment and starts a new one at base. REQUIRES: l.mu held.
func (l *Log) rollLocked(base int64) error {
	l.closeTxnFileLocked()
	if err := l.active.Seal(); err != nil {
		return l.failLocked(err)
	}
	seg, err := segment.Create(l.fs, l.dir, base, l.cfg.segmentConfig())
	if err != nil {
		return l.failLocked(err)
	}
	// The new files' directory entries are synced by the next group commit round, before any
	// append to the new segment is acknowledged. The sealed segment's indexes are synced after
	// l.mu is released (they are rebuildable, so this is for restart speed, not safety).
	if _, err := l.gc.Load().MarkDirDirty(l.dir); err != nil {
		return err
	}
	l.pendingIndexSync = l.active
	segs := l.segments()
	segs[len(segs)-1].setActive(false)
	h := newSegHandle(l.fs, l.gc.Load(), l.log, l.dir, base, l.cfg.segmentConfig(), seg)
	h.setActive(true)
	l.setSegments(append(segs[:len(segs):len(segs)], h))
	l.active = seg
	l.activeCreatedAt = l.now()
	// Snapshot the producer state at the roll (Kafka does the same) so recovery replays at most
	// one segment; the file is written after l.mu is released.
	l.pendingSnapshot = &producerSnapshot{offset: base, data: l.producers.MarshalSnapshot(nil)}
	return nil
}

// WaitDurable blocks until the append with sync sequence seq is on disk.
func (l *Log) WaitDurable(seq uint64) error { return l.gc.Load().Wait(seq) }

// NotifyDurable calls fn once the append with sync sequence seq is on disk (or failed).
// fn runs on the log directory's flusher goroutine and must not block.
func (l *Log) NotifyDurable(seq uint64, fn func(error)) { l.gc.Load().Notify(seq, fn) }

// Read returns the record batches starting at the batch that contains offset: at most maxBytes
// (except that the first batch is returned whole even when larger), ending at a batch boundary,
// and not past upTo (the high watermark, or the end offset for replicas). An offset equal to
// upTo yields an empty Region. The caller must Release the Region.
func (l *Log) Read(offset int64, maxBytes int32, upTo int64) (Region, error) {
	if offset < l.logStartOffset.Load() || offset > l.logEndOffset.Load() {
		return Region{}, fmt.Errorf("%s: offset %d not in [%d, %d]: %w", l.tp, offset, l.logStartOffset.Load(), l.logEndOffset.Load(), ErrOffsetOutOfRange)
	}
	if offset >= upTo {
		return Region{}, nil
	}
	segs := l.segments()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	for reloads := 0; i < len(segs); i++ {
		seg, err := segs[i].acquire()
		if errors.Is(err, errSegmentDropped) {
			if reloads++; reloads > maxReadReloads {
				continue // deleted by retention while we looked: the offset moved on
			}
			// Replaced by the cleaner (or deleted) while we looked: look again in the
			// current list.
			segs = l.segments()
			i = max(sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })-1, 0) - 1
			continue
		}
		if err != nil {
			return Region{}, err
		}
		r, ok, err := readSegment(seg, offset, maxBytes, upTo)
		if err != nil || !ok {
			segs[i].release()
			if err != nil {
				return Region{}, fmt.Errorf("%s: %w", l.tp, err)
			}
			continue
		}
		r.h = segs[i]
		return r, nil
	}
	return Region{}, nil
}

// maxReadReloads bounds how often one Read reloads the segment list after finding a segment
// dropped: a writer drops segments just before it publishes the list without them.
const maxReadReloads = 3

// readSegment finds the region of seg for a Read; ok is false when seg has no batch at or
// after offset below upTo.
func readSegment(seg *segment.Segment, offset int64, maxBytes int32, upTo int64) (Region, bool, error) {
	pos, h, found, err := seg.Find(offset)
	if err != nil || !found || h.BaseOffset >= upTo {
		return Region{}, false, err
	}
	end := seg.Size()
	if upTo < seg.NextOffset() {
		upPos, _, found, err := seg.Find(upTo)
		if err != nil {
			return Region{}, false, err
		}
		if found {
			end = upPos
		}
	}
	first := pos + int64(h.Size())
	limit := pos + int64(maxBytes)
	switch {
	case first >= end || limit <= first:
		end = min(first, end)
	case limit < end:
		if end, err = seg.BoundaryAtOrBefore(first, limit); err != nil {
			return Region{}, false, err
		}
	}
	return Region{File: seg.File(), Pos: pos, Len: end - pos}, true, nil
}

// OffsetForTimestamp returns the offset of the first batch whose MaxTimestamp is >= ts (Kafka's
// ListOffsets by time), with found=false when every record is older.
func (l *Log) OffsetForTimestamp(ts int64) (int64, bool, error) {
	for _, h := range l.segments() {
		seg, err := h.acquire()
		if errors.Is(err, errSegmentDropped) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		off, found, err := seg.FindTimestamp(ts)
		h.release()
		if err != nil {
			return 0, false, err
		}
		if found {
			return max(off, l.logStartOffset.Load()), true, nil
		}
	}
	return 0, false, nil
}

// MaxTimestamp returns the largest record timestamp in the log and the offset of its batch,
// or -1, -1 for an empty log (ListOffsets MAX_TIMESTAMP).
func (l *Log) MaxTimestamp() (ts int64, offset int64, err error) {
	ts, offset = -1, -1
	for _, h := range l.segments() {
		seg, err := h.acquire()
		if errors.Is(err, errSegmentDropped) {
			continue
		}
		if err != nil {
			return -1, -1, err
		}
		if mt := seg.MaxTimestamp(); mt > ts {
			if o, found, ferr := seg.FindTimestamp(mt); ferr == nil && found {
				ts, offset = mt, o
			}
		}
		h.release()
	}
	return ts, offset, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this log (see the package function
// EndOffsetForEpoch for Kafka's semantics).
func (l *Log) EndOffsetForEpoch(epoch int32) EpochEndOffset {
	l.mu.Lock()
	defer l.mu.Unlock()
	return EndOffsetForEpoch(l.epochs.entries, epoch, l.logEndOffset.Load())
}

// AssignEpochStartOffset records that leader epoch epoch starts at offset, if epoch is newer
// than the log's latest (Kafka's maybeAssignEpochStartOffset). A new leader calls it with its
// log end offset when elected, so OffsetForLeaderEpoch for its current epoch answers its log
// end before it has appended anything in that epoch.
func (l *Log) AssignEpochStartOffset(epoch int32, offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset < 0 || offset > l.logEndOffset.Load() {
		return fmt.Errorf("%s: epoch %d start %d beyond the end offset %d: %w", l.tp, epoch, offset, l.logEndOffset.Load(), ErrOffsetOutOfRange)
	}
	if !l.epochs.assign(epoch, offset) {
		return nil
	}
	if err := l.epochs.persist(); err != nil {
		return l.failLocked(err)
	}
	return nil
}

// EpochEntries returns a copy of the log's leader-epoch history, oldest first (a follower
// compares it with its leader's to find where the logs diverge).
func (l *Log) EpochEntries() []EpochEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]EpochEntry(nil), l.epochs.entries...)
}

// LatestEpoch returns the newest leader epoch in the log, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, _ := l.epochs.latest()
	return e.Epoch
}

// Size is the total size of the log's segment files in bytes.
func (l *Log) Size() int64 {
	var n int64
	for _, h := range l.segments() {
		n += h.size()
	}
	return n
}

// Segments is the number of segments.
func (l *Log) Segments() int { return len(l.segments()) }

// TruncateTo removes every record at or after offset (a replica diverging from its leader). The
// batch containing offset is removed whole. Epoch entries starting at or after the new end
// offset go too, even when no record does (Kafka's truncateTo): a leader may have recorded its
// epoch when elected and lost leadership before appending in it.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset >= l.logEndOffset.Load() {
		return l.truncateEpochsLocked(l.logEndOffset.Load())
	}
	l.resets++
	if offset < l.logStartOffset.Load() {
		offset = l.logStartOffset.Load()
	}
	segs := l.segments()
	keep := len(segs)
	for keep > 1 && segs[keep-1].base >= offset {
		keep--
	}
	for _, h := range segs[keep:] {
		h.drop()
	}
	segs = segs[:keep:keep]
	last := segs[keep-1]
	seg, err := last.acquire()
	if err != nil {
		return err
	}
	defer last.release()
	if _, err := seg.TruncateTo(offset); err != nil {
		return l.failLocked(err)
	}
	if seg != l.active {
		// Reopen as the active segment with preallocated indexes.
		l.active = seg
		last.setActive(true)
	}
	l.setSegments(segs)
	end := seg.NextOffset()
	if l.logStartOffset.Load() > end {
		// The batch holding the log start was removed whole: the log is now empty at end
		// (Kafka likewise lowers the log start to the truncation point). Lowered before the
		// end so readers never see start > end.
		l.logStartOffset.Store(end)
	}
	l.logEndOffset.Store(end)
	if l.highWatermark.Load() > end {
		l.highWatermark.Store(end)
	}
	if l.recoveryPoint.Load() > end {
		l.recoveryPoint.Store(end)
	}
	l.pendingSeq, l.pendingEnd = 0, 0
	if err := l.truncateEpochsLocked(end); err != nil {
		return err
	}
	return l.rebuildProducerStateLocked(false)
}

// truncateEpochsLocked drops the epoch entries starting at or after end. REQUIRES: l.mu held.
func (l *Log) truncateEpochsLocked(end int64) error {
	if l.epochs.truncateFromEnd(end) {
		if err := l.epochs.persist(); err != nil {
			return l.failLocked(err)
		}
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset (Kafka's
// truncateFullyAndStartAt): a follower whose log ends below its leader's log start cannot
// fetch what it misses, so it drops everything and continues from the leader's log start. The
// log start, end, high watermark and recovery point all become offset; the epoch history and
// producer state (snapshots included) are cleared.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%s: restart at %d: %w", l.tp, offset, ErrOffsetOutOfRange)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.resets++
	segs := l.segments()
	// A segment already based at offset is emptied and kept: a new one could not take its
	// file names while a reader still holds the old files. The others' names are removed now
	// even if a reader holds them (its open descriptors stay valid): deferred to the reader's
	// release, a crash before then would bring them back, and recovery, seeing a gap before
	// the new segment, would keep the old records and drop the new ones.
	var keep *segHandle
	for _, h := range segs {
		if h.base == offset {
			keep = h
			continue
		}
		h.drop()
		if err := segment.RemoveFiles(l.fs, l.dir, h.base); err != nil {
			return l.failLocked(err)
		}
	}
	var seg *segment.Segment
	if keep != nil {
		s, err := keep.acquire()
		if err != nil {
			return err
		}
		defer keep.release()
		if _, err := s.TruncateTo(offset); err != nil {
			return l.failLocked(err)
		}
		seg = s
		keep.setActive(true)
	} else {
		s, err := segment.Create(l.fs, l.dir, offset, l.cfg.segmentConfig())
		if err != nil {
			return l.failLocked(err)
		}
		seg = s
		keep = newSegHandle(l.fs, l.gc.Load(), l.log, l.dir, offset, l.cfg.segmentConfig(), s)
		keep.setActive(true)
	}
	// The removals and the new files' entries become durable with the next group commit
	// round, before any append to the new segment is acknowledged.
	if _, err := l.gc.Load().MarkDirDirty(l.dir); err != nil {
		return err
	}
	l.setSegments([]*segHandle{keep})
	l.active = seg
	l.activeCreatedAt = l.now()
	// Keep start <= end for lock-free readers at every step.
	if offset >= l.logEndOffset.Load() {
		l.logEndOffset.Store(offset)
		l.logStartOffset.Store(offset)
	} else {
		l.logStartOffset.Store(offset)
		l.logEndOffset.Store(offset)
	}
	l.highWatermark.Store(offset)
	l.recoveryPoint.Store(offset)
	l.pendingSeq, l.pendingEnd = 0, 0
	if l.epochs.clear() {
		if err := l.epochs.persist(); err != nil {
			return l.failLocked(err)
		}
	}
	snaps, err := l.snapshotOffsets()
	if err != nil {
		return err
	}
	for _, off := range snaps {
		l.fs.Remove(filepath.Join(l.dir, segment.FileName(off, snapshotSuffix)))
	}
	l.producers = producer.New()
	l.aborted.Store(nil)
	l.ended = nil
	l.publishUnstableLocked()
	return l.rewriteTxnIndexesLocked(offset)
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords) and deletes the
// segments wholly below it. offset must not pass the high watermark. It returns the new log
// start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if offset < 0 || offset > l.highWatermark.Load() {
		return 0, fmt.Errorf("%s: delete before %d, high watermark %d: %w", l.tp, offset, l.highWatermark.Load(), ErrOffsetOutOfRange)
	}
	if offset > l.logStartOffset.Load() {
		l.logStartOffset.Store(offset)
		if l.epochs.truncateFromStart(offset) {
			if err := l.epochs.persist(); err != nil {
				return 0, l.failLocked(err)
			}
		}
	}
	l.deleteBelowStartLocked()
	return l.logStartOffset.Load(), nil
}

// deleteBelowStartLocked drops leading segments whose every offset is below the log start
// offset (never the active one). REQUIRES: l.mu held.
func (l *Log) deleteBelowStartLocked() {
	segs := l.segments()
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= l.logStartOffset.Load() {
		n++
	}
	if n > 0 {
		l.dropLeadingLocked(n)
	}
}

// dropLeadingLocked removes the first n segments. REQUIRES: l.mu held.
func (l *Log) dropLeadingLocked(n int) {
	segs := l.segments()
	for _, h := range segs[:n] {
		h.drop()
	}
	rest := append([]*segHandle(nil), segs[n:]...)
	l.setSegments(rest)
	if b := rest[0].base; b > l.logStartOffset.Load() {
		l.logStartOffset.Store(b)
	}
	l.producers.RemoveBefore(l.logStartOffset.Load())
	l.dropAbortedBelowLocked(rest[0].base)
	l.publishUnstableLocked()
	l.gc.Load().MarkDirDirty(l.dir) // an error here is the directory's failure, reported by the next append
}

// ApplyRetention deletes whole segments older than retention.ms, by their largest
// timestamp, and oldest-first while the log exceeds retention.bytes. The active segment goes
// too once every record in it is past retention (Kafka's UnifiedLog.deletableSegments): a new
// empty segment is rolled at the log end first, so the log becomes empty at its end offset.
// Nothing at or past the high watermark is deleted, and an empty active segment never is. It
// returns the number of segments deleted.
func (l *Log) ApplyRetention() (int, error) {
	l.mu.Lock()
	n, err := l.applyRetentionLocked()
	snap := l.pendingSnapshot
	// A roll here seals the segment deleted right after: its indexes need no sync.
	l.pendingSnapshot, l.pendingIndexSync = nil, nil
	l.mu.Unlock()
	if snap != nil {
		l.writeSnapshot(snap)
	}
	return n, err
}

// REQUIRES: l.mu held.
func (l *Log) applyRetentionLocked() (int, error) {
	if l.closed {
		return 0, ErrClosed
	}
	if !l.cfg.deletes() {
		return 0, nil // compact only: the cleaner, not retention, removes records
	}
	segs := l.segments()
	limit := len(segs) // how many segments may go: all, unless the active one is empty
	if segs[len(segs)-1].size() == 0 {
		limit--
	}
	n := 0
	if l.cfg.RetentionMs >= 0 {
		cutoff := l.now().Add(-l.cfg.RetentionMs).UnixMilli()
		for n < limit {
			seg, err := segs[n].acquire()
			if err != nil {
				return 0, err
			}
			mt := seg.MaxTimestamp()
			segs[n].release()
			if mt < 0 || mt >= cutoff {
				// No timestamp (empty) or still young: Kafka then keeps it too.
				break
			}
			n++
		}
	}
	if l.cfg.RetentionBytes >= 0 {
		total := int64(0)
		for _, h := range segs {
			total += h.size()
		}
		for _, h := range segs[:n] {
			total -= h.size()
		}
		for n < limit && total-segs[n].size() >= l.cfg.RetentionBytes {
			total -= segs[n].size()
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	// The high watermark may lag behind the end of the deleted segments only on a replica
	// that is catching up; never delete past it.
	end := l.logEndOffset.Load()
	if n < len(segs) {
		end = segs[n].base
	}
	if end > l.highWatermark.Load() {
		return 0, nil
	}
	if n == len(segs) {
		if err := l.rollLocked(end); err != nil {
			return 0, err
		}
	}
	for _, h := range segs[:n] {
		l.log.Info("deleting segment by retention", "partition", l.tp.String(), "base_offset", h.base, "bytes", h.size())
	}
	l.dropLeadingLocked(n)
	return n, nil
}

// closeIdleSegments closes the files of non-active segments unused since idleSince.
func (l *Log) closeIdleSegments(idleSince time.Time) int {
	n := 0
	for _, h := range l.segments() {
		if h.closeIfIdle(idleSince) {
			n++
		}
	}
	return n
}

// NotifyFlushed calls fn once everything appended so far is synced, with Flush's error (the
// directory failed), like NotifyDurable for the whole log. It does not advance the recovery
// point (the next Flush or periodic flush does). fn must not block.
func (l *Log) NotifyFlushed(fn func(error)) { l.gc.Load().NotifyFlush(fn) }

// Flush syncs everything appended so far and advances the recovery point.
func (l *Log) Flush() error {
	if err := l.gc.Load().Flush(); err != nil {
		return err
	}
	l.mu.Lock()
	l.advanceRecoveryPointLocked()
	l.mu.Unlock()
	return nil
}

// close syncs and closes the log's files, writing a producer state snapshot at the end offset.
func (l *Log) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.closeTxnFileLocked()
	err := l.writeProducerSnapshotLocked(l.logEndOffset.Load())
	if serr := l.active.SyncIndexes(); err == nil {
		err = serr
	}
	if cerr := l.closeSegments(); err == nil {
		err = cerr
	}
	return err
}

// closeSegments closes every open segment's files.
func (l *Log) closeSegments() error {
	var err error
	for _, h := range l.segments() {
		if cerr := h.close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Producer state snapshots: "<20-digit offset>.snapshot" holds the state after every batch
// below offset. The two newest are kept.
const snapshotSuffix = ".snapshot"

// producerSnapshot is a serialized producer state waiting to be written.
type producerSnapshot struct {
	offset int64
	data   []byte
}

// writeSnapshot writes a snapshot taken at a roll, without l.mu (it fsyncs). snapMu keeps
// concurrent writers from racing on the cleanup of old snapshots.
func (l *Log) writeSnapshot(s *producerSnapshot) {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if err := l.writeProducerSnapshot(s.offset, s.data); err != nil {
		l.log.Warn("producer state snapshot failed", "partition", l.tp.String(), "err", err)
	}
}

// writeProducerSnapshotLocked writes the current state as of offset. REQUIRES: l.mu held
// (used at close, when nothing else runs).
func (l *Log) writeProducerSnapshotLocked(offset int64) error {
	return l.writeProducerSnapshot(offset, l.producers.MarshalSnapshot(nil))
}

func (l *Log) writeProducerSnapshot(offset int64, data []byte) error {
	name := filepath.Join(l.dir, segment.FileName(offset, snapshotSuffix))
	if err := vfs.WriteFileAtomic(l.fs, l.dir, name, data); err != nil {
		return err
	}
	snaps, err := l.snapshotOffsets()
	if err != nil {
		return err
	}
	for len(snaps) > 2 {
		l.fs.Remove(filepath.Join(l.dir, segment.FileName(snaps[0], snapshotSuffix)))
		snaps = snaps[1:]
	}
	return nil
}

// snapshotOffsets lists the offsets of the partition's producer snapshots, ascending.
func (l *Log) snapshotOffsets() ([]int64, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, n := range names {
		if off, ok := parseOffsetName(n, snapshotSuffix); ok {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}

// parseOffsetName parses "<20 digits><suffix>".
func parseOffsetName(name, suffix string) (int64, bool) {
	if len(name) != 20+len(suffix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	off, err := strconv.ParseInt(name[:20], 10, 64)
	return off, err == nil && off >= 0
}

// rebuildProducerStateLocked loads the newest snapshot at or below the end offset (none when
// fromStart) and replays the batch headers after it, rebuilding the aborted transactions
// (and their .txnindex files) from the same offset. REQUIRES: l.mu held.
func (l *Log) rebuildProducerStateLocked(fromStart bool) error {
	end := l.logEndOffset.Load()
	snaps, err := l.snapshotOffsets()
	if err != nil {
		return err
	}
	if fromStart {
		snaps = nil
	}
	state, from := producer.New(), l.logStartOffset.Load()
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i] > end {
			l.fs.Remove(filepath.Join(l.dir, segment.FileName(snaps[i], snapshotSuffix)))
			continue
		}
		data, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, segment.FileName(snaps[i], snapshotSuffix)))
		if err == nil {
			if s, uerr := producer.UnmarshalSnapshot(data); uerr == nil {
				state, from = s, max(snaps[i], from)
				break
			} else {
				l.log.Warn("ignoring corrupt producer snapshot", "partition", l.tp.String(), "offset", snaps[i], "err", uerr)
			}
		}
	}
	all := l.abortedList()
	aborted := append([]AbortedTxn(nil), all[:sort.Search(len(all), func(i int) bool { return all[i].LastOffset >= from })]...)
	var ended []producer.CompletedTxn
	var replayErr error
	if err := l.scanBatches(from, func(h *segment.Header, body func() ([]byte, error)) {
		c, err := applyBatch(state, h, body)
		if err != nil {
			replayErr = err
		}
		if c == nil {
			return
		}
		ended = append(ended, *c)
		if c.Aborted {
			aborted = append(aborted, abortedEntry(state, *c))
		}
	}); err != nil {
		return err
	}
	if replayErr != nil {
		l.log.Warn("unreadable transaction marker in the log", "partition", l.tp.String(), "err", replayErr)
	}
	state.RemoveBefore(l.logStartOffset.Load())
	l.producers = state
	l.aborted.Store(&aborted)
	l.ended = nil
	if l.replicated {
		l.ended = ended
	}
	l.publishUnstableLocked()
	return l.rewriteTxnIndexesLocked(from)
}

// scanBatches calls fn for each batch header at or after offset, with a function that reads
// the whole batch.
func (l *Log) scanBatches(offset int64, fn func(h *segment.Header, body func() ([]byte, error))) error {
	segs := l.segments()
	for i, h := range segs {
		if i+1 < len(segs) && segs[i+1].base <= offset {
			continue
		}
		seg, err := h.acquire()
		if errors.Is(err, errSegmentDropped) {
			continue
		}
		if err != nil {
			return err
		}
		err = seg.ScanHeadersAt(offset, func(bh *segment.Header, pos int64) {
			fn(bh, func() ([]byte, error) {
				b := make([]byte, bh.Size())
				_, err := seg.File().ReadAt(b, pos)
				return b, err
			})
		})
		h.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// scanHeaders calls fn for each batch header at or after offset.
func (l *Log) scanHeaders(offset int64, fn func(h *segment.Header)) error {
	return l.scanBatches(offset, func(h *segment.Header, _ func() ([]byte, error)) { fn(h) })
}
