package loadgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientID is sent in every request header.
const clientID = "logd-load"

// Highest versions the generator speaks. Produce v13 and Fetch v13+ name topics by id only;
// the generator names them, which every broker since Kafka 1.0 accepts.
const (
	maxProduceVersion = 12
	minProduceVersion = 3 // record batch v2
	maxFetchVersion   = 12
	minFetchVersion   = 4
)

// flexible reports whether req at its set version uses request header v2 and response
// header v1 (ApiVersions keeps response header v0 at every version).
func flexible(req kmsg.Request) bool { return req.IsFlexible() }

// appendFrame appends a whole request frame: size, header v1/v2, body. The correlation id
// sits at frame[8:12] (after size, key, version), where PatchCorrelation rewrites it.
func appendFrame(dst []byte, req kmsg.Request, corr int32) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(clientID)))
	dst = append(dst, clientID...)
	if flexible(req) {
		dst = append(dst, 0) // header tagged fields
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// patchCorrelation rewrites the correlation id of a frame built by appendFrame.
func patchCorrelation(frame []byte, corr int32) {
	binary.BigEndian.PutUint32(frame[8:], uint32(corr))
}

// readFrame reads one size-prefixed frame into buf (grown as needed) and returns it.
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(sz[:]))
	if n < 4 || n > 1<<30 {
		return buf, fmt.Errorf("absurd response size %d", n)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// responseBody strips the response header: correlation id, and for flexible non-ApiVersions
// responses the header's tagged fields (always empty from logd; skipped generically).
func responseBody(frame []byte, flex bool) (corr int32, body []byte, err error) {
	if len(frame) < 4 {
		return 0, nil, errors.New("short response")
	}
	corr = int32(binary.BigEndian.Uint32(frame))
	body = frame[4:]
	if flex {
		b := kbinReader(body)
		n, ok := b.uvarint()
		for i := uint64(0); ok && i < n; i++ {
			_, ok = b.uvarint()
			var l uint64
			l, ok = b.uvarint()
			ok = ok && b.skip(int(l))
		}
		if !ok {
			return corr, nil, errors.New("malformed response header tags")
		}
		body = b
	}
	return corr, body, nil
}

type kbinReader []byte

func (b *kbinReader) uvarint() (uint64, bool) {
	v, n := binary.Uvarint(*b)
	if n <= 0 {
		return 0, false
	}
	*b = (*b)[n:]
	return v, true
}

func (b *kbinReader) skip(n int) bool {
	if n < 0 || n > len(*b) {
		return false
	}
	*b = (*b)[n:]
	return true
}

// Conn is a connection used for setup round trips (ApiVersions, Metadata, CreateTopics).
// The load loops use the raw net.Conn.
type Conn struct {
	net.Conn
	r        *bufio.Reader
	corr     int32
	versions map[int16][2]int16 // key -> [min, max] the broker advertises
	buf      []byte
}

// Dial connects and negotiates API versions.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &Conn{Conn: nc, r: bufio.NewReaderSize(nc, 1<<20)}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = clientID, "1.0"
	resp, err := c.roundTrip(req)
	if err == nil {
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.ErrorCode == kerr.UnsupportedVersion.Code {
			req.SetVersion(0)
			resp, err = c.roundTrip(req)
		}
		if err == nil {
			av = resp.(*kmsg.ApiVersionsResponse)
			if e := kerr.ErrorForCode(av.ErrorCode); e != nil {
				err = fmt.Errorf("ApiVersions: %w", e)
			}
			c.versions = map[int16][2]int16{}
			for _, k := range av.ApiKeys {
				c.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
			}
		}
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return c, nil
}

// Version picks the highest version of key both sides speak within [lo, hi], or -1.
func (c *Conn) Version(key kmsg.Key, lo, hi int16) int16 {
	r, ok := c.versions[int16(key)]
	if !ok {
		return -1
	}
	v := min(hi, r[1])
	if v < max(lo, r[0]) {
		return -1
	}
	return v
}

// roundTrip sends req at its set version and reads its response.
func (c *Conn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.buf = appendFrame(c.buf[:0], req, c.corr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(c.buf); err != nil {
		return nil, err
	}
	frame, err := readFrame(c.r, nil)
	if err != nil {
		return nil, err
	}
	flex := flexible(req) && req.Key() != int16(kmsg.ApiVersions)
	corr, body, err := responseBody(frame, flex)
	if err != nil {
		return nil, err
	}
	if corr != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, c.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", resp, err)
	}
	return resp, nil
}

// RoundTrip sends req at the highest version both sides speak and returns the response.
func (c *Conn) RoundTrip(req kmsg.Request) (kmsg.Response, error) {
	v := c.Version(kmsg.Key(req.Key()), 0, req.MaxVersion())
	if v < 0 {
		return nil, fmt.Errorf("broker does not support API key %d", req.Key())
	}
	req.SetVersion(v)
	return c.roundTrip(req)
}

// Leaders returns, for each partition 0..partitions-1 of topic, its leader's "host:port".
// If the topic is missing it is created with the given partition count (CreateTopics when the
// broker supports it, otherwise Metadata auto-creation). A topic with fewer partitions is an
// error: the run would not measure what was asked.
func (c *Conn) Leaders(topic string, partitions int32, create bool) ([]string, error) {
	leaders, err := c.leaders(topic, false)
	if errors.Is(err, kerr.UnknownTopicOrPartition) && create {
		if c.Version(kmsg.CreateTopics, 0, 7) >= 0 {
			if err = c.createTopic(topic, partitions); err != nil {
				return nil, err
			}
			leaders, err = c.leadersRetry(topic, partitions)
		} else {
			leaders, err = c.leaders(topic, true)
		}
	}
	if err != nil {
		return nil, err
	}
	if int32(len(leaders)) < partitions {
		return nil, fmt.Errorf("topic %s has %d partitions, the run asks for %d: create it with %d (or use -partitions %d)",
			topic, len(leaders), partitions, partitions, len(leaders))
	}
	return leaders[:partitions], nil
}

// maxPartitionsPerRequest keeps CreateTopics and CreatePartitions under Kafka's KRaft
// controller limit on records per operation (10,000: a topic record plus one per partition;
// beyond it Kafka answers POLICY_VIOLATION).
const maxPartitionsPerRequest = 5000

// createTopic creates topic with partitions, in steps of maxPartitionsPerRequest (CreateTopics
// then CreatePartitions).
func (c *Conn) createTopic(topic string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, min(partitions, maxPartitionsPerRequest), -1
	if c.Version(kmsg.CreateTopics, 0, 7) < 4 {
		t.ReplicationFactor = 1 // -1 (broker default) arrived in v4
	}
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 60000
	resp, err := c.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("CreateTopics: %w", err)
	}
	for _, rt := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if e := kerr.ErrorForCode(rt.ErrorCode); e != nil && !errors.Is(e, kerr.TopicAlreadyExists) {
			return fmt.Errorf("CreateTopics %s: %w", topic, e)
		}
	}
	for n := t.NumPartitions; n < partitions; {
		n = min(n+maxPartitionsPerRequest, partitions)
		if _, err := c.leadersRetry(topic, 1); err != nil {
			return err
		}
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, n
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 60000
		resp, err := c.RoundTrip(req)
		if err != nil {
			return fmt.Errorf("CreatePartitions: %w", err)
		}
		for _, r := range resp.(*kmsg.CreatePartitionsResponse).Topics {
			if e := kerr.ErrorForCode(r.ErrorCode); e != nil {
				return fmt.Errorf("CreatePartitions %s to %d: %w", topic, n, e)
			}
		}
	}
	return nil
}

// leadersRetry waits until Metadata lists topic with at least partitions partitions (minutes
// for thousands of partitions on a busy machine).
func (c *Conn) leadersRetry(topic string, partitions int32) ([]string, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		l, err := c.leaders(topic, false)
		if err == nil && int32(len(l)) < partitions {
			err = fmt.Errorf("topic %s: %d of %d partitions in Metadata", topic, len(l), partitions)
		}
		if err == nil || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Conn) leaders(topic string, autoCreate bool) ([]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = autoCreate
	v := c.Version(kmsg.Metadata, 1, 12)
	if v < 0 {
		return nil, errors.New("broker does not support Metadata v1-12")
	}
	req.SetVersion(v)
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("Metadata: %w", err)
	}
	md := resp.(*kmsg.MetadataResponse)
	brokers := map[int32]string{}
	for _, b := range md.Brokers {
		brokers[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	for _, t := range md.Topics {
		if e := kerr.ErrorForCode(t.ErrorCode); e != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, e)
		}
		out := make([]string, len(t.Partitions))
		for _, p := range t.Partitions {
			if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
				return nil, fmt.Errorf("topic %s partition %d: %w", topic, p.Partition, e)
			}
			if p.Partition < 0 || int(p.Partition) >= len(out) {
				return nil, fmt.Errorf("topic %s: partition %d out of range", topic, p.Partition)
			}
			out[p.Partition] = brokers[p.Leader]
			if out[p.Partition] == "" {
				return nil, fmt.Errorf("topic %s partition %d: leader %d not among brokers", topic, p.Partition, p.Leader)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("topic %s: not in Metadata response", topic)
}

// frameReader reads size-prefixed frames straight from a connection into one buffer and
// returns them in place: unlike bufio.Reader + io.ReadFull it never copies a frame's bytes
// again after the kernel did (a fetch response is megabytes). Only the tail of a partial
// frame moves, when the buffer is compacted.
type frameReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
}

func newFrameReader(r io.Reader, size int) *frameReader {
	return &frameReader{r: r, buf: make([]byte, size)}
}

// next returns the next frame (without its size), valid until the following call.
func (f *frameReader) next() ([]byte, error) {
	if err := f.fill(4); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(f.buf[f.start:]))
	if n < 4 || n > 1<<30 {
		return nil, fmt.Errorf("absurd response size %d", n)
	}
	if err := f.fill(4 + n); err != nil {
		return nil, err
	}
	frame := f.buf[f.start+4 : f.start+4+n]
	f.start += 4 + n
	return frame, nil
}

// fill makes at least n unread bytes available.
func (f *frameReader) fill(n int) error {
	if f.end-f.start >= n {
		return nil
	}
	if f.start+n > len(f.buf) {
		if n > len(f.buf) {
			nb := make([]byte, max(n, 2*len(f.buf)))
			f.end = copy(nb, f.buf[f.start:f.end])
			f.buf = nb
		} else {
			f.end = copy(f.buf, f.buf[f.start:f.end])
		}
		f.start = 0
	}
	for f.end-f.start < n {
		k, err := f.r.Read(f.buf[f.end:])
		f.end += k
		if err != nil {
			if f.end-f.start >= n {
				return nil
			}
			if err == io.EOF && f.end > f.start {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// WaitReady waits until every partition of topic answers ListOffsets without error: a broker
// may list a new topic's leaders in Metadata before it serves them (Kafka answers
// NOT_LEADER_OR_FOLLOWER for a moment after CreateTopics), and may open partitions lazily.
// Partitions are asked in chunks of 500, so no single request waits on thousands of them.
func (c *Conn) WaitReady(topic string, partitions int32, timeout time.Duration) error {
	v := c.Version(kmsg.ListOffsets, 1, 7)
	if v < 0 {
		return nil // nothing to ask with; the run will tell
	}
	deadline := time.Now().Add(timeout)
	for lo := int32(0); lo < partitions; {
		hi := min(lo+500, partitions)
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(v)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := lo; p < hi; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := c.roundTrip(req)
		if err != nil {
			return fmt.Errorf("ListOffsets: %w", err)
		}
		var bad error
		for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && bad == nil {
					bad = fmt.Errorf("topic %s partition %d: %w", topic, p.Partition, e)
				}
			}
		}
		if bad == nil {
			lo = hi
			continue
		}
		if time.Now().After(deadline) {
			return bad
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
