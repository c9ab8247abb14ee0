//go:build compat

package compat

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// dropProxy forwards Kafka connections to a broker. When armed, it lets the n-th Produce
// request through to the broker, swallows the broker's response to it and closes the
// connection: the append happened, the client never hears of it and must retry.
type dropProxy struct {
	ln       net.Listener
	target   string
	produces atomic.Int64 // Produce requests seen
	dropAt   int64        // the Produce request (1-based) whose response is dropped
	dropped  atomic.Int64 // responses dropped
	wg       sync.WaitGroup
}

func newDropProxy(addr, target string, dropAt int64) (*dropProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &dropProxy{ln: ln, target: target, dropAt: dropAt}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *dropProxy) close() { p.ln.Close(); p.wg.Wait() }

func (p *dropProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n > 200<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	buf := make([]byte, 4+n)
	copy(buf, sz[:])
	_, err := io.ReadFull(r, buf[4:])
	return buf, err
}

func (p *dropProxy) serve(c net.Conn) {
	b, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	var dropCorr atomic.Int64
	dropCorr.Store(-1)
	closeBoth := func() { c.Close(); b.Close() }
	go func() { // client → broker
		defer closeBoth()
		for {
			f, err := readFrame(c)
			if err != nil {
				return
			}
			if len(f) >= 12 && binary.BigEndian.Uint16(f[4:]) == 0 { // Produce
				if p.produces.Add(1) == p.dropAt {
					dropCorr.Store(int64(binary.BigEndian.Uint32(f[8:])))
				}
			}
			if _, err := b.Write(f); err != nil {
				return
			}
		}
	}()
	go func() { // broker → client
		defer closeBoth()
		for {
			f, err := readFrame(b)
			if err != nil {
				return
			}
			if dc := dropCorr.Load(); dc >= 0 && len(f) >= 8 && int64(binary.BigEndian.Uint32(f[4:])) == dc {
				p.dropped.Add(1)
				return // swallow the response and cut the connection
			}
			if _, err := c.Write(f); err != nil {
				return
			}
		}
	}()
}

// testIdempotentRetry: franz-go (idempotent by default) produces through a proxy that drops
// the response to one Produce request after the broker appended it. The client retries on a
// new connection; the topic must hold every record exactly once, in order.
func testIdempotentRetry(s *S) {
	dir, _ := os.MkdirTemp(tmpDir, "idem-")
	pport, err := freePort()
	if err != nil {
		s.Fatalf("%v", err)
	}
	paddr := fmt.Sprintf("127.0.0.1:%d", pport)
	bport, _ := freePort()
	baddr := fmt.Sprintf("127.0.0.1:%d", bport)
	// The broker advertises the proxy, so every connection of the client goes through it.
	b, err := startBrokerAdvertise(dir, baddr, paddr, "broker-idempotent.log")
	if err != nil {
		s.Fatalf("start broker: %v", err)
	}
	defer b.stop()
	px, err := newDropProxy(paddr, baddr, 3)
	if err != nil {
		s.Fatalf("proxy: %v", err)
	}
	defer px.close()

	topic := "idem"
	{
		adm, _ := newAdmin(s, paddr)
		cr, err := adm.CreateTopics(s.ctx, 1, 1, nil, topic)
		if err != nil || cr[topic].Err != nil {
			s.Fatalf("CreateTopics: %v %v", err, cr[topic].Err)
		}
		waitTopic(s, adm, topic, 1)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(paddr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(10), kgo.RequestRetries(20), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		s.Fatalf("%v", err)
	}
	defer cl.Close()
	var in []rec
	for i := 0; i < 100; i++ {
		r := rec{P: 0, Key: []byte(fmt.Sprintf("idem-%d", i)), Val: []byte(fmt.Sprintf("value-%03d", i))}
		in = append(in, r)
		// One record at a time for the first few, so the third Produce request is a real one.
		res := cl.ProduceSync(s.ctx, toKgo(topic, r))
		if err := res.FirstErr(); err != nil {
			s.Fatalf("produce %d: %v", i, err)
		}
		if i < 5 && res[0].Record.Offset != int64(i) {
			s.Errorf("record %d acknowledged at offset %d", i, res[0].Record.Offset)
		}
	}
	if px.dropped.Load() != 1 {
		s.Fatalf("the proxy dropped %d responses (produces seen: %d), want 1", px.dropped.Load(), px.produces.Load())
	}
	got := readAll(s, b.addrAdvertised(), topic, 1, len(in))
	if len(got) != len(in) {
		s.Errorf("topic holds %d records after a dropped produce response, want %d (duplicate or loss)", len(got), len(in))
	}
	for i := 0; i < len(got) && i < len(in); i++ {
		if got[i].content() != in[i].content() || got[i].Off != int64(i) {
			s.Errorf("offset %d holds %s, want %s", got[i].Off, short(got[i].content()), short(in[i].content()))
			break
		}
	}
}

func startBrokerAdvertise(dir, listen, advertise, logName string) (*brokerProc, error) {
	return startBrokerArgs(dir, listen, logName, "--advertise", advertise)
}

func (b *brokerProc) addrAdvertised() string {
	if b.adv != "" {
		return b.adv
	}
	return b.addr
}

// testKill9: a Go producer writes with acks=all to a broker that is killed with SIGKILL in the
// middle of the stream and restarted on the same directory; every acknowledged record must be
// at its acknowledged offset afterwards.
func testKill9(s *S) {
	dir := filepath.Join(tmpDir, "kill9")
	b, err := startBroker(dir, "", "broker-kill9.log")
	if err != nil {
		s.Fatalf("start broker: %v", err)
	}
	addr := b.addr
	topic := "durable"
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(20*time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 200 * time.Millisecond }))
	if err != nil {
		s.Fatalf("%v", err)
	}
	{
		adm, _ := newAdmin(s, addr)
		cr, err := adm.CreateTopics(s.ctx, 3, 1, nil, topic)
		if err != nil || cr[topic].Err != nil {
			s.Fatalf("CreateTopics: %v %v", err, cr[topic].Err)
		}
		waitTopic(s, adm, topic, 3)
	}
	type acked struct {
		r   rec
		err error
	}
	var mu sync.Mutex
	var acks []rec
	var failed, sent int
	ctx, cancel := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			r := rec{P: int32(i % 3), Key: []byte(fmt.Sprintf("k%d", i)), Val: []byte(fmt.Sprintf("durable-%06d-%s", i, compressible(i)[:40]))}
			mu.Lock()
			sent++
			mu.Unlock()
			cl.Produce(context.Background(), toKgo(topic, r), func(kr *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acks = append(acks, fromKgo(kr))
			})
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	before := len(acks)
	mu.Unlock()
	b.kill9()
	s.Logf("kill -9 after %d acknowledged records", before)
	time.Sleep(500 * time.Millisecond)
	b2, err := startBroker(dir, addr, "broker-kill9-restart.log")
	if err != nil {
		cancel()
		cl.Close()
		wg.Wait()
		s.Fatalf("restart on the same directory: %v", err)
	}
	defer b2.stop()
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	fctx, fcancel := context.WithTimeout(s.ctx, 25*time.Second)
	cl.Flush(fctx)
	fcancel()
	cl.Close()
	mu.Lock()
	defer mu.Unlock()
	s.Logf("sent %d, acknowledged %d (%d before the kill), failed %d", sent, len(acks), before, failed)
	if before == 0 {
		s.Fatalf("nothing was acknowledged before the kill")
	}
	got := readAll(s, b2.addr, topic, 3, 0)
	at := map[[2]int64]rec{}
	seen := map[string]int{}
	for _, r := range got {
		at[[2]int64{int64(r.P), r.Off}] = r
		seen[string(r.Val)]++
	}
	lost := 0
	for _, a := range acks {
		g, ok := at[[2]int64{int64(a.P), a.Off}]
		if !ok || g.content() != a.content() {
			if lost < 5 {
				s.Errorf("acknowledged record %s at %d/%d: found %v %s", a.Val[:15], a.P, a.Off, ok, short(g.content()))
			}
			lost++
		}
	}
	if lost > 0 {
		s.Errorf("%d of %d acknowledged records lost or moved after kill -9", lost, len(acks))
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if dups > 0 {
		s.Errorf("%d records appear more than once after the restart (idempotent producer state not recovered?)", dups)
	}
	if len(acks) == before {
		s.Errorf("no record was acknowledged after the restart")
	}
}
