package loadgen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/kwire"
)

// Sink is a Kafka-speaking server that stores nothing: it answers ApiVersions, Metadata (any
// topic exists with SinkPartitions partitions, led by the sink), Produce with a canned
// success, and Fetch with canned record batches. Running the generator against it measures
// the generator's own ceiling on this machine, so a broker run can say whether the broker or
// the client was the limit.
//
// Produce answers are cached by (version, acks, frame length): the first request of a shape
// is decoded with kmsg and answered properly, later ones of the same shape get the same bytes
// with their correlation id. That is only right for a client that repeats one request shape
// per connection, which is what the generator does.
type Sink struct {
	ln         net.Listener
	partitions int32
	fetchData  []byte // canned record batches for every fetched partition

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// maxRequestBytes bounds a request frame the sink reads (Kafka's socket.request.max.bytes).
const maxRequestBytes = 100 << 20

// SinkPartitions is the partition count of every topic the sink reports.
const SinkPartitions = 64

// StartSink listens on addr ("127.0.0.1:0" picks a port) and serves until Close.
func StartSink(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, partitions: SinkPartitions, conns: map[net.Conn]struct{}{}}
	// 1 MiB of 1 KiB-record batches with consecutive offsets, as a broker would return them.
	recs := make([]genRecord, 64)
	for i := range recs {
		recs[i].value = bytes.Repeat([]byte{'x'}, 1024)
	}
	batch, _, err := encodeBatch(recs, "none")
	if err != nil {
		ln.Close()
		return nil, err
	}
	off := int64(0)
	for len(s.fetchData)+len(batch) <= 1<<20 {
		binary.BigEndian.PutUint64(batch, uint64(off))
		s.fetchData = append(s.fetchData, batch...)
		off += 64
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the sink's listening address.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the sink and closes its connections.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

type produceShape struct {
	version int16
	acks    int16
	size    int
}

// serve answers one connection's requests in order. Responses are buffered and flushed
// when no further request is already buffered, so pipelined requests share a write.
func (s *Sink) serve(c net.Conn) {
	r := kwire.NewReader(c, 1<<20, maxRequestBytes)
	w := bufio.NewWriterSize(c, 256<<10)
	canned := map[produceShape][]byte{} // response body after the header
	var out []byte
	for {
		buf, err := r.Next()
		if err != nil {
			return
		}
		h, ok := parseRequestHeader(buf)
		if !ok {
			return
		}
		body := buf[h.bodyOffset:]
		out = out[:0]
		switch kmsg.Key(h.key) {
		case kmsg.Produce:
			acks, ok := produceAcks(body, h.flexible)
			if !ok {
				return
			}
			shape := produceShape{h.version, acks, len(buf)}
			resp, hit := canned[shape]
			if !hit {
				resp, ok = s.produceResponse(h.version, body)
				if !ok {
					return
				}
				canned[shape] = resp
			}
			if acks == 0 {
				break
			}
			out = appendResponseHeader(out, h)
			out = append(out, resp...)
		case kmsg.Fetch:
			out, ok = s.fetchResponse(out, h, body)
			if !ok {
				return
			}
		default:
			out, ok = s.kmsgResponse(out, h, body)
			if !ok {
				return
			}
		}
		if len(out) > 0 {
			var sz [4]byte
			binary.BigEndian.PutUint32(sz[:], uint32(len(out)))
			w.Write(sz[:])
			w.Write(out)
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

type requestHeader struct {
	key, version int16
	corr         int32
	flexible     bool
	bodyOffset   int
}

// parseRequestHeader reads header v1, plus v2's tagged fields for flexible versions.
func parseRequestHeader(f []byte) (requestHeader, bool) {
	var h requestHeader
	if len(f) < 10 {
		return h, false
	}
	h.key = int16(binary.BigEndian.Uint16(f))
	h.version = int16(binary.BigEndian.Uint16(f[2:]))
	h.corr = int32(binary.BigEndian.Uint32(f[4:]))
	idLen := int(int16(binary.BigEndian.Uint16(f[8:])))
	off := 10 + max(idLen, 0)
	if off > len(f) {
		return h, false
	}
	req := kmsg.RequestForKey(h.key)
	if req == nil {
		return h, false
	}
	req.SetVersion(h.version)
	h.flexible = req.IsFlexible()
	if h.flexible {
		b, err := kwire.SkipTags(f[off:])
		if err != nil {
			return h, false
		}
		off = len(f) - len(b)
	}
	h.bodyOffset = off
	return h, true
}

func appendResponseHeader(dst []byte, h requestHeader) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.corr))
	if h.flexible && h.key != int16(kmsg.ApiVersions) {
		dst = append(dst, 0)
	}
	return dst
}

// produceAcks reads acks from a Produce v3+ body: transactional id, then acks.
func produceAcks(body []byte, flexible bool) (int16, bool) {
	off := 0
	if flexible {
		n, k := binary.Uvarint(body)
		if k <= 0 {
			return 0, false
		}
		off = k + max(int(n)-1, 0)
	} else {
		if len(body) < 2 {
			return 0, false
		}
		off = 2 + max(int(int16(binary.BigEndian.Uint16(body))), 0)
	}
	if off+2 > len(body) {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(body[off:])), true
}

func (s *Sink) produceResponse(version int16, body []byte) ([]byte, bool) {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	if req.ReadFrom(body) != nil {
		return nil, false
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.SetVersion(version)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp.AppendTo(nil), true
}

// fetchResponse answers every partition with the canned batches, renumbered to start at the
// fetch offset, and a high watermark far ahead: a driver against the sink runs until its byte
// or time limit.
func (s *Sink) fetchResponse(out []byte, h requestHeader, body []byte) ([]byte, bool) {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(h.version)
	if req.ReadFrom(body) != nil {
		return nil, false
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SetVersion(h.version)
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 1<<50, 1<<50, 0
			data := append([]byte(nil), s.fetchData...)
			for pos := 0; pos+12 <= len(data); {
				base := binary.BigEndian.Uint64(data[pos:])
				binary.BigEndian.PutUint64(data[pos:], base+uint64(p.FetchOffset))
				pos += 12 + int(binary.BigEndian.Uint32(data[pos+8:]))
			}
			rp.RecordBatches = data
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	out = appendResponseHeader(out, h)
	return resp.AppendTo(out), true
}

func (s *Sink) kmsgResponse(out []byte, h requestHeader, body []byte) ([]byte, bool) {
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if err := req.ReadFrom(body); err != nil {
		return nil, false
	}
	var resp kmsg.Response
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		r := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for _, k := range []struct{ key, lo, hi int16 }{
			{int16(kmsg.Produce), 3, maxProduceVersion},
			{int16(kmsg.Fetch), minFetchVersion, maxFetchVersion},
			{int16(kmsg.Metadata), 1, 12},
			{int16(kmsg.ApiVersions), 0, 3},
		} {
			r.ApiKeys = append(r.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k.key, MinVersion: k.lo, MaxVersion: k.hi})
		}
		resp = r
	case *kmsg.MetadataRequest:
		r := req.ResponseKind().(*kmsg.MetadataResponse)
		host, port, _ := net.SplitHostPort(s.Addr())
		p, _ := strconv.Atoi(port)
		r.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 1, Host: host, Port: int32(p)}}
		r.ControllerID = 1
		for _, t := range req.Topics {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = t.Topic
			for i := int32(0); i < s.partitions; i++ {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition, mp.Leader, mp.Replicas, mp.ISR = i, 1, []int32{1}, []int32{1}
				mt.Partitions = append(mt.Partitions, mp)
			}
			r.Topics = append(r.Topics, mt)
		}
		resp = r
	default:
		return nil, false
	}
	resp.SetVersion(h.version)
	out = appendResponseHeader(out, h)
	return resp.AppendTo(out), true
}
