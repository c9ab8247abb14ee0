package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

// recoverFixture is an open segment of valid batches, synced, whose log a test then damages.
type recoverFixture struct {
	fs   vfs.FS
	dir  string
	s    *Segment
	m    *model
	path string // the .log file
}

func newRecoverFixture(t *testing.T, fs vfs.FS, dir string, rng *rand.Rand, n int) *recoverFixture {
	t.Helper()
	s := mustCreate(t, fs, dir, testBase, testCfg)
	t.Cleanup(func() { s.Close() })
	m := &model{base: testBase}
	appendRandom(t, rng, s, m, randomBatches(rng, testBase, n))
	if err := s.File().Sync(); err != nil {
		t.Fatal(err)
	}
	return &recoverFixture{fs: fs, dir: dir, s: s, m: m, path: filepath.Join(dir, FileName(testBase, LogSuffix))}
}

// write writes b at off of the log through a separate handle and syncs it: the damage is on
// disk, as a torn write or bit rot found at restart would be.
func (x *recoverFixture) write(t *testing.T, b []byte, off int64) {
	t.Helper()
	f, err := x.fs.OpenFile(x.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// recover runs Recover and checks the outcome against the model cut to keep batches: the
// report, the visited batches, the file, every read path, and that recovering again is a no-op.
func (x *recoverFixture) recover(t *testing.T, keep int, cause error) RecoveryReport {
	t.Helper()
	before := fileSize(t, x.fs, x.path)
	var visited []int64
	rep, err := x.s.Recover(func(h *Header, pos int64) { visited = append(visited, pos) })
	if err != nil {
		t.Fatal(err)
	}
	x.m.keep(keep)
	checkReport(t, rep, x.path, x.m, before, cause)
	if len(visited) != keep {
		t.Fatalf("visited %d batches, want %d", len(visited), keep)
	}
	for i, pos := range visited {
		if pos != x.m.batches[i].pos {
			t.Fatalf("visited batch %d at %d, want %d", i, pos, x.m.batches[i].pos)
		}
	}
	if got := fileSize(t, x.fs, x.path); got != x.m.size {
		t.Fatalf("log is %d bytes after recovery, want %d", got, x.m.size)
	}
	checkSegment(t, x.s, x.m)
	again, err := x.s.Recover(nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, again, x.path, x.m, x.m.size, nil)
	return rep
}

func checkReport(t *testing.T, rep RecoveryReport, path string, m *model, fileSize int64, cause error) {
	t.Helper()
	if rep.Segment != path || rep.Batches != len(m.batches) || rep.ValidBytes != m.size ||
		rep.TruncatedBytes != fileSize-m.size || rep.NextOffset != m.next() {
		t.Fatalf("report %+v, want %d batches, %d valid bytes, %d truncated, next offset %d",
			rep, len(m.batches), m.size, fileSize-m.size, m.next())
	}
	if rep.TruncatedBytes == 0 {
		if rep.Cause != nil {
			t.Fatalf("nothing truncated, yet cause %v", rep.Cause)
		}
		return
	}
	if rep.Cause == nil {
		t.Fatal("truncated without a cause")
	}
	msg := rep.Cause.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("byte %d", m.size)) {
		t.Fatalf("cause %q does not name the segment and byte %d", msg, m.size)
	}
	if cause != nil && !errors.Is(rep.Cause, cause) {
		t.Fatalf("cause %v, want %v", rep.Cause, cause)
	}
}

func TestRecoverCleanSegment(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		x := newRecoverFixture(t, fs, dir, rand.New(rand.NewSource(testSeed(t))), 100)
		x.recover(t, len(x.m.batches), nil)
		// An empty segment recovers to empty.
		e := mustCreate(t, fs, dir, 5, testCfg)
		defer e.Close()
		rep, err := e.Recover(nil)
		if err != nil || rep.Batches != 0 || rep.TruncatedBytes != 0 || rep.NextOffset != 5 || rep.Cause != nil {
			t.Fatalf("empty: %+v %v", rep, err)
		}
	})
}

func TestRecoverDamagedTail(t *testing.T) {
	type tc struct {
		name   string
		damage func(t *testing.T, x *recoverFixture, rng *rand.Rand) (keep int)
		cause  error
	}
	tail := func(x *recoverFixture) []byte {
		return mkBatch(x.m.next(), 3, 200, 50_000, 1)
	}
	var cases []tc
	for _, cut := range []int{1, 16, 30, HeaderSize - 1, HeaderSize, HeaderSize + 10, -1} {
		cases = append(cases, tc{fmt.Sprintf("torn tail, %d bytes", cut), func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			b := tail(x)
			n := cut
			if n < 0 {
				n = len(b) - 1
			}
			x.write(t, b[:n], x.m.size)
			return len(x.m.batches)
		}, ErrTruncated})
	}
	cases = append(cases,
		tc{"torn last batch", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			last := x.m.batches[len(x.m.batches)-1]
			f, err := x.fs.OpenFile(x.path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(last.pos + int64(len(last.bytes))/2); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			return len(x.m.batches) - 1
		}, ErrTruncated},
		tc{"zero-filled tail", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			x.write(t, make([]byte, 4096), x.m.size)
			return len(x.m.batches)
		}, nil},
		tc{"last batch zeroed", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			last := x.m.batches[len(x.m.batches)-1]
			x.write(t, make([]byte, len(last.bytes)), last.pos)
			return len(x.m.batches) - 1
		}, nil},
		tc{"garbage tail", func(t *testing.T, x *recoverFixture, rng *rand.Rand) int {
			g := make([]byte, 1+rng.Intn(3000))
			rng.Read(g)
			x.write(t, g, x.m.size)
			return len(x.m.batches)
		}, nil},
		tc{"garbage with a plausible header", func(t *testing.T, x *recoverFixture, rng *rand.Rand) int {
			b := tail(x)
			rng.Read(b[HeaderSize:]) // header intact, records and so the CRC wrong
			x.write(t, b, x.m.size)
			return len(x.m.batches)
		}, ErrCorrupt},
		tc{"crc flip in the middle", func(t *testing.T, x *recoverFixture, rng *rand.Rand) int {
			k := len(x.m.batches) / 2
			b := x.m.batches[k]
			off := b.pos + int64(HeaderSize) + rng.Int63n(int64(len(b.bytes)-HeaderSize))
			x.write(t, []byte{b.bytes[off-b.pos] ^ 0x10}, off)
			return k
		}, ErrCorrupt},
		tc{"covered header field flipped", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) / 3
			b := x.m.batches[k]
			x.write(t, []byte{b.bytes[offMaxTimestamp+7] ^ 1}, b.pos+offMaxTimestamp+7)
			return k
		}, ErrCorrupt},
		tc{"stored crc flipped", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) - 2
			b := x.m.batches[k]
			x.write(t, []byte{b.bytes[offCRC] ^ 0x80}, b.pos+offCRC)
			return k
		}, ErrCorrupt},
		tc{"magic changed", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := 3
			x.write(t, []byte{1}, x.m.batches[k].pos+offMagic)
			return k
		}, ErrUnsupportedMagic},
		tc{"length too large", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) / 2
			x.write(t, []byte{0x10, 0, 0, 0}, x.m.batches[k].pos+offLength)
			return k
		}, ErrTruncated},
		tc{"length too small", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) / 2
			x.write(t, []byte{0, 0, 0, 1}, x.m.batches[k].pos+offLength)
			return k
		}, ErrCorrupt},
		tc{"base offset repeats", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) / 2
			stampAt(t, x, k, x.m.batches[k-1].base) // outside the CRC: only the order check sees it
			return k
		}, ErrCorrupt},
		tc{"base offset goes back", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) - 1
			stampAt(t, x, k, x.m.batches[k-1].last) // overlaps the previous batch by one
			return k
		}, ErrCorrupt},
		tc{"first batch below the segment base", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			stampAt(t, x, 0, testBase-1)
			return 0
		}, ErrCorrupt},
		tc{"relative offset overflow", func(t *testing.T, x *recoverFixture, _ *rand.Rand) int {
			k := len(x.m.batches) - 1
			stampAt(t, x, k, testBase+math.MaxInt32+1) // last offset - base no longer fits an int32
			return k
		}, ErrCorrupt},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
				rng := rand.New(rand.NewSource(testSeed(t)))
				x := newRecoverFixture(t, fs, dir, rng, 60)
				keep := c.damage(t, x, rng)
				x.recover(t, keep, c.cause)
				// Appending after a recovery continues at the recovered end.
				appendRandom(t, rng, x.s, x.m, randomBatches(rng, x.m.next(), 10))
				checkSegment(t, x.s, x.m)
			})
		})
	}
}

// stampAt overwrites batch k's BaseOffset in the log (it is outside the CRC).
func stampAt(t *testing.T, x *recoverFixture, k int, base int64) {
	t.Helper()
	var b [8]byte
	SetBaseOffset(b[:], base)
	x.write(t, b[:], x.m.batches[k].pos)
}

// TestRecoverTruncationIsDurable crashes the MemFS right after Recover: the cut survives, so a
// second crash cannot bring the invalid tail back, and the valid prefix is intact.
func TestRecoverTruncationIsDurable(t *testing.T) {
	fs := newMemFS(t)
	rng := rand.New(rand.NewSource(testSeed(t)))
	x := newRecoverFixture(t, fs, "/data", rng, 50)
	k := 20
	b := x.m.batches[k]
	x.write(t, []byte{b.bytes[len(b.bytes)-1] ^ 0xff}, b.pos+int64(len(b.bytes))-1)
	rep := x.recover(t, k, ErrCorrupt)
	if rep.TruncatedBytes == 0 {
		t.Fatal("nothing truncated")
	}
	want := x.m.bytes()

	fs.Crash(nil)
	if got := readAll(t, fs, x.path); !bytes.Equal(got, want) {
		t.Fatalf("after a crash the log is %d bytes, want the %d recovered bytes", len(got), len(want))
	}
	s := mustOpen(t, fs, "/data", testBase, testCfg, false)
	defer s.Close()
	rep, err := s.Recover(nil)
	if err != nil || rep.TruncatedBytes != 0 || rep.Batches != k {
		t.Fatalf("recovery after the crash: %+v %v", rep, err)
	}
	checkSegment(t, s, x.m)
}

// TestRecoverRebuildPath: Open fails on a damaged tail (the engine then calls Rebuild, which
// recovers), and Rebuild leaves the same result as Recover.
func TestRecoverRebuildPath(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		rng := rand.New(rand.NewSource(testSeed(t)))
		x := newRecoverFixture(t, fs, dir, rng, 60)
		mustClose(t, x.s)
		x.write(t, mkBatch(x.m.next(), 2, 100, 1, 1)[:70], x.m.size)
		before := fileSize(t, fs, x.path)
		if _, err := Open(fs, dir, testBase, testCfg, false); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Open of a torn tail: %v", err)
		}
		s, rep, err := Rebuild(fs, dir, testBase, testCfg, false)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		checkReport(t, rep, x.path, x.m, before, ErrTruncated)
		checkSegment(t, s, x.m)
	})
}

// TestRecoverLargeBatches mixes batches larger than the 1 MiB recovery buffer with small ones,
// placed so that batches straddle the buffer's refills.
func TestRecoverLargeBatches(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		build := func(fs vfs.FS, dir string) *recoverFixture {
			s := mustCreate(t, fs, dir, testBase, testCfg)
			t.Cleanup(func() { s.Close() })
			m := &model{base: testBase}
			off := int64(testBase)
			for _, size := range []int{100, recoveryBufferSize - 200, 300, 3 << 19, HeaderSize, recoveryBufferSize, 2 * recoveryBufferSize, 70, 5 << 20, 100} {
				appendSet(t, s, m, opaqueBatch(off, size))
				off += 1
			}
			if err := s.File().Sync(); err != nil {
				t.Fatal(err)
			}
			return &recoverFixture{fs: fs, dir: dir, s: s, m: m, path: filepath.Join(dir, FileName(testBase, LogSuffix))}
		}
		x := build(fs, dir)
		x.recover(t, len(x.m.batches), nil)

		// Corruption at the end of a 5 MiB batch: everything before it is kept.
		k := 8
		b := x.m.batches[k]
		x.write(t, []byte{b.bytes[len(b.bytes)-1] ^ 1}, b.pos+int64(len(b.bytes))-1)
		x.recover(t, k, ErrCorrupt)

		// A 2 MiB batch torn at the tail.
		sub := filepath.Join(dir, "torn")
		if err := fs.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		y := build(fs, sub)
		last := y.m.batches[6]
		f, err := fs.OpenFile(y.path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(last.pos + int64(len(last.bytes)) - 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		y.recover(t, 6, ErrTruncated)
	})
}

// faultFS fails ReadAt of files named like the .log at or past failAt.
type faultFS struct {
	vfs.FS
	failAt int64 // -1: no fault
}

var errInjected = errors.New("injected I/O error")

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, LogSuffix) {
		return file, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.failAt >= 0 && off+int64(len(p)) > f.fs.failAt {
		return 0, errInjected
	}
	return f.File.ReadAt(p, off)
}

// TestRecoverIOError: a read error aborts recovery and truncates nothing, even with an invalid
// tail waiting; once the disk reads again, recovery proceeds.
func TestRecoverIOError(t *testing.T) {
	forEachFS(t, func(t *testing.T, base vfs.FS, dir string) {
		fs := &faultFS{FS: base, failAt: -1}
		rng := rand.New(rand.NewSource(testSeed(t)))
		x := newRecoverFixture(t, fs, dir, rng, 40)
		x.write(t, make([]byte, 500), x.m.size) // an invalid tail Recover would cut
		before := readAll(t, base, x.path)
		for _, at := range []int64{0, x.m.batches[20].pos + 3, x.m.size + 100} {
			fs.failAt = at
			if _, err := x.s.Recover(nil); !errors.Is(err, errInjected) {
				t.Fatalf("Recover with a read error at %d: %v", at, err)
			}
			if got := readAll(t, base, x.path); !bytes.Equal(got, before) {
				t.Fatalf("read error at %d: the log changed (%d -> %d bytes)", at, len(before), len(got))
			}
		}
		fs.failAt = -1
		x.recover(t, len(x.m.batches), nil)
	})
}

// TestRecoverSyncError: when the truncation cannot be synced, Recover fails, and no valid
// batch is lost, before or after a crash.
func TestRecoverSyncError(t *testing.T) {
	fs := newMemFS(t)
	rng := rand.New(rand.NewSource(testSeed(t)))
	x := newRecoverFixture(t, fs, "/data", rng, 30)
	x.write(t, make([]byte, 500), x.m.size)
	valid := x.m.bytes()
	fs.SetSyncError(func(name string) error {
		if name == x.path {
			return errInjected
		}
		return nil
	})
	if _, err := x.s.Recover(nil); !errors.Is(err, errInjected) {
		t.Fatalf("Recover with a failing sync: %v", err)
	}
	if got := readAll(t, fs, x.path); !bytes.HasPrefix(got, valid) {
		t.Fatal("valid batches lost")
	}
	fs.SetSyncError(nil)
	fs.Crash(nil)
	if got := readAll(t, fs, x.path); !bytes.HasPrefix(got, valid) {
		t.Fatal("valid batches lost after a crash")
	}
	// Open stops at the resurrected zero tail; the engine then rebuilds, which recovers.
	if _, err := Open(fs, "/data", testBase, testCfg, false); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("Open: %v", err)
	}
	s, rep, err := Rebuild(fs, "/data", testBase, testCfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rep.Batches != len(x.m.batches) || rep.ValidBytes != int64(len(valid)) || rep.TruncatedBytes != 500 {
		t.Fatalf("recovery after the crash: %+v %v", rep, err)
	}
	checkSegment(t, s, x.m)
}

// fuzzPrefix is the valid start of every FuzzRecover log: batches holding offsets testBase to
// testBase+5, the first an opaque batch of recoveryBufferSize-big bytes when big is not zero.
func fuzzPrefix(big int) [][]byte {
	var out [][]byte
	off := int64(testBase)
	if big != 0 {
		out = append(out, opaqueBatch(off, recoveryBufferSize-big))
		off++
	}
	for i, n := range []int{1, 3, 2}[len(out):] { // six offsets either way
		out = append(out, mkBatch(off, n, 10*(i+1), int64(100+i), 1))
		off += int64(n)
	}
	return out
}

// opaqueBatch returns a valid one-record batch of size bytes whose records are zstd-compressed
// (so never inspected) zeros. It is cheap to build, unlike a real record of that size, which
// matters for the fuzzer's instrumented executions.
func opaqueBatch(base int64, size int) []byte {
	tmpl := testBatch(Header{ProducerID: NoProducerID, ProducerEpoch: -1, BaseSequence: -1, Attributes: CompressionZstd, BaseTimestamp: 1}, 1, 16, 'x', nil, 0)
	b := make([]byte, size)
	copy(b, tmpl[:HeaderSize])
	SetBaseOffset(b, base)
	binary.BigEndian.PutUint32(b[offLength:], uint32(size-LogOverhead))
	binary.BigEndian.PutUint32(b[offCRC:], CRC(b))
	return b
}

// fixCRCs recomputes the CRC of every batch in b that parses and fits, so the fuzzer can reach
// the checks after the CRC (offset order, overflow) with mutated header fields.
func fixCRCs(b []byte) {
	for pos := 0; pos < len(b); {
		h, err := ParseHeader(b[pos:])
		if err != nil || h.Size() > len(b)-pos {
			return
		}
		batch := b[pos : pos+h.Size()]
		binary.BigEndian.PutUint32(batch[offCRC:], CRC(batch))
		pos += h.Size()
	}
}

// refPrefix is the reference answer: the length and next offset of the longest prefix of log
// made of valid batches with increasing offsets, found the simplest way.
func refPrefix(log []byte, base int64) (n int64, batches int, next int64) {
	next = base
	for pos := 0; pos < len(log); {
		h, err := ValidateBatch(log[pos:])
		if err != nil || h.BaseOffset < next || h.LastOffset()-base > math.MaxInt32 {
			break
		}
		next = h.NextOffset()
		pos += h.Size()
		n, batches = int64(pos), batches+1
	}
	return n, batches, next
}

// TestRecoverBufferBoundary runs the FuzzRecover checks with a first batch just short of the
// 1 MiB recovery buffer, so the batches after it, valid or damaged at every byte, straddle a
// refill. (The fuzzer itself uses a small prefix: a megabyte per execution stalls it.)
func TestRecoverBufferBoundary(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	seeds := fuzzSeeds()
	two := seeds[2]
	for _, big := range []int{1, HeaderSize - 1, HeaderSize, HeaderSize + 1, 150} {
		prefix := fuzzPrefix(big)
		for _, tail := range seeds {
			checkRecoverTail(t, prefix, tail)
		}
		// The valid tail straddling the refill is kept whole.
		if rep := checkRecoverTail(t, prefix, two); rep.TruncatedBytes != 0 || rep.Batches != len(prefix)+2 {
			t.Fatalf("big %d: valid batches after the buffer boundary not kept: %+v", big, rep)
		}
		for i := 0; i < 8; i++ {
			tail := append([]byte(nil), two...)
			tail[rng.Intn(len(tail))] ^= byte(1 + rng.Intn(255))
			checkRecoverTail(t, prefix, tail[:rng.Intn(len(tail)+1)])
		}
	}
}

// fuzzSeeds are tails for a prefix ending at offset testBase+6: valid batches, a torn one,
// zeros, garbage, a flipped byte, an offset going back.
func fuzzSeeds() [][]byte {
	next := int64(testBase + 6)
	valid := mkBatch(next, 2, 20, 500, 1)
	two := append(append([]byte(nil), valid...), mkBatch(next+2, 1, 5, 400, 0)...)
	flipped := append([]byte(nil), two...)
	flipped[len(valid)+HeaderSize+2] ^= 4
	outOfOrder := append(append([]byte(nil), valid...), mkBatch(next, 1, 5, 1, 0)...)
	compressed := testBatch(Header{ProducerID: NoProducerID, ProducerEpoch: -1, BaseSequence: -1, Attributes: CompressionZstd}, 2, 16, 'x', nil, 0)
	SetBaseOffset(compressed, next)
	return [][]byte{nil, valid, two, valid[:len(valid)-1], valid[:HeaderSize-3], make([]byte, 200), flipped,
		outOfOrder, compressed, []byte("\x00\x00\x00\x00\x00\x00\x03\xeeGARBAGE")}
}

// FuzzRecover appends fuzzed bytes to a few valid batches and recovers (see checkRecoverTail).
// With fixCRC, every batch of the tail that parses gets a correct CRC first, so the fuzzer
// reaches the checks behind the CRC.
func FuzzRecover(f *testing.F) {
	seeds := fuzzSeeds()
	flipped, outOfOrder := seeds[6], seeds[7]
	for _, seed := range fuzzSeeds() {
		f.Add(seed, false)
	}
	f.Add(flipped, true)
	f.Add(outOfOrder, true)
	f.Fuzz(func(t *testing.T, tail []byte, fixCRC bool) {
		if fixCRC {
			tail = append([]byte(nil), tail...)
			fixCRCs(tail)
		}
		checkRecoverTail(t, fuzzPrefix(0), tail)
	})
}

// checkRecoverTail writes prefix (valid batches) then tail to a fresh segment's log, recovers,
// and checks the result against refPrefix: every valid batch before the first damaged byte is
// kept, nothing after it; the kept bytes re-validate batch by batch; the indexes are right;
// recovering again is a no-op.
func checkRecoverTail(t *testing.T, prefix [][]byte, tail []byte) RecoveryReport {
	fs := vfs.NewMemFS()
	if err := fs.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Create(fs, "/data", testBase, Config{IndexIntervalBytes: 64, MaxIndexBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var data []byte
	var metas []BatchMeta
	var prefixNext int64
	for _, b := range prefix {
		h, _ := ValidateBatch(b)
		metas = append(metas, BatchMeta{RelPos: int32(len(data)), LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp})
		data = append(data, b...)
		prefixNext = h.NextOffset()
	}
	if err := s.Append(data, metas); err != nil {
		t.Fatal(err)
	}
	prefixLen := int64(len(data))
	if _, err := s.File().WriteAt(tail, prefixLen); err != nil {
		t.Fatal(err)
	}
	log := append(data, tail...)

	var visited int
	rep, err := s.Recover(func(h *Header, pos int64) { visited++ })
	if err != nil {
		t.Fatal(err)
	}
	// Every valid batch before the first damaged byte is kept, and nothing after it.
	wantLen, wantBatches, wantNext := refPrefix(log, testBase)
	if wantLen < prefixLen || wantNext < prefixNext {
		t.Fatalf("reference lost the valid prefix: %d < %d", wantLen, prefixLen)
	}
	if rep.ValidBytes != wantLen || rep.Batches != wantBatches || visited != wantBatches || rep.NextOffset != wantNext ||
		rep.TruncatedBytes != int64(len(log))-wantLen || (rep.Cause == nil) != (rep.TruncatedBytes == 0) {
		t.Fatalf("report %+v, want %d bytes, %d batches, next %d", rep, wantLen, wantBatches, wantNext)
	}
	if s.Size() != wantLen || s.NextOffset() != wantNext {
		t.Fatalf("segment size %d next %d, want %d %d", s.Size(), s.NextOffset(), wantLen, wantNext)
	}
	kept, err := vfs.ReadFile(fs, s.File().Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kept, log[:wantLen]) {
		t.Fatal("the kept prefix differs from the original bytes")
	}
	// The kept prefix re-validates batch by batch, offsets increasing, ending at NextOffset.
	m := &model{base: testBase, size: wantLen}
	last := int64(testBase - 1)
	for pos := int64(0); pos < wantLen; {
		h, err := ValidateBatch(kept[pos:])
		if err != nil || h.BaseOffset <= last {
			t.Fatalf("kept batch at %d: %+v %v", pos, h, err)
		}
		m.batches = append(m.batches, modelBatch{pos: pos, base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp,
			bytes: kept[pos : pos+int64(h.Size())]})
		last = h.LastOffset()
		pos += int64(h.Size())
	}
	if m.next() != s.NextOffset() {
		t.Fatalf("last kept batch ends at %d, NextOffset %d", m.next(), s.NextOffset())
	}
	checkIndexEntries(t, s, m)
	if s.MaxTimestamp() != m.maxTs() {
		t.Fatalf("MaxTimestamp %d, want %d", s.MaxTimestamp(), m.maxTs())
	}
	// Idempotent: recovering again changes nothing.
	again, err := s.Recover(nil)
	if err != nil || again.TruncatedBytes != 0 || again.Cause != nil || again.Batches != rep.Batches ||
		again.ValidBytes != rep.ValidBytes || again.NextOffset != rep.NextOffset {
		t.Fatalf("second recovery %+v %v, first %+v", again, err, rep)
	}
	if _, err := s.File().ReadAt(make([]byte, 1), wantLen); err != io.EOF {
		t.Fatalf("bytes past the recovered end: %v", err)
	}
	return rep
}
