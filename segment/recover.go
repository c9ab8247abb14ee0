package segment

import (
	"errors"
	"fmt"
	"io"
)

// RecoveryReport says what Recover found in one segment.
type RecoveryReport struct {
	Segment        string // path of the .log file
	Batches        int    // valid batches kept
	ValidBytes     int64  // bytes kept
	TruncatedBytes int64  // bytes cut from the tail
	NextOffset     int64  // offset after the last valid batch
	// Cause says why bytes were cut, naming the byte position; nil when nothing was cut.
	Cause error
}

// recoveryBufferSize is how much of the log Recover reads per pread.
const recoveryBufferSize = 1 << 20

// Recover verifies every batch of the segment from the start (length, magic, CRC, offsets
// increasing), rebuilds both indexes, and truncates the log at the first invalid byte: a torn
// write, a zero-filled tail or corruption. visit, if non-nil, sees each valid batch's header
// and position in order (the partition rebuilds producer state and leader epochs from it).
// Data before the first invalid byte is never lost. An I/O error aborts without truncating.
func (s *Segment) Recover(visit func(h *Header, pos int64)) (RecoveryReport, error) {
	rep := RecoveryReport{Segment: s.logName(), NextOffset: s.baseOffset}
	fileSize, err := s.log.Size()
	if err != nil {
		return rep, err
	}
	if err := s.offsetIdx.TruncateTo(s.baseOffset); err != nil {
		return rep, err
	}
	if err := s.timeIdx.TruncateTo(s.baseOffset); err != nil {
		return rep, err
	}
	s.bytesSinceIndex = 0
	s.maxTime.Store(-1)
	s.maxTimeOffset = s.baseOffset
	s.sealed = false

	buf := make([]byte, recoveryBufferSize)
	bufStart, bufLen := int64(0), 0 // file position and length of buf's valid bytes
	pos := int64(0)
	next := s.baseOffset
	var cause error
	for pos < fileSize {
		// Make sure buf holds at least the header at pos, then the whole batch.
		need := int64(HeaderSize)
		if fileSize-pos < need {
			need = fileSize - pos
		}
		if pos+need > bufStart+int64(bufLen) {
			if bufLen, err = fill(s, buf, pos, fileSize); err != nil {
				return rep, err
			}
			bufStart = pos
		}
		h, perr := ParseHeader(buf[pos-bufStart : int64(bufLen)])
		if perr != nil {
			cause = perr
			break
		}
		size := int64(h.Size())
		if pos+size > fileSize {
			cause = batchErr(ErrTruncated, "batch of %d bytes, %d remain in the file", size, fileSize-pos)
			break
		}
		if pos+size > bufStart+int64(bufLen) {
			if size > int64(len(buf)) {
				buf = make([]byte, size) // bounded by fileSize, checked above
			}
			if bufLen, err = fill(s, buf, pos, fileSize); err != nil {
				return rep, err
			}
			bufStart = pos
		}
		batch := buf[pos-bufStart : pos-bufStart+size]
		if _, verr := ValidateStoredBatch(batch); verr != nil {
			cause = verr
			break
		}
		if h.BaseOffset < next || h.LastOffset()-s.baseOffset > 1<<31-1 {
			cause = batchErr(ErrCorrupt, "base offset %d out of order (expected >= %d)", h.BaseOffset, next)
			break
		}
		if h.MaxTimestamp > s.maxTime.Load() {
			s.maxTime.Store(h.MaxTimestamp)
			s.maxTimeOffset = h.LastOffset()
		}
		if s.bytesSinceIndex > s.cfg.IndexIntervalBytes {
			if err := s.addIndexEntries(h.LastOffset(), int32(pos)); err != nil {
				return rep, err
			}
			s.bytesSinceIndex = 0
		}
		s.bytesSinceIndex += int(size)
		if visit != nil {
			visit(&h, pos)
		}
		next = h.NextOffset()
		pos += size
		rep.Batches++
	}
	rep.ValidBytes = pos
	rep.NextOffset = next
	if pos < fileSize {
		rep.TruncatedBytes = fileSize - pos
		rep.Cause = fmt.Errorf("segment %s: invalid data at byte %d: %w", s.logName(), pos, cause)
		if err := s.log.Truncate(pos); err != nil {
			return rep, err
		}
		// Make the cut durable now: a later crash must not bring the invalid tail back.
		if err := s.log.Sync(); err != nil {
			return rep, err
		}
	}
	s.size.Store(pos)
	s.nextOffset.Store(next)
	return rep, nil
}

// fill reads as much of the file from pos as fits in buf.
func fill(s *Segment, buf []byte, pos, fileSize int64) (int, error) {
	n := int64(len(buf))
	if fileSize-pos < n {
		n = fileSize - pos
	}
	got, err := s.log.ReadAt(buf[:n], pos)
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
		return got, err
	}
	return got, nil
}
