package engine

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/internal/invariants"
	"github.com/logd/logd/segment"
)

// One clean of one log (Kafka's Cleaner.doClean). See doc.go, "Compaction", for the whole.

// File name suffixes of the swap protocol (Kafka's): a cleaned segment is written as
// <base>.log.cleaned (and its indexes), renamed to .swap once complete and synced (the commit
// point), the segments it replaces are renamed to .deleted, and the .swap files take the log's
// names. Open finishes or rolls back whatever a crash interrupted (recoverSwaps).
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
	deletedSuffix = ".deleted"
)

// maxCleanerBatchRecords caps what one batch's records may decompress to when the cleaner or
// the compacted-topic key check reads them (a decompression bomb costs at most this). The
// cleaner keeps a batch it cannot decompress within the cap whole.
const maxCleanerBatchRecords = 64 << 20

// CleanStats reports one clean of one log.
type CleanStats struct {
	FirstDirty    int64 // the dirty section began here
	EndOffset     int64 // the log is clean below this offset now (cleaner-offset-checkpoint)
	BytesRead     int64 // segment bytes read (the offset map pass and the copy)
	BytesWritten  int64 // cleaned segment bytes written
	SegmentsIn    int   // segments replaced
	SegmentsOut   int   // cleaned segments that replaced them
	RecordsKept   int64
	RecordsGone   int64 // superseded records, expired tombstones, keyless records
	BatchesEmpied int64 // batches kept empty (a producer's last, the round's last)
	// NextHorizon is the earliest delete horizon of a tombstone or transaction marker the
	// clean kept (ms; 0: none): a clean after it removes it, even if nothing new is dirty.
	NextHorizon int64
}

// errCleanAborted means the log changed under the cleaner (truncation, retention, close):
// the clean is dropped, nothing was swapped.
var errCleanAborted = errors.New("clean aborted: the log changed")

// errDedupeBufferFull means not one batch of the dirty section fits the offset map.
var errDedupeBufferFull = errors.New("log.cleaner.dedupe.buffer.size too small for one batch of the dirty section")

// offsetMap maps an MD5 of each key to the key's last offset in the dirty section (Kafka's
// SkimpyOffsetMap). Its size is bounded: at most max entries, Kafka's count for the dedupe
// buffer (24 bytes per entry at load factor 0.9).
type offsetMap struct {
	m   map[[md5.Size]byte]int64
	max int
}

func newOffsetMap(bufferBytes int64) *offsetMap {
	n := int(float64(bufferBytes) / (md5.Size + 8) * 0.9)
	return &offsetMap{m: map[[md5.Size]byte]int64{}, max: max(n, 1)}
}

// cleanParams are what the cleaner thread hands one clean.
type cleanParams struct {
	firstDirty int64
	now        time.Time
	offsets    *offsetMap
	throttle   *throttler
	stop       <-chan struct{} // closed when the engine shuts down: abort between batches
	// force recopies the cleanable segments even when nothing is dirty and no tombstone is
	// due (Engine.Clean).
	force bool
	bufs  *cleanBuffers // the clean's reused buffers
	// recoveryPoint is the log's checkpointed recovery point: the clean rewrites only
	// segments that end at or below it (Engine.checkpointForClean).
	recoveryPoint int64
}

// cleanBuffers are one clean's read and write buffers (Kafka's Cleaner keeps the same pair
// per thread), reused for every segment it reads and every group it writes. Allocated per
// segment and grown per group, they made about 160 MB/s of garbage at 70 MB/s cleaned, and
// the collections it caused put their assists and pauses on the produce path
// (BenchmarkProduceWhileCleaning, bench/results/2026-12-07-compaction.md).
type cleanBuffers struct {
	read  []byte              // forEachBatch's segment reads; grows to the largest batch
	write []byte              // cleanedWriter's pending batches
	metas []segment.BatchMeta // their index entries
	// recs holds one batch's decompressed records (the key map's pass and filterBatch),
	// body and packed a re-encoded batch's records before and after compression, out the
	// re-encoded batch, retained its records. Decompressing into a fresh buffer per batch
	// made a zstd clean of 32 MiB allocate 688 MiB (BenchmarkClean).
	recs, body, packed, out []byte
	retained                []kmsg.Record
	record                  kmsg.Record // forEachRecord's decoding target
}

func newCleanBuffers() *cleanBuffers {
	return &cleanBuffers{read: make([]byte, 0, 1<<20), write: make([]byte, 0, cleanedWriteBuffer+cleanedWriteBuffer/4)}
}

// cleanable lists the segments a clean may rewrite: the leading non-active segments that lie
// wholly below limit (at most the last stable offset) and are older than
// min.compaction.lag.ms. It returns them with the bytes before and after firstDirty, and
// whether max.compaction.lag.ms forces a clean; end is the base of the first segment not
// cleanable.
func (l *Log) cleanable(cfg *LogConfig, firstDirty, limit int64, now time.Time) (segs []*segHandle, end, cleanBytes, dirtyBytes int64, overdue bool) {
	all := l.segments()
	minLagCutoff := now.Add(-cfg.MinCompactionLag).UnixMilli()
	k := 0
	for ; k+1 < len(all) && all[k+1].base <= limit; k++ {
		if cfg.MinCompactionLag > 0 {
			seg, err := all[k].acquire()
			if err != nil {
				break
			}
			young := seg.MaxTimestamp() > minLagCutoff
			all[k].release()
			if young {
				break
			}
		}
	}
	segs, end = all[:k], all[k].base
	for i, h := range segs {
		end := all[i+1].base
		switch {
		case end <= firstDirty:
			cleanBytes += h.size()
		default:
			dirtyBytes += h.size()
			if overdue || cfg.MaxCompactionLag == never {
				continue
			}
			if seg, err := h.acquire(); err == nil {
				// The segment's newest record is a lower bound for the age of its oldest dirty
				// one's: a clean is overdue once even the newest is past the lag.
				overdue = seg.MaxTimestamp() >= 0 && seg.MaxTimestamp() < now.Add(-cfg.MaxCompactionLag).UnixMilli()
				h.release()
			}
		}
	}
	return segs, end, cleanBytes, dirtyBytes, overdue
}

// clean compacts the log once: it maps the dirty section's keys to their last offsets, then
// recopies every cleanable segment from the log start, group by group, swapping each cleaned
// group in under l.mu. No lock is held while reading or writing segment data.
func (l *Log) clean(p cleanParams) (CleanStats, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return CleanStats{}, ErrClosed
	}
	cfg := l.cfg
	lastOfProducer := map[int64]int64{}
	for _, e := range l.producers.Entries() {
		lastOfProducer[e.ProducerID] = e.LastOffset
	}
	l.mu.Unlock()

	firstDirty := max(p.firstDirty, l.LogStartOffset())
	if firstDirty > l.LogEndOffset() {
		firstDirty = l.LogStartOffset() // the log was truncated or restarted below the checkpoint
	}
	st := CleanStats{FirstDirty: firstDirty, EndOffset: firstDirty}
	limit := min(l.LastStableOffset(), p.recoveryPoint)
	segs, end, _, dirty, _ := l.cleanable(&cfg, firstDirty, limit, p.now)
	if len(segs) == 0 || (dirty == 0 && !p.force && !l.tombstonesDue(p.now)) {
		return st, nil
	}
	if invariants.Enabled && end > p.recoveryPoint {
		// Recovery would examine the cleaned segments' boundaries (doc.go, "Recovery").
		panic(fmt.Sprintf("%s: clean up to %d past the checkpointed recovery point %d", l.tp, end, p.recoveryPoint))
	}
	// Hold a reference on every segment involved: a reader's, so nothing is removed under us.
	held := make([]*segHandle, 0, len(segs))
	defer func() {
		for _, h := range held {
			h.release()
		}
	}()
	for _, h := range segs {
		if _, err := h.acquire(); err != nil {
			if errors.Is(err, errSegmentDropped) {
				return st, errCleanAborted
			}
			return st, err
		}
		held = append(held, h)
	}
	sizes := make([]int64, len(segs))
	for i, h := range segs {
		sizes[i] = h.size()
	}
	endOffset, err := l.buildOffsetMap(segs, firstDirty, end, p, &st)
	if err != nil {
		return st, err
	}
	st.EndOffset = endOffset
	n := 0 // segments to recopy: every one holding an offset below endOffset
	for n < len(segs) && segs[n].base < endOffset {
		n++
	}
	horizon := p.now.Add(cfg.DeleteRetention).UnixMilli()
	f := cleanFilter{
		offsets: p.offsets, endOffset: endOffset, roundEnd: end, now: p.now.UnixMilli(), horizon: horizon,
		lastOfProducer: lastOfProducer, txns: newCleanTxns(l.abortedList()),
	}
	for i := 0; i < n; {
		j := groupEnd(segs[:n], sizes[:n], i, cfg.SegmentBytes)
		if err := l.cleanGroup(segs[i:j], sizes[i:j], &cfg, p, &f, &st); err != nil {
			return st, err
		}
		i = j
	}
	l.deleteHorizon.Store(st.NextHorizon)
	return st, nil
}

// tombstonesDue reports whether a tombstone the last clean kept has reached its delete
// horizon. After a restart it is unknown until the next clean: tombstones may then stay
// longer than delete.retention.ms, never shorter.
func (l *Log) tombstonesDue(now time.Time) bool {
	h := l.deleteHorizon.Load()
	return h > 0 && h <= now.UnixMilli()
}

// buildOffsetMap reads the dirty section [firstDirty, end) and records each key's last offset.
// It stops before the first batch that would overflow the map and returns where it stopped:
// the clean then covers only the section mapped (Kafka does the same).
func (l *Log) buildOffsetMap(segs []*segHandle, firstDirty, end int64, p cleanParams, st *CleanStats) (int64, error) {
	clear(p.offsets.m)
	var stopAt int64 = -1
	for i, h := range segs {
		if i+1 < len(segs) && segs[i+1].base <= firstDirty {
			continue
		}
		seg, err := h.acquire()
		if err != nil {
			return 0, err
		}
		err = forEachBatch(seg, p, st, func(h *segment.Header, batch []byte) (bool, error) {
			if h.LastOffset() < firstDirty || h.IsControl() || (h.IsTransactional() && l.isAborted(h)) {
				return true, nil
			}
			if len(p.offsets.m)+int(h.RecordCount) > p.offsets.max {
				stopAt = h.BaseOffset
				return false, nil
			}
			recs, err := compress.AppendDecompressed(p.bufs.recs[:0], h.Compression(), batch[segment.HeaderSize:], maxCleanerBatchRecords)
			if err != nil {
				return true, nil // kept whole by the copy, its keys unmapped: nothing is lost
			}
			if h.Compression() != segment.CompressionNone {
				p.bufs.recs = recs
			}
			return true, forEachRecord(recs, h.RecordCount, &p.bufs.record, func(r *kmsg.Record) {
				if r.Key != nil {
					p.offsets.m[md5.Sum(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				}
			})
		})
		h.release()
		if err != nil {
			return 0, err
		}
		if stopAt >= 0 {
			if stopAt <= firstDirty {
				return 0, errDedupeBufferFull
			}
			return stopAt, nil
		}
	}
	return end, nil
}

// groupEnd returns the end j of the group starting at segs[i]: the consecutive segments
// segs[i:j] whose sizes add up to at most maxBytes and whose offsets fit 32-bit deltas from
// segs[i]'s base (Kafka's groupSegmentsBySize). Each group becomes one cleaned segment.
func groupEnd(segs []*segHandle, sizes []int64, i int, maxBytes int64) int {
	j, total := i+1, sizes[i]
	for j < len(segs) && total+sizes[j] <= maxBytes && segs[j].base-segs[i].base < math.MaxInt32/2 {
		total += sizes[j]
		j++
	}
	return j
}

// cleanFilter decides which records and batches a clean keeps.
type cleanFilter struct {
	offsets        *offsetMap
	endOffset      int64           // records at or past it were not mapped: kept
	roundEnd       int64           // the first offset the round cannot clean (Kafka's upper bound)
	now            int64           // ms
	horizon        int64           // the delete horizon given to tombstones reached now (ms)
	lastOfProducer map[int64]int64 // producer id -> its last batch's last offset
	txns           *cleanTxns      // the transactions walked so far
}

// cleanGroup writes the cleaned copy of one group of segments as <base>.log.cleaned and swaps
// it in.
func (l *Log) cleanGroup(group []*segHandle, sizes []int64, cfg *LogConfig, p cleanParams, f *cleanFilter, st *CleanStats) error {
	base := group[0].base
	scfg := cfg.segmentConfig()
	// Size the new indexes for the group, not for segment.index.bytes: creating (and scanning)
	// a preallocated 10 MiB index per cleaned segment cost more than the copy in the profile.
	total := int64(0)
	for _, n := range sizes {
		total += n
	}
	scfg.MaxIndexBytes = int(min(int64(scfg.MaxIndexBytes), max(4096, (total/int64(max(scfg.IndexIntervalBytes, 1))+2)*12)))
	segment.RemoveTempFiles(l.fs, l.dir, base, cleanedSuffix) // a previous attempt's leftovers
	out, err := segment.CreateTemp(l.fs, l.dir, base, scfg, cleanedSuffix)
	if err != nil {
		return l.cleanerIOError(err)
	}
	done := false
	defer func() {
		if !done {
			out.Remove()
		}
	}()
	lastSeg, err := group[len(group)-1].acquire()
	if err != nil {
		return err
	}
	groupEnd := lastSeg.NextOffset() // the group's aborted transactions end below it
	group[len(group)-1].release()

	w := cleanedWriter{out: out, throttle: p.throttle, st: st, buf: p.bufs.write[:0], metas: p.bufs.metas[:0]}
	defer func() { p.bufs.write, p.bufs.metas = w.buf[:0], w.metas[:0] }()
	for _, h := range group {
		seg, err := h.acquire()
		if err != nil {
			return err
		}
		err = forEachBatch(seg, p, st, func(h *segment.Header, batch []byte) (bool, error) {
			// Kafka's two reasons to keep an emptied batch: the round's last batch keeps the
			// log end offset (KAFKA-17076), a producer's last keeps its sequence.
			keepEmpty := h.NextOffset() == f.roundEnd ||
				(h.ProducerID >= 0 && f.lastOfProducer[h.ProducerID] == h.LastOffset())
			if h.IsControl() {
				if kept := cleanMarker(h, batch, f, keepEmpty, st); kept != nil {
					return true, w.add(kept)
				}
				return true, nil
			}
			if kept, ok := filterBatch(h, batch, f, keepEmpty, h.IsTransactional() && f.txns.dataBatch(h), p.bufs, st); ok {
				return true, w.add(kept)
			}
			return true, nil
		})
		h.release()
		if err != nil {
			return err
		}
	}
	if err := w.flush(); err != nil {
		return l.cleanerIOError(err)
	}
	if err := out.Seal(); err != nil {
		return l.cleanerIOError(err)
	}
	if err := out.File().Sync(); err != nil {
		return l.cleanerIOError(err)
	}
	if err := out.SyncIndexes(); err != nil {
		return l.cleanerIOError(err)
	}
	size := out.Size()
	if err := out.Close(); err != nil {
		return l.cleanerIOError(err)
	}
	done = true
	if err := l.writeCleanedTxnIndex(base, groupEnd, f.txns.dropped); err != nil {
		segment.RemoveTempFiles(l.fs, l.dir, base, cleanedSuffix)
		return l.cleanerIOError(err)
	}
	if err := l.swapIn(group, sizes, size, f.txns.dropped); err != nil {
		segment.RemoveTempFiles(l.fs, l.dir, base, cleanedSuffix)
		return err
	}
	st.SegmentsIn += len(group)
	st.SegmentsOut++
	return nil
}

// cleanerIOError takes the directory offline after a failed write or sync, as for appends.
func (l *Log) cleanerIOError(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(fmt.Errorf("log cleaner: %w", err))
}

// cleanedWriter buffers the cleaned segment's batches into large appends.
type cleanedWriter struct {
	out      *segment.Segment
	throttle *throttler
	st       *CleanStats
	buf      []byte
	metas    []segment.BatchMeta
}

const cleanedWriteBuffer = 1 << 20

func (w *cleanedWriter) add(batch []byte) error {
	h, err := segment.ParseHeader(batch)
	if err != nil {
		return err
	}
	ts := h.MaxTimestamp
	if h.RecordCount == 0 {
		ts = -1 // no record: nothing for the time index to point at
	}
	w.metas = append(w.metas, segment.BatchMeta{RelPos: int32(len(w.buf)), LastOffset: h.LastOffset(), MaxTimestamp: ts})
	w.buf = append(w.buf, batch...)
	if len(w.buf) >= cleanedWriteBuffer {
		return w.flush()
	}
	return nil
}

func (w *cleanedWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.throttle.wait(len(w.buf))
	if err := w.out.Append(w.buf, w.metas); err != nil {
		return err
	}
	w.st.BytesWritten += int64(len(w.buf))
	w.buf, w.metas = w.buf[:0], w.metas[:0]
	return nil
}

// filterBatch returns the cleaned form of one batch and whether it stays: the batch itself
// when every record stays and nothing changes, a re-encoded batch (same base offset, last
// offset delta, partition leader epoch and producer fields; the same codec; a new CRC) when
// some records go or tombstones get their delete horizon, an empty batch when every record
// goes but keepEmpty says the batch must stay (a producer's last, the round's last), or
// nothing. A re-encoded batch lives in bufs, valid until the next call.
func filterBatch(h *segment.Header, batch []byte, f *cleanFilter, keepEmpty, aborted bool, bufs *cleanBuffers, st *CleanStats) ([]byte, bool) {
	if !aborted && h.BaseOffset >= f.endOffset {
		// Batches past the mapped section were not compared with anything (aborted ones go
		// whatever their keys). Control batches do not come here (cleanMarker).
		st.RecordsKept += int64(h.RecordCount)
		return batch, true
	}
	var recs []byte
	if !aborted {
		var err error
		if recs, err = compress.AppendDecompressed(bufs.recs[:0], h.Compression(), batch[segment.HeaderSize:], maxCleanerBatchRecords); err != nil {
			st.RecordsKept += int64(h.RecordCount)
			return batch, true
		}
		if h.Compression() != segment.CompressionNone {
			bufs.recs = recs
		}
	}
	hasHorizon := h.Attributes&segment.AttrDeleteHorizon != 0
	keepTombstones := !hasHorizon || f.now < h.BaseTimestamp
	setHorizon := false
	count := int32(0)
	retained := bufs.retained[:0]
	defer func() { clear(retained); bufs.retained = retained[:0] }() // drop the aliases of recs
	all := !aborted
	var err error
	if !aborted {
		err = forEachRecord(recs, h.RecordCount, &bufs.record, func(r *kmsg.Record) {
			off := h.BaseOffset + int64(r.OffsetDelta)
			keep := r.Key != nil // a keyless record cannot be compacted: Kafka drops it too
			if keep {
				if last, ok := f.offsets.m[md5.Sum(r.Key)]; ok && last > off {
					keep = false
				}
			}
			if keep && r.Value == nil {
				keep = keepTombstones
				setHorizon = setHorizon || !hasHorizon
			}
			if keep {
				retained = append(retained, *r)
				// The next record decodes its headers into r.Headers' array in place: leave
				// it to the retained copy, or every kept record gets the last one's headers.
				r.Headers = nil
				count++
			} else {
				all = false
			}
		})
	}
	if err != nil {
		st.RecordsKept += int64(h.RecordCount)
		return batch, true
	}
	st.RecordsKept += int64(count)
	st.RecordsGone += int64(h.RecordCount - count)
	if all && !setHorizon {
		return batch, true
	}
	if count == 0 {
		if !keepEmpty {
			return nil, false
		}
		st.BatchesEmpied++
		eh := *h
		eh.Attributes &^= segment.AttrCompressionMask | segment.AttrDeleteHorizon
		eh.BaseTimestamp, eh.RecordCount = h.MaxTimestamp, 0
		bufs.out = segment.AppendBatch(bufs.out[:0], eh, nil)
		return bufs.out, true
	}
	nh := *h
	if setHorizon {
		// KIP-534: the base timestamp holds the delete horizon, record timestamps stay what
		// they were (their deltas are rebased).
		nh.Attributes |= segment.AttrDeleteHorizon
		nh.BaseTimestamp = f.horizon
	}
	body := bufs.body[:0]
	if h.Attributes&segment.AttrLogAppendTime == 0 {
		nh.MaxTimestamp = -1 // the retained records' largest, as Kafka's builder computes it
	}
	for _, r := range retained {
		ts := h.BaseTimestamp + r.TimestampDelta64
		if h.Attributes&segment.AttrLogAppendTime == 0 {
			nh.MaxTimestamp = max(nh.MaxTimestamp, ts)
		}
		r.TimestampDelta64 = ts - nh.BaseTimestamp
		r.TimestampDelta = int32(r.TimestampDelta64)
		body = segment.AppendRecord(body, r)
	}
	bufs.body = body
	if h.Compression() != segment.CompressionNone {
		packed, cerr := compress.AppendCompressed(bufs.packed[:0], h.Compression(), body)
		if cerr != nil {
			return batch, true
		}
		bufs.packed, body = packed, packed
	}
	nh.RecordCount = count
	bufs.out = segment.AppendBatch(bufs.out[:0], nh, body)
	return bufs.out, true
}

// forEachRecord calls fn with each of count records in recs (a batch's decompressed records
// section), decoded into r (the caller's: a local one would escape to the heap, one allocation
// per batch). r's byte slices alias recs.
func forEachRecord(recs []byte, count int32, r *kmsg.Record, fn func(r *kmsg.Record)) error {
	for i := int32(0); i < count; i++ {
		l, n := binary.Varint(recs)
		if n <= 0 || l < 0 || int64(len(recs)-n) < l {
			return fmt.Errorf("record %d: %w", i, segment.ErrCorrupt)
		}
		if err := r.UnsafeReadFrom(recs[:n+int(l)]); err != nil {
			return fmt.Errorf("record %d: %w: %v", i, segment.ErrCorrupt, err)
		}
		recs = recs[n+int(l):]
		fn(r)
	}
	return nil
}

// forEachBatch reads a segment's batches in order, throttled, and calls fn with each header
// and its whole batch until fn returns false. The batch bytes are only valid during the call.
func forEachBatch(seg *segment.Segment, p cleanParams, st *CleanStats, fn func(h *segment.Header, batch []byte) (bool, error)) error {
	size := seg.Size()
	buf := p.bufs.read
	defer func() { p.bufs.read = buf[:0] }()
	var h segment.Header // one per segment: fn(&h) moves it to the heap
	for pos := int64(0); pos < size; {
		select {
		case <-p.stop:
			return errCleanAborted
		default:
		}
		n := min(int64(cap(buf)), size-pos)
		buf = buf[:n]
		if _, err := seg.File().ReadAt(buf, pos); err != nil {
			return err
		}
		p.throttle.wait(len(buf))
		off := 0
		for off < len(buf) {
			var err error
			h, err = segment.ParseHeader(buf[off:])
			if err != nil && !errors.Is(err, segment.ErrTruncated) {
				return err
			}
			if err != nil || off+h.Size() > len(buf) {
				if off == 0 { // one batch larger than the buffer
					buf = make([]byte, 0, max(h.Size(), segment.HeaderSize))
				}
				break
			}
			more, err := fn(&h, buf[off:off+h.Size()])
			if err != nil || !more {
				return err
			}
			off += h.Size()
		}
		pos += int64(off)
		st.BytesRead += int64(off)
	}
	return nil
}

// keyCheckBufs pools checkKeys' decompression buffers (*[]byte), so producing compressed
// batches into a compacted topic does not allocate a buffer per batch; buffers grown past
// maxPooledKeyCheckBuf by an unusually large batch are left to the collector.
var keyCheckBufs sync.Pool

const maxPooledKeyCheckBuf = 1 << 20

// checkKeys refuses a batch with a keyless record, for a compacted log (Kafka answers
// INVALID_RECORD): the cleaner could never tell which value is the last. Control batches are
// not checked; a compressed batch is decompressed within maxCleanerBatchRecords.
func checkKeys(h *segment.Header, batch []byte) error {
	if h.IsControl() {
		return nil
	}
	var recs []byte
	if h.Compression() != segment.CompressionNone {
		bp, _ := keyCheckBufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		defer func() {
			if cap(*bp) <= maxPooledKeyCheckBuf {
				keyCheckBufs.Put(bp)
			}
		}()
		recs = (*bp)[:0]
		defer func() { *bp = recs[:0] }()
	}
	recs, err := compress.AppendDecompressed(recs, h.Compression(), batch[segment.HeaderSize:], maxCleanerBatchRecords)
	if err != nil {
		return fmt.Errorf("%w: records of a compacted topic's batch: %v", ErrInvalidRecord, err)
	}
	keyless := false
	if err := forEachRecord(recs, h.RecordCount, new(kmsg.Record), func(r *kmsg.Record) { keyless = keyless || r.Key == nil }); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if keyless {
		return fmt.Errorf("%w: compacted topic does not accept records without a key", ErrInvalidRecord)
	}
	return nil
}
