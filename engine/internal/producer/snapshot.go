package producer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
)

// Snapshot format constants (see doc.go). They are part of the on-disk format.
const (
	snapshotMagic   = "LDPS"
	snapshotVersion = 2 // version 1 (no transaction fields) is still read

	offMagic      = 0
	offVersion    = 4
	offCRC        = 6
	offCount      = 10 // the CRC covers [offCount, end)
	snapHeaderLen = 14

	entryHeaderLenV1 = 19 // producer id 8, epoch 2, since 8, batch count 1
	entryTxnLen      = 12 // version 2: transaction first offset 8, coordinator epoch 4
	entryHeaderLen   = entryHeaderLenV1 + entryTxnLen
	batchLen         = 32
	minEntryLen      = entryHeaderLen + batchLen // version 2
)

// ErrCorruptSnapshot is wrapped by every UnmarshalSnapshot error.
var ErrCorruptSnapshot = errors.New("producer: corrupt snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalSnapshot appends the snapshot encoding of s to dst and returns the extended slice.
// Producers are written by ascending id, so equal states encode to equal bytes.
func (s *State) MarshalSnapshot(dst []byte) []byte {
	ids := slices.Sorted(maps.Keys(s.producers))
	size := snapHeaderLen
	for _, e := range s.producers {
		size += entryHeaderLen + int(e.n)*batchLen
	}
	dst = slices.Grow(dst, size)
	start := len(dst)
	dst = append(dst, snapshotMagic...)
	dst = binary.BigEndian.AppendUint16(dst, snapshotVersion)
	dst = binary.BigEndian.AppendUint32(dst, 0) // CRC, filled below
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		e := s.producers[id]
		dst = binary.BigEndian.AppendUint64(dst, uint64(id))
		dst = binary.BigEndian.AppendUint16(dst, uint16(e.epoch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.since))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.txnFirst))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.coordEpoch))
		dst = append(dst, e.n)
		for i := 0; i < int(e.n); i++ {
			m := e.at(i)
			dst = binary.BigEndian.AppendUint32(dst, uint32(m.firstSeq))
			dst = binary.BigEndian.AppendUint32(dst, uint32(m.lastSeq))
			dst = binary.BigEndian.AppendUint64(dst, uint64(m.firstOffset))
			dst = binary.BigEndian.AppendUint64(dst, uint64(m.lastOffset))
			dst = binary.BigEndian.AppendUint64(dst, uint64(m.timestamp))
		}
	}
	snap := dst[start:]
	binary.BigEndian.PutUint32(snap[offCRC:], crc32.Checksum(snap[offCount:], castagnoli))
	return dst
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptSnapshot}, args...)...)
}

// UnmarshalSnapshot decodes a snapshot written by MarshalSnapshot, of version 2 or 1 (whose
// producers have no open transaction). It does not retain b. Garbage, truncated or trailing
// bytes, a bad CRC and an unknown version are errors wrapping ErrCorruptSnapshot; allocation
// is bounded by len(b).
func UnmarshalSnapshot(b []byte) (*State, error) {
	if len(b) < snapHeaderLen {
		return nil, corrupt("%d bytes, shorter than the %d-byte header", len(b), snapHeaderLen)
	}
	if string(b[offMagic:offMagic+len(snapshotMagic)]) != snapshotMagic {
		return nil, corrupt("bad magic %q", b[offMagic:offMagic+len(snapshotMagic)])
	}
	version := binary.BigEndian.Uint16(b[offVersion:])
	if version != 1 && version != snapshotVersion {
		return nil, corrupt("unsupported version %d", version)
	}
	headerLen := entryHeaderLenV1
	if version >= 2 {
		headerLen = entryHeaderLen
	}
	minEntry := headerLen + batchLen
	if want, got := binary.BigEndian.Uint32(b[offCRC:]), crc32.Checksum(b[offCount:], castagnoli); want != got {
		return nil, corrupt("crc %#08x, computed %#08x", want, got)
	}
	count := uint64(binary.BigEndian.Uint32(b[offCount:]))
	rest := b[snapHeaderLen:]
	if count > uint64(len(rest)/minEntry) {
		return nil, corrupt("%d producers cannot fit in %d bytes", count, len(rest))
	}
	// One allocation for every producer: a removed producer's slot is freed with the last one
	// of its snapshot, a fair price for loading 10^5 producers without 10^5 allocations.
	entries := make([]entry, count)
	s := &State{producers: make(map[int64]*entry, count), ongoing: make(map[int64]int64)}
	prev := int64(-1)
	for i := range entries {
		if len(rest) < minEntry {
			return nil, corrupt("producer %d of %d: truncated", i, count)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		if id <= prev {
			return nil, corrupt("producer id %d after %d: ids must be non-negative and ascend", id, prev)
		}
		prev = id
		e := &entries[i]
		e.epoch = int16(binary.BigEndian.Uint16(rest[8:]))
		e.since = int64(binary.BigEndian.Uint64(rest[10:]))
		e.txnFirst, e.coordEpoch = -1, -1
		if version >= 2 {
			e.txnFirst = int64(binary.BigEndian.Uint64(rest[18:]))
			e.coordEpoch = int32(binary.BigEndian.Uint32(rest[26:]))
			if e.txnFirst < -1 {
				return nil, corrupt("producer %d: transaction first offset %d", id, e.txnFirst)
			}
			if e.txnFirst >= 0 {
				s.ongoing[id] = e.txnFirst
			}
		}
		n := int(rest[headerLen-1])
		if n < 1 || n > RetainedBatches {
			return nil, corrupt("producer %d: %d batches, want 1..%d", id, n, RetainedBatches)
		}
		rest = rest[headerLen:]
		if len(rest) < n*batchLen {
			return nil, corrupt("producer %d: truncated batches", id)
		}
		for j := range n {
			e.batches[j] = batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(rest)),
				lastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
				timestamp:   int64(binary.BigEndian.Uint64(rest[24:])),
			}
			rest = rest[batchLen:]
		}
		e.n = uint8(n)
		s.producers[id] = e
	}
	if len(rest) != 0 {
		return nil, corrupt("%d trailing bytes", len(rest))
	}
	return s, nil
}
