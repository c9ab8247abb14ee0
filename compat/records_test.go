//go:build compat

package compat

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hdr is one record header.
type hdr struct{ K, V string }

// rec is one record as the suite compares it. Key and Val nil mean null.
type rec struct {
	P   int32
	Off int64
	TS  int64 // milliseconds; 0 in an input means "let the client choose"
	Key []byte
	Val []byte
	H   []hdr
}

func hexOrNull(b []byte) string {
	if b == nil {
		return "-"
	}
	if len(b) == 0 {
		return "_" // empty, not null
	}
	return hex.EncodeToString(b)
}

func parseHexOrNull(s string) ([]byte, error) {
	switch s {
	case "-":
		return nil, nil
	case "_":
		return []byte{}, nil
	}
	return hex.DecodeString(s)
}

func hdrString(h []hdr) string {
	if len(h) == 0 {
		return "-"
	}
	var parts []string
	for _, x := range h {
		parts = append(parts, hex.EncodeToString([]byte(x.K))+":"+hexOrNull([]byte(x.V)))
	}
	return strings.Join(parts, ",")
}

// content is the record's content without its position: key, value, headers.
func (r rec) content() string {
	return hexOrNull(r.Key) + " " + hexOrNull(r.Val) + " " + hdrString(r.H)
}

// contentFor is content, with headers sorted by key if the scenario's client cannot keep
// their order.
func (r rec) contentFor(s *S) string {
	if s == nil || (!s.looseHeaders && !s.emptyIsNull) {
		return r.content()
	}
	if s.emptyIsNull {
		if len(r.Key) == 0 {
			r.Key = nil
		}
		if len(r.Val) == 0 {
			r.Val = nil
		}
	}
	h := append([]hdr(nil), r.H...)
	sort.SliceStable(h, func(i, j int) bool { return h[i].K < h[j].K })
	return hexOrNull(r.Key) + " " + hexOrNull(r.Val) + " " + hdrString(h)
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + fmt.Sprintf("…(%d chars)", len(s))
	}
	return s
}

// parseREC parses "REC p off ts key val hdrs" as the driver programs print it.
func parseREC(line string) (rec, error) {
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "REC" {
		return rec{}, fmt.Errorf("bad REC line %q", short(line))
	}
	p, err1 := strconv.Atoi(f[1])
	off, err2 := strconv.ParseInt(f[2], 10, 64)
	ts, err3 := strconv.ParseInt(f[3], 10, 64)
	k, err4 := parseHexOrNull(f[4])
	v, err5 := parseHexOrNull(f[5])
	for _, e := range []error{err1, err2, err3, err4, err5} {
		if e != nil {
			return rec{}, fmt.Errorf("bad REC line %q: %v", short(line), e)
		}
	}
	r := rec{P: int32(p), Off: off, TS: ts, Key: k, Val: v}
	if f[6] != "-" {
		for _, kv := range strings.Split(f[6], ",") {
			a, b, _ := strings.Cut(kv, ":")
			hk, e1 := hex.DecodeString(a)
			hv, e2 := parseHexOrNull(b)
			if e1 != nil || e2 != nil {
				return rec{}, fmt.Errorf("bad header in %q", short(line))
			}
			r.H = append(r.H, hdr{string(hk), string(hv)})
		}
	}
	return r, nil
}

// inputLine is one record to produce, as the driver programs read it on stdin (JSON lines).
type inputLine struct {
	P  int32       `json:"p"` // -1: the client's partitioner
	K  *string     `json:"k"` // hex, null = null key
	V  *string     `json:"v"`
	H  [][2]string `json:"h"` // [key, hex value]
	TS int64       `json:"ts"`
}

func toInput(recs []rec) string {
	var sb strings.Builder
	for _, r := range recs {
		in := inputLine{P: r.P, TS: r.TS, H: [][2]string{}}
		if r.Key != nil {
			s := hex.EncodeToString(r.Key)
			in.K = &s
		}
		if r.Val != nil {
			s := hex.EncodeToString(r.Val)
			in.V = &s
		}
		for _, h := range r.H {
			in.H = append(in.H, [2]string{h.K, hex.EncodeToString([]byte(h.V))})
		}
		b, _ := json.Marshal(in)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// ---- data sets ----

var topicSeq atomic.Int64

// topicName returns a fresh topic name for a client and scenario.
func topicName(client, scen string) string {
	n := topicSeq.Add(1)
	s := strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(fmt.Sprintf("%s-%s-%d", client, scen, n))
	return s
}

// compressible returns a value that compresses well (so no client skips compression).
func compressible(i int) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("logd-compat-value-%04d|", i), 16))
}

// basicSet is n records for partition p with keys, compressible values and a header.
func basicSet(p int32, n int) []rec {
	var out []rec
	for i := 0; i < n; i++ {
		out = append(out, rec{P: p, Key: []byte(fmt.Sprintf("key-%d", i)), Val: compressible(i),
			H: []hdr{{"idx", strconv.Itoa(i)}}})
	}
	return out
}

// keyedSet is n records over nkeys keys, partition chosen by the client.
func keyedSet(n, nkeys int) []rec {
	var out []rec
	for i := 0; i < n; i++ {
		k := i % nkeys
		out = append(out, rec{P: -1, Key: []byte(fmt.Sprintf("user-%d", k)), Val: []byte(fmt.Sprintf("user-%d-seq-%05d", k, i/nkeys))})
	}
	return out
}

// headerSet exercises headers: several, repeated keys, empty values, binary values.
func headerSet(p int32) []rec {
	return []rec{
		{P: p, Key: []byte("h1"), Val: []byte("one header"), H: []hdr{{"trace-id", "abc123"}}},
		{P: p, Key: []byte("h2"), Val: []byte("three headers, one repeated"), H: []hdr{{"a", "1"}, {"b", "2"}, {"a", "3"}}},
		{P: p, Key: []byte("h3"), Val: []byte("binary header"), H: []hdr{{"bin", "\x00\x01\xff\xfe"}, {"utf8", "héllo"}}},
		{P: p, Key: []byte("h4"), Val: []byte("no headers")},
	}
}

// nullSet has null keys, null values and empty ones.
func nullSet(p int32) []rec {
	return []rec{
		{P: p, Key: nil, Val: []byte("null key")},
		{P: p, Key: []byte("tombstone"), Val: nil},
		{P: p, Key: nil, Val: nil},
		{P: p, Key: []byte("empty value"), Val: []byte{}},
		{P: p, Key: []byte{}, Val: []byte("empty key")},
	}
}

// largeSet is n records of about 900 KB of incompressible bytes.
func largeSet(p int32, n int) []rec {
	r := rand.New(rand.NewSource(42))
	var out []rec
	for i := 0; i < n; i++ {
		v := make([]byte, 900*1024)
		r.Read(v)
		out = append(out, rec{P: p, Key: []byte(fmt.Sprintf("large-%d", i)), Val: v})
	}
	return out
}

// tsBase is a fixed, whole-second timestamp an hour ago for timestamp scenarios.
var tsBase = time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()

// tsSet is 10 records with timestamps tsBase + i seconds.
func tsSet(p int32) []rec {
	var out []rec
	for i := 0; i < 10; i++ {
		out = append(out, rec{P: p, Key: []byte(fmt.Sprintf("t%d", i)), Val: []byte(fmt.Sprintf("at +%ds", i)), TS: tsBase + int64(i)*1000})
	}
	return out
}

// tsQueries are (timestamp → expected offset) for tsSet in one partition; -1: none.
func tsQueries() [][2]int64 {
	return [][2]int64{{tsBase - 5000, 0}, {tsBase + 2500, 3}, {tsBase + 5000, 5}, {tsBase + 9000, 9}, {tsBase + 60000, -1}}
}

// ---- the reference client: franz-go ----

func newAdmin(s *S, addr string) (*kadm.Client, *kgo.Client) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		s.Fatalf("kgo client: %v", err)
	}
	s.Cleanup(cl.Close)
	return kadm.NewClient(cl), cl
}

// createTopic creates a topic with kadm and waits until Metadata shows it.
func createTopic(s *S, topic string, partitions int32, configs map[string]*string) {
	s.Helper()
	adm, _ := newAdmin(s, bootAddr)
	resp, err := adm.CreateTopics(s.ctx, partitions, 1, configs, topic)
	if err != nil {
		s.Fatalf("setup: CreateTopics %s: %v", topic, err)
	}
	if r := resp[topic]; r.Err != nil {
		s.Fatalf("setup: CreateTopics %s: %v %s", topic, r.Err, r.ErrMessage)
	}
	waitTopic(s, adm, topic, partitions)
}

func waitTopic(s *S, adm *kadm.Client, topic string, partitions int32) {
	for {
		md, err := adm.Metadata(s.ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) == int(partitions) {
				return
			}
		}
		select {
		case <-s.ctx.Done():
			s.Fatalf("setup: topic %s not visible in metadata with %d partitions: %v", topic, partitions, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readAll reads every record of the topic's partitions from offset 0 with franz-go until the
// partitions' high watermarks are reached (or want records have arrived, if want > 0).
func readAll(s *S, addr, topic string, partitions int32, want int) []rec {
	s.Helper()
	return readAllCtx(s, s.ctx, addr, topic, partitions, want)
}

func readAllCtx(s *S, ctx context.Context, addr, topic string, partitions int32, want int) []rec {
	s.Helper()
	adm, _ := newAdmin(s, addr)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		s.Fatalf("reference read: ListEndOffsets %s: %v", topic, err)
	}
	need := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			need[o.Partition] = o.Offset
		}
	})
	if len(need) == 0 && want <= 0 {
		return nil
	}
	parts := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		parts[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMaxPartitionBytes(4<<20), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		s.Fatalf("reference read: %v", err)
	}
	defer cl.Close()
	var out []rec
	for {
		done := true
		if want > 0 {
			done = len(out) >= want
		}
		for p, end := range need {
			got := int64(-1)
			for _, r := range out {
				if r.P == p && r.Off > got {
					got = r.Off
				}
			}
			if got+1 < end {
				done = false
			}
		}
		if done {
			break
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.Fatalf("reference read of %s: timed out with %d records (end offsets %v)", topic, len(out), need)
		}
		fs.EachError(func(t string, p int32, err error) {
			s.Errorf("reference read %s/%d: %v", t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, fromKgo(r)) })
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].P != out[j].P {
			return out[i].P < out[j].P
		}
		return out[i].Off < out[j].Off
	})
	return out
}

func fromKgo(r *kgo.Record) rec {
	out := rec{P: r.Partition, Off: r.Offset, TS: r.Timestamp.UnixMilli(), Key: r.Key, Val: r.Value}
	for _, h := range r.Headers {
		out.H = append(out.H, hdr{h.Key, string(h.Value)})
	}
	return out
}

func toKgo(topic string, r rec) *kgo.Record {
	kr := &kgo.Record{Topic: topic, Partition: r.P, Key: r.Key, Value: r.Val}
	if r.TS != 0 {
		kr.Timestamp = time.UnixMilli(r.TS)
	}
	for _, h := range r.H {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.K, Value: []byte(h.V)})
	}
	return kr
}

// produceRef writes recs with franz-go (acks=all, idempotent, manual partitions) and returns them
// with their offsets and timestamps.
func produceRef(s *S, topic string, recs []rec, opts ...kgo.Opt) []rec {
	s.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(bootAddr), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.Fatalf("setup producer: %v", err)
	}
	defer cl.Close()
	var krs []*kgo.Record
	for _, r := range recs {
		krs = append(krs, toKgo(topic, r))
	}
	if err := cl.ProduceSync(s.ctx, krs...).FirstErr(); err != nil {
		s.Fatalf("setup produce to %s: %v", topic, err)
	}
	var out []rec
	for _, kr := range krs {
		out = append(out, fromKgo(kr))
	}
	return out
}

// ---- checks ----

// ack is what a producing client reports for input record idx.
type ack struct {
	P   int32
	Off int64 // -1 when unknown (acks=0)
}

// checkProduced compares the topic's content (read with franz-go) with what was sent.
// With offsets known, each input record must be at its acknowledged offset; otherwise the
// records of each partition must appear in input order. No extra records are allowed.
// checkTS: the timestamps given in the input must be kept.
func checkProduced(s *S, topic string, partitions int32, in []rec, acks []ack) []rec {
	s.Helper()
	got := readAll(s, bootAddr, topic, partitions, len(in))
	if len(got) != len(in) {
		s.Errorf("topic %s has %d records, produced %d", topic, len(got), len(in))
	}
	at := map[[2]int64]rec{}
	for _, r := range got {
		at[[2]int64{int64(r.P), r.Off}] = r
	}
	byPart := map[int32][]rec{}
	for _, r := range got {
		byPart[r.P] = append(byPart[r.P], r)
	}
	next := map[int32]int{}
	for i, want := range in {
		var g rec
		var ok bool
		if acks != nil && i < len(acks) && acks[i].Off >= 0 {
			g, ok = at[[2]int64{int64(acks[i].P), acks[i].Off}]
			if !ok {
				s.Errorf("record %d acknowledged at %d/%d is missing", i, acks[i].P, acks[i].Off)
				continue
			}
		} else {
			p := want.P
			if acks != nil && i < len(acks) {
				p = acks[i].P
			}
			if p < 0 {
				s.Errorf("record %d: no partition known", i)
				continue
			}
			if next[p] >= len(byPart[p]) {
				s.Errorf("record %d missing from partition %d", i, p)
				continue
			}
			g = byPart[p][next[p]]
			next[p]++
		}
		if g.contentFor(s) != want.contentFor(s) {
			s.Errorf("record %d at %d/%d: got %s, want %s", i, g.P, g.Off, short(g.content()), short(want.content()))
		}
		if want.TS != 0 && g.TS != want.TS {
			s.Errorf("record %d at %d/%d: timestamp %d, want %d", i, g.P, g.Off, g.TS, want.TS)
		}
	}
	return got
}

// checkConsumed compares what a client consumed with the reference records (position,
// timestamp and content).
func checkConsumed(s *S, got, want []rec) {
	s.Helper()
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].P != got[j].P {
			return got[i].P < got[j].P
		}
		return got[i].Off < got[j].Off
	})
	if len(got) != len(want) {
		s.Errorf("consumed %d records, want %d", len(got), len(want))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		if g.P != w.P || g.Off != w.Off || g.TS != w.TS || g.contentFor(s) != w.contentFor(s) {
			s.Errorf("record %d: got %d/%d ts=%d %s, want %d/%d ts=%d %s", i, g.P, g.Off, g.TS, short(g.content()), w.P, w.Off, w.TS, short(w.content()))
			return
		}
	}
}

// checkKeyed verifies keyed ordering: every key in one partition, its sequence in order.
func checkKeyed(s *S, got []rec, n int) {
	s.Helper()
	if len(got) != n {
		s.Errorf("keyed: %d records, want %d", len(got), n)
	}
	part := map[string]int32{}
	last := map[string]string{}
	used := map[int32]bool{}
	for _, r := range got {
		k := string(r.Key)
		used[r.P] = true
		if p, ok := part[k]; ok && p != r.P {
			s.Errorf("keyed: key %s in partitions %d and %d", k, p, r.P)
			return
		}
		part[k] = r.P
		if string(r.Val) <= last[k] {
			s.Errorf("keyed: key %s out of order: %s after %s", k, r.Val, last[k])
			return
		}
		last[k] = string(r.Val)
	}
	if len(used) < 2 {
		s.Errorf("keyed: all keys landed in %d partition(s); the partitioner was not exercised", len(used))
	}
}

// ---- raw batch inspection ----

// batchCodecs fetches the partition's raw bytes with a plain Fetch request and returns the
// compression codec of every record batch (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func batchCodecs(s *S, topic string, p int32) []int {
	s.Helper()
	adm, cl := newAdmin(s, bootAddr)
	md, err := adm.Metadata(s.ctx, topic)
	if err != nil {
		s.Fatalf("raw fetch: metadata: %v", err)
	}
	topicID := md.Topics[topic].ID
	// Fetch from the partition's leader (against a cluster, any other broker refuses).
	leader := cl.Broker(int(md.Topics[topic].Partitions[p].Leader))
	var codecs []int
	off := int64(0)
	for i := 0; i < 100; i++ {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.ReplicaID = -1
		req.MaxWaitMillis = 100
		req.MaxBytes = 8 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rt.TopicID = topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = off
		rp.PartitionMaxBytes = 8 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := leader.Request(s.ctx, req)
		if err != nil {
			s.Fatalf("raw fetch: %v", err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			s.Fatalf("raw fetch: unexpected response shape")
		}
		rp2 := resp.Topics[0].Partitions[0]
		if rp2.ErrorCode != 0 {
			s.Fatalf("raw fetch: error code %d", rp2.ErrorCode)
		}
		b := rp2.RecordBatches
		if len(b) == 0 {
			break
		}
		progressed := false
		for len(b) >= 61 {
			base := int64(binary.BigEndian.Uint64(b[0:]))
			length := int(binary.BigEndian.Uint32(b[8:]))
			if 12+length > len(b) {
				break
			}
			attrs := binary.BigEndian.Uint16(b[21:])
			lastDelta := int64(binary.BigEndian.Uint32(b[23:]))
			codecs = append(codecs, int(attrs&7))
			off = base + lastDelta + 1
			progressed = true
			b = b[12+length:]
		}
		if !progressed || off >= rp2.HighWatermark {
			break
		}
	}
	return codecs
}

var codecNum = map[string]int{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

func checkCodec(s *S, topic string, p int32, codec string) {
	s.Helper()
	cs := batchCodecs(s, topic, p)
	if len(cs) == 0 {
		s.Errorf("no batches in %s/%d", topic, p)
	}
	for _, c := range cs {
		if c != codecNum[codec] {
			s.Errorf("batch stored with codec %d, want %d (%s); batches: %v", c, codecNum[codec], codec, cs)
			return
		}
	}
}
