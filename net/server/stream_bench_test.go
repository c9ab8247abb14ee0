package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// BenchmarkListenerThroughput is the cost of TLS against PLAINTEXT on the network front
// alone (bench/results/2026-12-07-tls): produce-shaped traffic (256 KiB requests in, small
// answers out) and fetch-shaped traffic (small requests in, 1 MiB file regions out:
// sendfile on PLAINTEXT, pread and encrypt on TLS), one pipelining client over loopback.
// cpu-ns/MiB is the whole process (client included: it decrypts what the server encrypts).
func BenchmarkListenerThroughput(b *testing.B) {
	const produceLen, regionLen = 256 << 10, 1 << 20
	for _, dir := range []string{"produce", "fetch"} {
		for _, proto := range []string{"plaintext", "tls"} {
			b.Run(dir+"/"+proto, func(b *testing.B) {
				f, _ := tempFile(b, 64<<20)
				var h Handler = &regionHandler{f: f}
				if dir == "produce" {
					h = HandlerFunc(func(req *Request) *Response { // take the body, answer small
						r := NewResponse()
						r.AppendInt32(req.CorrelationID)
						r.AppendInt32(int32(len(req.Body())))
						return r
					})
				}
				var c net.Conn
				if proto == "tls" {
					_, addr, ccfg := startTLSServer(b, Config{}, h)
					c = dialTLS(b, addr, ccfg)
				} else {
					_, addr := startServer(b, Config{}, h)
					c = dial(b, addr)
				}
				reqs := make([][]byte, 64)
				body := make([]byte, produceLen)
				for i := range reqs {
					if dir == "produce" {
						reqs[i] = appendRequest(nil, 0, 9, int32(i), "bench", body)
					} else {
						reqs[i] = regionRequest(nil, int32(i), int64(i)*regionLen, regionLen)
					}
				}
				perOp := int64(regionLen)
				if dir == "produce" {
					perOp = produceLen
				}
				b.SetBytes(perOp)
				cpu0 := cpuTime()
				b.ResetTimer()
				go func() {
					bw := bufio.NewWriterSize(c, 256<<10)
					for i := range b.N {
						if _, err := bw.Write(reqs[i%len(reqs)]); err != nil {
							return
						}
					}
					_ = bw.Flush()
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
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)*float64(1<<20)/float64(perOp), "cpu-ns/MiB")
			})
		}
	}
}
