package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRoundTrip: small echo requests pipelined on one connection.
func BenchmarkRoundTrip(b *testing.B) {
	_, addr := startServer(b, Config{}, echoHandler)
	c := dial(b, addr)
	body := make([]byte, 64)
	req := appendRequest(nil, 18, 0, 1, "bench", body)
	b.SetBytes(int64(len(req) + 4 + 4 + len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		bw := bufio.NewWriterSize(c, 64<<10)
		for range b.N {
			if _, err := bw.Write(req); err != nil {
				return
			}
		}
		_ = bw.Flush()
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	buf := make([]byte, 256)
	var err error
	for i := range b.N {
		if buf, err = readResponse(br, buf); err != nil {
			b.Fatalf("response %d: %v", i, err)
		}
	}
}

// BenchmarkRegionSend: 1 MiB file regions over loopback, sendfile vs the pread
// copy fallback. The client pipelines freely; MaxInFlight bounds the server side.
func BenchmarkRegionSend(b *testing.B) {
	const regionLen = 1 << 20
	for _, mode := range []string{"sendfile", "copy"} {
		b.Run(mode, func(b *testing.B) {
			f, _ := tempFile(b, 64<<20)
			h := &regionHandler{f: f}
			if mode == "copy" {
				h.f = readerAtOnly{f}
			}
			s, addr := startServer(b, Config{}, h)
			c := dial(b, addr)
			reqs := make([][]byte, 64)
			for i := range reqs {
				reqs[i] = regionRequest(nil, int32(i), int64(i)*regionLen, regionLen)
			}
			b.SetBytes(regionLen)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			go func() {
				for i := range b.N {
					if _, err := c.Write(reqs[i%len(reqs)]); err != nil {
						return
					}
				}
			}()
			br := bufio.NewReaderSize(c, 256<<10)
			var hdr [4]byte
			for i := range b.N {
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					b.Fatalf("response %d: %v", i, err)
				}
				if _, err := io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// Process CPU (client + server; the client's share is the same
			// in both modes) per MiB sent.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/MiB")
			st := s.Stats()
			if mode == "sendfile" && st.CopiedBytes != 0 || mode == "copy" && st.SendfileBytes != 0 {
				b.Fatalf("wrong path: %+v", st)
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
