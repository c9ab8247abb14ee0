package engine

import (
	"bytes"
	"errors"
	"flag"
	"math/rand"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

var stepsFlag = flag.Int("steps", 0, "operations per TestModel run (0: the default, fewer with -short)")

// TestModel runs random operations against a real Log (on real files and on MemFS) and against
// logModel, a dumb slice of batches, and compares them after every step (bbolt's
// simulation_test.go style). The segment layout is taken from the real log and checked for
// consistency with the model, so rolls need not be predicted, but everything that depends on
// the layout (Read regions, DeleteRecords and retention of whole segments) is modelled exactly.
//
// Idempotent producers: the engine forgets a producer only when it drops segments, and
// rebuilds its state from a snapshot or a scan from the log start after a truncation, so a
// producer whose batches all lie below the log start may or may not be known. The model only
// asserts a verdict where every such variant agrees (see logModel.known and logModel.ringSure).
func TestModel(t *testing.T) {
	seed := testSeed(t)
	steps := *stepsFlag
	if steps == 0 {
		steps = 3000
		if testing.Short() {
			steps = 500
		}
	}
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		r := newModelRun(t, rand.New(rand.NewSource(seed)), fs, dir)
		defer func() {
			if t.Failed() {
				t.Logf("failed at step %d (seed %d)", r.step, seed)
			}
		}()
		for r.step = 0; r.step < steps && !t.Failed(); r.step++ {
			r.randomOp()
			r.checkOffsets()
			if r.step%25 == 0 {
				r.checkAll()
			}
		}
		r.checkAll()
		r.env.close()
		t.Logf("%d steps: %d appends (%d duplicates, %d refused), %d reads, %d truncations, %d deletes, %d retention runs (%d segments), %d reopens",
			steps, r.stats.appends, r.stats.dups, r.stats.refused, r.stats.reads, r.stats.truncs, r.stats.deletes, r.stats.retentions, r.stats.segsDeleted, r.stats.reopens)
	})
}

// mBatch is one batch as the model knows it.
type mBatch struct {
	base, last int64
	maxTS      int64
	data       []byte // the bytes as stamped by Append
	pid        int64  // -1: not idempotent
	epoch      int16
	firstSeq   int32
	lastSeq    int32
	call       int // the Append call that wrote it: calls are written whole to one segment
}

func (b *mBatch) size() int64 { return int64(len(b.data)) }

// logModel is the expected state of the log.
type logModel struct {
	// batches are every batch still in a segment file, in offset order. Some may lie below
	// start (DeleteRecords moves start inside a segment, and segments are deleted whole).
	batches    []mBatch
	start, end int64
	// hist holds each idempotent producer's recent batches, oldest first; truncation removes
	// entries, deletion does not (the engine may still know them).
	hist map[int64][]mBatch
}

// known reports whether the engine must know producer pid: its newest batch is at or above the
// log start. (Below, the engine may or may not have forgotten it.)
func (m *logModel) known(pid int64) bool {
	h := m.hist[pid]
	return len(h) > 0 && h[len(h)-1].last >= m.start
}

// ring returns the producer's batches the engine retains for duplicate detection: the newest
// (up to five) of its current epoch.
func (m *logModel) ring(pid int64) []mBatch {
	h := m.hist[pid]
	if len(h) == 0 {
		return nil
	}
	ep := h[len(h)-1].epoch
	i := len(h)
	for i > 0 && h[i-1].epoch == ep && len(h)-i < 5 {
		i--
	}
	return h[i:]
}

// ringSure reports whether every variant of the engine's state holds exactly ring(pid).
func (m *logModel) ringSure(pid int64) bool {
	ring := m.ring(pid)
	return len(ring) > 0 && ring[0].last >= m.start
}

func (m *logModel) record(b mBatch) {
	m.batches = append(m.batches, b)
	m.end = b.last + 1
	if b.pid >= 0 {
		h := append(m.hist[b.pid], b)
		if len(h) > 16 {
			h = append([]mBatch(nil), h[len(h)-16:]...)
		}
		m.hist[b.pid] = h
	}
}

// find returns the index of the first batch whose last offset is >= off.
func (m *logModel) find(off int64) int {
	for i := range m.batches {
		if m.batches[i].last >= off {
			return i
		}
	}
	return len(m.batches)
}

type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	fs    vfs.FS
	env   *testEnv
	l     *Log
	cfg   LogConfig
	m     logModel
	epoch int32 // leader epoch stamped on appends
	step  int
	// maxSegBytes is the largest segment.bytes ever configured: a segment holding more than
	// one batch is never larger.
	maxSegBytes int64
	// producers' client-side epochs (a bumped epoch whose first batch was refused or truncated
	// is kept here so the producer goes on with it).
	stats struct {
		appends, dups, refused, reads, truncs, deletes, retentions, segsDeleted, reopens int
	}
}

func newModelRun(t *testing.T, rng *rand.Rand, fs vfs.FS, dir string) *modelRun {
	r := &modelRun{t: t, rng: rng, fs: fs, m: logModel{hist: map[int64][]mBatch{}}}
	r.env = newTestEnv(t, fs, dir)
	r.cfg = DefaultLogConfig
	r.cfg.SegmentBytes = 4096
	r.cfg.IndexIntervalBytes = 256
	r.cfg.MaxIndexBytes = 4096
	r.cfg.RetentionMs = -1
	r.maxSegBytes = r.cfg.SegmentBytes
	r.l = r.env.log(tp0, r.cfg)
	return r
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d: "+format, append([]any{r.step}, args...)...)
}

func (r *modelRun) randomOp() {
	r.env.clock.Advance(time.Duration(r.rng.Intn(20)) * time.Millisecond)
	switch p := r.rng.Intn(100); {
	case p < 35:
		r.appendPlain()
	case p < 55:
		r.appendIdempotent()
	case p < 75:
		r.read()
	case p < 80:
		r.offsetForTimestamp()
	case p < 84:
		r.deleteRecords()
	case p < 88:
		r.truncate()
	case p < 92:
		r.retention()
	case p < 94:
		r.reopen()
	case p < 97:
		r.changeConfig()
	default:
		r.epoch++
	}
}

// buildBatch returns a random batch. Idempotent batches stay below 2000 bytes, the smallest
// max.message.bytes the test configures.
func (r *modelRun) buildBatch(o testbatch.Options) []byte {
	o.Records = 1 + r.rng.Intn(8)
	o.ValueSize = 1 + r.rng.Intn(200)
	if r.rng.Intn(15) == 0 && !o.Idempotent {
		o.ValueSize = 500 + r.rng.Intn(1500) // large batches: several segments' worth
	}
	now := r.env.clock.Now().UnixMilli()
	o.BaseTimestamp = now - 100_000 + r.rng.Int63n(200_000)
	o.TimestampStep = r.rng.Int63n(50)
	o.Fill = byte('a' + r.rng.Intn(26))
	return testbatch.Build(o)
}

// appendPlain appends one to three batches without a producer in one call.
func (r *modelRun) appendPlain() {
	n := 1
	if r.rng.Intn(5) == 0 {
		n += r.rng.Intn(3)
	}
	var data []byte
	tooLarge := false
	for i := 0; i < n; i++ {
		b := r.buildBatch(testbatch.Options{})
		if int64(len(b)) > int64(r.cfg.MaxMessageBytes) {
			tooLarge = true
		}
		data = append(data, b...)
	}
	res, err := r.l.Append(data, AppendOptions{LeaderEpoch: r.epoch})
	if tooLarge {
		if !errors.Is(err, ErrMessageTooLarge) {
			r.fatalf("append of a batch above max.message.bytes %d: %+v, %v", r.cfg.MaxMessageBytes, res, err)
		}
		r.stats.refused++
		return
	}
	if err != nil {
		r.fatalf("append: %v", err)
	}
	r.checkAppended(data, res, -1)
}

// checkAppended checks an accepted append's result and stamped bytes, and records its batches.
func (r *modelRun) checkAppended(data []byte, res AppendResult, pid int64) {
	r.t.Helper()
	r.stats.appends++
	if res.Duplicate {
		r.fatalf("append reported a duplicate: %+v", res)
	}
	now := r.env.clock.Now().UnixMilli()
	next := r.m.end
	if res.BaseOffset != next {
		r.fatalf("append at %d, model end %d", res.BaseOffset, next)
	}
	for p := 0; p < len(data); {
		h, err := segment.ValidateBatch(data[p:])
		if err != nil {
			r.fatalf("stamped batch at byte %d invalid: %v", p, err)
		}
		if h.BaseOffset != next || h.PartitionLeaderEpoch != r.epoch {
			r.fatalf("batch stamped with offset %d epoch %d, want %d epoch %d", h.BaseOffset, h.PartitionLeaderEpoch, next, r.epoch)
		}
		if r.cfg.LogAppendTime && (h.MaxTimestamp != now || res.LogAppendTime != now) {
			r.fatalf("LogAppendTime: batch max timestamp %d, result %d, clock %d", h.MaxTimestamp, res.LogAppendTime, now)
		}
		r.m.record(mBatch{
			base: h.BaseOffset, last: h.LastOffset(), maxTS: h.MaxTimestamp, data: data[p : p+h.Size()],
			pid: h.ProducerID, epoch: h.ProducerEpoch, firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
			call: r.stats.appends,
		})
		next = h.NextOffset()
		p += h.Size()
	}
	if res.LastOffset != next-1 {
		r.fatalf("append result last offset %d, want %d", res.LastOffset, next-1)
	}
	if res.LogStartOffset != r.m.start {
		r.fatalf("append result log start %d, want %d", res.LogStartOffset, r.m.start)
	}
}

// appendIdempotent appends one batch of one of three idempotent producers: the next sequence,
// a new epoch, a resend of a retained batch, or a batch the engine must refuse.
func (r *modelRun) appendIdempotent() {
	pid := int64(1 + r.rng.Intn(3))
	h := r.m.hist[pid]
	epoch, nextSeq := int16(0), int32(0)
	if len(h) > 0 {
		last := h[len(h)-1]
		epoch, nextSeq = last.epoch, last.lastSeq+1
	}
	o := testbatch.Options{Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: nextSeq}
	const (
		next = iota
		bump
		dup
		gap
		overlap
		fenced
		badBump
	)
	kind := next
	known, ring := r.m.known(pid), r.m.ring(pid)
	switch p := r.rng.Intn(100); {
	case p < 45:
	case p < 52:
		kind = bump
	case p < 70 && r.m.ringSure(pid):
		kind = dup
	case p < 80 && known:
		kind = gap
	case p < 88 && known:
		kind = overlap
	case p < 94 && known && epoch > 0:
		kind = fenced
	case known:
		kind = badBump
	}
	var data []byte
	var target mBatch
	switch kind {
	case bump:
		o.ProducerEpoch, o.BaseSequence = epoch+1, 0
	case gap:
		o.BaseSequence = nextSeq + 1 + r.rng.Int31n(5)
	case overlap:
		target = ring[r.rng.Intn(len(ring))]
		o.BaseSequence = target.firstSeq
	case fenced:
		o.ProducerEpoch = epoch - 1
	case badBump:
		o.ProducerEpoch, o.BaseSequence = epoch+1, 1+r.rng.Int31n(10)
	}
	if kind == dup {
		target = ring[r.rng.Intn(len(ring))]
		// The client resends the same records; the engine reads only the header.
		data = testbatch.Build(testbatch.Options{
			Records: int(target.last - target.base + 1), Idempotent: true, ProducerID: pid,
			ProducerEpoch: target.epoch, BaseSequence: target.firstSeq, BaseTimestamp: target.maxTS,
		})
	} else {
		data = r.buildBatch(o)
		if kind == overlap {
			for {
				hd, _ := segment.ParseHeader(data)
				if hd.LastSequence() != target.lastSeq {
					break
				}
				data = r.buildBatch(o) // same count as the target: that would be a duplicate
			}
		}
	}
	res, err := r.l.Append(data, AppendOptions{LeaderEpoch: r.epoch})
	var want error
	switch kind {
	case gap, overlap, badBump:
		want = ErrOutOfOrderSequence
	case fenced:
		want = ErrInvalidProducerEpoch
	}
	switch {
	case kind == dup:
		if err != nil || !res.Duplicate || res.BaseOffset != target.base || res.LastOffset != target.last {
			r.fatalf("resend of producer %d epoch %d seq %d (offsets %d-%d): %+v, %v", pid, target.epoch, target.firstSeq, target.base, target.last, res, err)
		}
		r.stats.dups++
	case want != nil:
		if !errors.Is(err, want) {
			r.fatalf("producer %d (kind %d) epoch %d seq %d after epoch %d seq %d: got %+v, %v; want %v", pid, kind, o.ProducerEpoch, o.BaseSequence, epoch, nextSeq-1, res, err, want)
		}
		r.stats.refused++
	default:
		if err != nil {
			r.fatalf("producer %d epoch %d seq %d (kind %d): %v", pid, o.ProducerEpoch, o.BaseSequence, kind, err)
		}
		r.checkAppended(data, res, pid)
	}
}

// segLayout returns the real log's segment base offsets.
func (r *modelRun) segLayout() []int64 {
	segs := r.l.segments()
	bases := make([]int64, len(segs))
	for i, h := range segs {
		bases[i] = h.base
	}
	return bases
}

// segOf returns the index in bases of the segment holding offset.
func segOf(bases []int64, offset int64) int {
	i := 0
	for i+1 < len(bases) && bases[i+1] <= offset {
		i++
	}
	return i
}

// segStats returns per segment the model's byte size, max timestamp (-1 when empty) and
// number of Append calls.
func (r *modelRun) segStats(bases []int64) (sizes, maxTS []int64, calls []int) {
	sizes, maxTS, calls = make([]int64, len(bases)), make([]int64, len(bases)), make([]int, len(bases))
	for i := range maxTS {
		maxTS[i] = -1
	}
	for i := range r.m.batches {
		b := &r.m.batches[i]
		s := segOf(bases, b.base)
		sizes[s] += b.size()
		if i == 0 || r.m.batches[i-1].call != b.call {
			calls[s]++
		}
		maxTS[s] = max(maxTS[s], b.maxTS)
	}
	return sizes, maxTS, calls
}

func (r *modelRun) read() {
	r.stats.reads++
	m := &r.m
	off := m.start - 1 + r.rng.Int63n(m.end-m.start+3)
	if len(m.batches) > 0 && r.rng.Intn(3) == 0 {
		off = m.batches[r.rng.Intn(len(m.batches))].base // batch starts are interesting
	}
	upTo := m.end
	if r.rng.Intn(3) == 0 && off <= m.end {
		upTo = max(off, m.start) + r.rng.Int63n(m.end-max(off, m.start)+1)
	}
	maxBytes := int32(r.rng.Intn(6000))
	if r.rng.Intn(10) == 0 {
		maxBytes = int32(r.rng.Intn(3)) - 1 // -1, 0, 1: one batch regardless
	}
	reg, err := r.l.Read(off, maxBytes, upTo)
	defer reg.Release()
	if off < m.start || off > m.end {
		if !errors.Is(err, ErrOffsetOutOfRange) {
			r.fatalf("read %d outside [%d, %d]: %+v, %v", off, m.start, m.end, reg, err)
		}
		return
	}
	if err != nil {
		r.fatalf("read %d: %v", off, err)
	}
	wantPos, want := r.expectRegion(off, maxBytes, upTo)
	if want == nil {
		if reg.Len != 0 {
			r.fatalf("read %d max %d upTo %d: %d bytes, want none", off, maxBytes, upTo, reg.Len)
		}
		return
	}
	if reg.Pos != wantPos || reg.Len != int64(len(want)) {
		r.fatalf("read %d max %d upTo %d: region at %d len %d, want %d len %d", off, maxBytes, upTo, reg.Pos, reg.Len, wantPos, len(want))
	}
	got := make([]byte, reg.Len)
	if _, err := reg.File.ReadAt(got, reg.Pos); err != nil {
		r.fatalf("read region: %v", err)
	}
	if !bytes.Equal(got, want) {
		r.fatalf("read %d: region bytes differ from the model", off)
	}
}

// expectRegion computes Read's answer: the batch holding off and the following ones of its
// segment, all below upTo, within maxBytes except for the first. nil means an empty region.
func (r *modelRun) expectRegion(off int64, maxBytes int32, upTo int64) (int64, []byte) {
	m := &r.m
	if off >= upTo {
		return 0, nil
	}
	i := m.find(off)
	if i == len(m.batches) || m.batches[i].last >= upTo {
		return 0, nil // the batch straddles upTo: it cannot be sent
	}
	bases := r.segLayout()
	s := segOf(bases, m.batches[i].base)
	var pos int64
	for j := range m.batches[:i] {
		if segOf(bases, m.batches[j].base) == s {
			pos += m.batches[j].size()
		}
	}
	out := append([]byte(nil), m.batches[i].data...)
	for j := i + 1; j < len(m.batches); j++ {
		b := &m.batches[j]
		if segOf(bases, b.base) != s || b.last >= upTo || int64(len(out))+b.size() > int64(maxBytes) {
			break
		}
		out = append(out, b.data...)
	}
	return pos, out
}

func (r *modelRun) offsetForTimestamp() {
	m := &r.m
	now := r.env.clock.Now().UnixMilli()
	ts := now - 120_000 + r.rng.Int63n(240_000)
	if len(m.batches) > 0 && r.rng.Intn(2) == 0 {
		ts = m.batches[r.rng.Intn(len(m.batches))].maxTS + int64(r.rng.Intn(3)) - 1
	}
	off, found, err := r.l.OffsetForTimestamp(ts)
	if err != nil {
		r.fatalf("OffsetForTimestamp(%d): %v", ts, err)
	}
	wantFound, wantOff := false, int64(0)
	for _, b := range m.batches {
		if b.maxTS >= ts {
			wantFound, wantOff = true, max(b.base, m.start)
			break
		}
	}
	if found != wantFound || off != wantOff {
		r.fatalf("OffsetForTimestamp(%d) = %d, %v; want %d, %v", ts, off, found, wantOff, wantFound)
	}
	// MaxTimestamp: the first batch holding the largest timestamp.
	wantTS, wantAt := int64(-1), int64(-1)
	for _, b := range m.batches {
		if b.maxTS > wantTS {
			wantTS, wantAt = b.maxTS, b.base
		}
	}
	gotTS, gotAt, err := r.l.MaxTimestamp()
	if err != nil || gotTS != wantTS || gotAt != wantAt {
		r.fatalf("MaxTimestamp = %d at %d, %v; want %d at %d", gotTS, gotAt, err, wantTS, wantAt)
	}
}

// dropBelow removes the model batches of segments deleted whole: those below newFirst.
func (r *modelRun) dropBelow(newFirst int64) {
	i := 0
	for i < len(r.m.batches) && r.m.batches[i].base < newFirst {
		i++
	}
	r.m.batches = append([]mBatch(nil), r.m.batches[i:]...)
}

func (r *modelRun) deleteRecords() {
	r.stats.deletes++
	m := &r.m
	off := m.start - 1 + r.rng.Int63n(m.end-m.start+3)
	bases := r.segLayout()
	got, err := r.l.DeleteRecordsBefore(off)
	if off < 0 || off > m.end { // the high watermark follows the end offset
		if !errors.Is(err, ErrOffsetOutOfRange) {
			r.fatalf("DeleteRecordsBefore(%d) outside [0, %d]: %d, %v", off, m.end, got, err)
		}
		return
	}
	if err != nil {
		r.fatalf("DeleteRecordsBefore(%d): %v", off, err)
	}
	start := max(m.start, off)
	n := 0
	for n+1 < len(bases) && bases[n+1] <= start {
		n++
	}
	start = max(start, bases[n])
	if got != start || r.l.Segments() != len(bases)-n {
		r.fatalf("DeleteRecordsBefore(%d): start %d, %d segments; want %d, %d of %v", off, got, r.l.Segments(), start, len(bases)-n, bases)
	}
	m.start = start
	r.dropBelow(bases[n])
}

func (r *modelRun) truncate() {
	r.stats.truncs++
	m := &r.m
	off := m.start - 1 + r.rng.Int63n(m.end-m.start+3)
	if err := r.l.TruncateTo(off); err != nil {
		r.fatalf("TruncateTo(%d): %v", off, err)
	}
	if off >= m.end {
		return
	}
	off = max(off, m.start)
	i := m.find(off)
	m.batches = m.batches[:i:i]
	if i > 0 {
		m.end = m.batches[i-1].last + 1
	} else {
		m.end = r.segLayout()[0] // nothing left: the first segment is empty
	}
	// The log start never passes the end: cutting the batch holding the log start empties
	// the log at the new end.
	m.start = min(m.start, m.end)
	for pid, h := range m.hist {
		j := len(h)
		for j > 0 && h[j-1].base >= m.end {
			j--
		}
		m.hist[pid] = h[:j:j]
	}
	if hw := r.l.HighWatermark(); hw != m.end {
		r.fatalf("TruncateTo(%d): high watermark %d, want %d", off, hw, m.end)
	}
}

// retention sets random retention limits and applies them, predicting which whole leading
// segments go.
func (r *modelRun) retention() {
	r.stats.retentions++
	m := &r.m
	cfg := r.cfg
	cfg.RetentionBytes, cfg.RetentionMs = -1, -1
	if r.rng.Intn(2) == 0 {
		cfg.RetentionBytes = r.rng.Int63n(r.l.Size() + 1000)
	}
	if r.rng.Intn(3) == 0 {
		cfg.RetentionMs = time.Duration(r.rng.Intn(150_000)) * time.Millisecond
	}
	r.setConfig(cfg)
	bases := r.segLayout()
	sizes, maxTS, _ := r.segStats(bases)
	// Every segment may go, the active one included (a new one is rolled), unless it is empty.
	limit := len(bases)
	if sizes[limit-1] == 0 {
		limit--
	}
	n := 0
	if cfg.RetentionMs >= 0 {
		cutoff := r.env.clock.Now().Add(-cfg.RetentionMs).UnixMilli()
		for n < limit && maxTS[n] >= 0 && maxTS[n] < cutoff {
			n++
		}
	}
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range sizes[n:] {
			total += s
		}
		for n < limit && total-sizes[n] >= cfg.RetentionBytes {
			total -= sizes[n]
			n++
		}
	}
	newStart := m.end // where the log starts after deleting n segments
	if n < len(bases) {
		newStart = bases[n]
	}
	endBefore, segsBefore := r.l.LogEndOffset(), r.l.Segments()
	got, err := r.l.ApplyRetention()
	if err != nil {
		r.fatalf("ApplyRetention: %v", err)
	}
	if got != n {
		r.fatalf("ApplyRetention (bytes %d, ms %d) deleted %d segments, want %d: bases %v sizes %v max timestamps %v",
			cfg.RetentionBytes, cfg.RetentionMs.Milliseconds(), got, n, bases, sizes, maxTS)
	}
	// Invariants that hold whatever the model says.
	wantSegs := segsBefore - got
	if wantSegs == 0 {
		wantSegs = 1 // the active segment went: a new, empty one took its place
	}
	if r.l.Segments() != wantSegs || r.l.LogEndOffset() != endBefore {
		r.fatalf("ApplyRetention: %d -> %d segments (deleted %d), end %d -> %d", segsBefore, r.l.Segments(), got, endBefore, r.l.LogEndOffset())
	}
	r.stats.segsDeleted += n
	if n > 0 {
		m.start = max(m.start, newStart)
		r.dropBelow(newStart)
	}
	if r.l.LogStartOffset() != m.start {
		r.fatalf("ApplyRetention: log start %d, want %d", r.l.LogStartOffset(), m.start)
	}
}

func (r *modelRun) reopen() {
	r.stats.reopens++
	r.env.reopen()
	if r.env.e.Log(tp0) != nil {
		r.fatalf("log open before OpenLog")
	}
	r.l = r.env.log(tp0, r.cfg)
	r.checkAll()
}

func (r *modelRun) setConfig(cfg LogConfig) {
	if err := r.l.SetConfig(cfg); err != nil {
		r.fatalf("SetConfig: %v", err)
	}
	r.cfg = cfg
	r.maxSegBytes = max(r.maxSegBytes, cfg.SegmentBytes)
}

func (r *modelRun) changeConfig() {
	cfg := r.cfg
	switch r.rng.Intn(6) {
	case 0:
		cfg.SegmentBytes = []int64{100, 1000, 4096, 16 << 10, 64 << 10}[r.rng.Intn(5)]
	case 1:
		cfg.IndexIntervalBytes = []int{0, 1, 100, 4096}[r.rng.Intn(4)]
	case 2:
		cfg.MaxIndexBytes = []int{4096, 4100, 8192}[r.rng.Intn(3)]
	case 3:
		cfg.LogAppendTime = r.rng.Intn(4) == 0
	case 4:
		cfg.MaxMessageBytes = []int32{DefaultLogConfig.MaxMessageBytes, 2000}[r.rng.Intn(2)]
	case 5:
		cfg.SegmentMs = []time.Duration{DefaultLogConfig.SegmentMs, 30 * time.Millisecond, time.Second}[r.rng.Intn(3)]
	}
	r.setConfig(cfg)
}

// checkOffsets compares the published offsets after every step.
func (r *modelRun) checkOffsets() {
	l, m := r.l, &r.m
	if l.LogStartOffset() != m.start || l.LogEndOffset() != m.end || l.HighWatermark() != m.end {
		r.fatalf("offsets: start %d end %d hw %d; model start %d end %d", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), m.start, m.end)
	}
	if m.start > m.end {
		r.fatalf("model broke: start %d > end %d", m.start, m.end)
	}
}

// checkAll compares the whole log with the model: the segment layout, the segment sizes and
// every byte from the log start.
func (r *modelRun) checkAll() {
	r.t.Helper()
	r.checkOffsets()
	m := &r.m
	bases := r.segLayout()
	sizes, _, calls := r.segStats(bases)
	segs := r.l.segments()
	for i, h := range segs {
		if i > 0 && bases[i] <= bases[i-1] {
			r.fatalf("segment bases not increasing: %v", bases)
		}
		if h.size() != sizes[i] {
			r.fatalf("segment %d (base %d) has %d bytes, model %d", i, bases[i], h.size(), sizes[i])
		}
		if calls[i] == 0 && i != len(segs)-1 {
			r.fatalf("empty segment %d (base %d) is not the active one: %v", i, bases[i], bases)
		}
		if calls[i] > 1 && sizes[i] > r.maxSegBytes {
			r.fatalf("segment %d (base %d) of %d appends holds %d bytes, above segment.bytes %d", i, bases[i], calls[i], sizes[i], r.maxSegBytes)
		}
	}
	if len(m.batches) > 0 && bases[0] != m.batches[0].base {
		r.fatalf("first segment at %d, first model batch at %d", bases[0], m.batches[0].base)
	}
	for i := range m.batches {
		if s := segOf(bases, m.batches[i].base); i > 0 && m.batches[i].base != m.batches[i-1].last+1 {
			r.fatalf("model has a gap before %d", m.batches[i].base)
		} else if i == 0 || segOf(bases, m.batches[i-1].base) != s {
			if m.batches[i].base != bases[s] {
				r.fatalf("segment %d starts at %d, its first batch at %d", s, bases[s], m.batches[i].base)
			}
		}
	}
	var want []byte
	for _, b := range m.batches[m.find(m.start):] {
		want = append(want, b.data...)
	}
	var got []byte
	for off := m.start; off < m.end; {
		reg, err := r.l.Read(off, 1<<20, m.end)
		if err != nil {
			r.fatalf("read all at %d: %v", off, err)
		}
		if reg.Len == 0 {
			reg.Release()
			r.fatalf("read all: nothing at %d below end %d", off, m.end)
		}
		buf := make([]byte, reg.Len)
		_, err = reg.File.ReadAt(buf, reg.Pos)
		reg.Release()
		if err != nil {
			r.fatalf("read all: %v", err)
		}
		got = append(got, buf...)
		for p := 0; p < len(buf); {
			h, err := segment.ValidateBatch(buf[p:])
			if err != nil {
				r.fatalf("read all at %d: %v", off, err)
			}
			off = h.NextOffset()
			p += h.Size()
		}
	}
	if !bytes.Equal(got, want) {
		r.fatalf("log bytes from %d differ from the model (%d vs %d bytes)", m.start, len(got), len(want))
	}
}
