package broker

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/net/server"
)

// Fetch: versions 4-18. v4 is Kafka 4's floor (and librdkafka's for record batches); zstd
// needs v10+, which clients check themselves. v17's ReplicaDirectoryID (KIP-853) and v18's
// per-partition HighWatermark (KIP-1166) are tagged fields for Kafka's own KRaft quorum
// fetches, where the voter's directory and its known high watermark matter; Kafka's partition
// fetch path ignores both, and so does logd's (logd's metadata quorum is not fetched through
// here; the follower's high watermark is the leader's to set, below), so the responses are
// v16's.
//
// The response is built here rather than by kmsg: record bytes go out as server.Regions of
// the segment files, by sendfile, never copied (fetch_encode.go writes the fields around them).
//
// Semantics (Kafka's, KIP-74 and KIP-227):
//   - each partition reads from FetchOffset up to the high watermark (READ_UNCOMMITTED) or
//     the last stable offset (READ_COMMITTED, isolation 1), which both levels get in
//     LastStableOffset; READ_COMMITTED also gets the aborted transactions overlapping
//     [FetchOffset, LSO) (engine.Log.AbortedTxns), so the client drops their records;
//   - PartitionMaxBytes bounds each partition and MaxBytes the response, except that the first
//     batch of the first partition with data is sent whole even when larger;
//   - batches are never cut: a partition whose next batch does not fit gets no records this
//     time (Kafka would send a partial batch, which clients discard);
//   - with fewer than MinBytes available the fetch parks until an append wakes it or MaxWaitMs
//     passes; a partition error answers at once;
//   - fetch sessions: none. Every answer is a full response with SessionID 0, which KIP-227
//     defines as "no session": franz-go stops asking, Java keeps sending full fetches with
//     epoch 0, librdkafka does not use sessions. A request naming a session (id != 0 or epoch
//     > 0) gets FETCH_SESSION_ID_NOT_FOUND, which clients answer with a full fetch.
//     ForgottenTopics only matter inside a session and are ignored;
//   - a partition not led here is NOT_LEADER_OR_FOLLOWER for everyone, CurrentLeaderEpoch is
//     checked against the led epoch, and a follower's fetch (replica id >= 0; v15+
//     ReplicaState.ID) first tells the partition's LeaderPartition its fetch offset (which may
//     move the high watermark), then reads up to the log end instead of the high watermark.
func init() {
	register(api{key: int16(kmsg.Fetch), min: 4, max: 18, raw: handleFetch})
}

// checkLeaderEpoch applies Kafka's CurrentLeaderEpoch check against the epoch this broker
// leads in (ours): -1 (or any negative) skips it, a newer epoch than ours is
// UNKNOWN_LEADER_EPOCH, an older one FENCED_LEADER_EPOCH.
func checkLeaderEpoch(current, ours int32) int16 {
	switch {
	case current < 0 || current == ours:
		return 0
	case current > ours:
		return kerr.UnknownLeaderEpoch.Code
	default:
		return kerr.FencedLeaderEpoch.Code
	}
}

func handleFetch(b *Broker, c *call) *server.Response {
	req := c.kreq.(*kmsg.FetchRequest)
	v := c.version()
	r := &fetchResponse{version: v}
	replicaID := req.ReplicaID
	if v >= 15 {
		replicaID = req.ReplicaState.ID
	}
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		r.errorCode = kerr.FetchSessionIDNotFound.Code
		return b.writeFetch(c, r)
	}

	readCommitted := req.IsolationLevel == 1
	nparts := 0
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		var t metadata.Topic
		var ok bool
		var unknown int16
		if v >= 13 {
			t, ok = b.cluster.TopicByID(rt.TopicID)
			unknown = kerr.UnknownTopicID.Code
		} else {
			t, ok = b.cluster.Topic(rt.Topic)
			unknown = kerr.UnknownTopicOrPartition.Code
		}
		name := rt.Topic
		if v >= 13 {
			name = t.Name
		}
		denied := (ok || v < 13) && !b.authorizeFetch(c, replicaID >= 0, name)
		ft := fetchTopic{name: rt.Topic, id: rt.TopicID, parts: make([]fetchPartition, len(rt.Partitions))}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			fp := &ft.parts[pi]
			*fp = fetchPartition{
				partition: rp.Partition, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1,
				abortedNull: !readCommitted, preferredReadReplica: -1,
				fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes,
			}
			switch {
			case denied:
				fp.errorCode = kerr.TopicAuthorizationFailed.Code
			case !ok:
				fp.errorCode = unknown
			default:
				part, err := b.partition(t.Name, rp.Partition)
				if err == nil {
					fp.replica = replicaID >= 0
					fp.errorCode = b.checkReplicatedFetch(part, v, replicaID, rp)
				}
				switch {
				case err != nil:
					fp.errorCode = errorCode(err)
				case fp.errorCode == 0 && part.log.Offline():
					fp.errorCode = kerr.KafkaStorageError.Code // its log directory failed
				case fp.errorCode == 0:
					fp.part = part
					nparts++
				}
			}
		}
		r.topics = append(r.topics, ft)
	}
	if v >= fetchFlexibleFrom {
		b.addFetchLeaders(r)
	}

	f := &parkedFetch{b: b, c: c, r: r, minBytes: req.MinBytes, maxBytes: req.MaxBytes, any: nparts > 0,
		parking: parking{deadline: time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)}}
	return f.run()
}

// parkedFetch is a fetch waiting for MinBytes (fetch sessions aside, Kafka's
// DelayedFetch): registered on its partitions' appendWaiters, it holds no goroutine. An
// append or high watermark move on one of them, its MaxWaitMs timer or the broker's
// shutdown pokes it; the poke queues a re-read on the broker's completer (never on the
// appender's goroutine, which goes back to its produce, nor on an event loop), which answers
// or parks it again. The completer is a small pool (GOMAXPROCS goroutines) rather than the
// appender because an append that wakes ten thousand fetches would otherwise answer its own
// produce only after building ten thousand fetch responses.
//
// One goroutine at a time owns the fetch (reads r, answers): the handler first, then the
// completer task a poke started. state hands ownership over without a lock:
//
//	fetchReading ──poke──► fetchPoked      (the owner reads once more before parking)
//	fetchReading ──owner parks──► fetchParked ──poke──► fetchReading + completer task (new owner)
//	any ──owner answers──► fetchAnswered   (pokes do nothing)
type parkedFetch struct {
	b                  *Broker
	c                  *call
	r                  *fetchResponse
	minBytes, maxBytes int32
	any                bool // some partition reads a log
	// wokeAt is when the append that woke the parked f happened (appendWaiters.wake); zero
	// when the current read was not started by an append. Owner only.
	wokeAt time.Time
	parking
}

const (
	fetchReading = iota
	fetchPoked
	fetchParked
	fetchAnswered
)

// run reads until the fetch can be answered or must park. Until the fetch first parks (on the
// handler's goroutine) it returns the response; afterwards it answers through the parked
// request and returns nil. The caller owns f.
func (f *parkedFetch) run() *server.Response {
	b, r := f.b, f.r
	for {
		if f.registered {
			// (Again: a wake took f off the partition that woke it.) Before reading, so an
			// append between the read and the park is not missed: it pokes f, which then
			// reads once more.
			b.forEachFetchPartition(r, func(p *fetchPartition) { p.part.waiters.add(f) })
		}
		total, failed := b.readFetch(r, f.maxBytes)
		// Past the deadline, or shutting down, whatever arrived is the answer.
		if total >= int64(f.minBytes) || failed || !f.any || !time.Now().Before(f.deadline) ||
			(f.registered && isClosed(b.closing)) {
			return f.answer()
		}
		if !f.registered {
			f.registered = true // register and look once more before parking
			continue
		}
		if !f.hold(b, f.c, f.poke) {
			return f.answer()
		}
		releaseFetchRegions(r)
		f.wokeAt = time.Time{} // this wake did not answer it: the next one is measured
		if f.tryPark() {
			return nil // f belongs to the next poke now: touch nothing
		}
	}
}

// answer takes f off its partitions and the parking count and sends the response.
func (f *parkedFetch) answer() *server.Response {
	b := f.b
	f.release(b)
	if f.registered {
		b.forEachFetchPartition(f.r, func(p *fetchPartition) { p.part.waiters.remove(f) })
	}
	resp := b.writeFetch(f.c, f.r)
	if !f.c.parked {
		return resp
	}
	b.finish(f.c, resp)
	if !f.wokeAt.IsZero() {
		b.metrics.ObserveFetchWake(time.Since(f.wokeAt))
	}
	return nil
}

// poke tells f something changed (data, its deadline, shutdown). Any goroutine (a completer
// task of appendWaiters.wake, f's timer, BeginShutdown); it never blocks.
func (f *parkedFetch) poke() { f.pokeParked(f.b, f.resume) }

// resume is the completer task of a poked fetch, its new owner.
func (f *parkedFetch) resume() { f.run() }

// wake is appendWaiters.wake's poke, on a completer goroutine: when f was parked it records
// the time of the append that woke it (for logd_fetch_wake_seconds) and re-reads it on this
// goroutine (inline) or queues the re-read like poke.
func (f *parkedFetch) wake(at time.Time, inline bool) {
	if !f.claim() {
		return
	}
	f.wokeAt = at // f is ours now
	if inline {
		f.resume()
		return
	}
	f.b.wakeups.Submit(f.resume)
}

// wakeParkedFetches pokes every parked fetch (BeginShutdown, after closing b.closing): they
// answer with what they have.
func (b *Broker) wakeParkedFetches() {
	for _, p := range b.openPartitions() {
		p.waiters.wake()
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// addFetchLeaders tells a client refused with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH
// where each partition's leader is now (KIP-951: CurrentLeader, and on v16+ the leaders'
// endpoints).
func (b *Broker) addFetchLeaders(r *fetchResponse) {
	added := map[int32]bool{}
	for ti := range r.topics {
		t := &r.topics[ti]
		name := t.name
		if r.version >= 13 {
			topic, ok := b.cluster.TopicByID(t.id)
			if !ok {
				continue
			}
			name = topic.Name
		}
		for pi := range t.parts {
			p := &t.parts[pi]
			if p.errorCode != kerr.NotLeaderForPartition.Code && p.errorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			pa, ok := b.cluster.Partition(name, p.partition)
			if !ok || pa.Leader < 0 {
				continue
			}
			p.hasLeader, p.leaderID, p.leaderEpoch = true, pa.Leader, pa.LeaderEpoch
			if added[pa.Leader] {
				continue
			}
			for _, br := range b.cluster.Brokers() {
				if br.ID == pa.Leader {
					added[br.ID] = true
					r.endpoints = append(r.endpoints, fetchEndpoint{id: br.ID, host: br.Host, port: br.Port})
				}
			}
		}
	}
}

// checkReplicatedFetch applies the leader checks to one partition of a fetch and, for a
// follower's fetch, reports its fetch offset to the partition's leader state. It returns the
// partition's error code.
func (b *Broker) checkReplicatedFetch(part *partition, v int16, replicaID int32, rp *kmsg.FetchRequestTopicPartition) int16 {
	epoch, lp, code := b.leaderEpochOf(part)
	if code != 0 {
		if replicaID >= 0 {
			return b.replicaLeaderCode(part, code)
		}
		return code
	}
	if v >= 9 {
		if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, epoch); code != 0 {
			return code
		}
	}
	if replicaID >= 0 {
		return errorCode(lp.FollowerFetched(replicaID, rp.FetchOffset))
	}
	return 0
}

// forEachFetchPartition calls fn for each partition that reads from a log.
func (b *Broker) forEachFetchPartition(r *fetchResponse, fn func(p *fetchPartition)) {
	for ti := range r.topics {
		for pi := range r.topics[ti].parts {
			if p := &r.topics[ti].parts[pi]; p.part != nil {
				fn(p)
			}
		}
	}
}

// readFetch (re)reads every partition of r, replacing earlier regions. It returns the record
// bytes found and whether any partition failed (which answers the fetch at once, as Kafka).
func (b *Broker) readFetch(r *fetchResponse, maxBytes int32) (total int64, failed bool) {
	releaseFetchRegions(r)
	limit := int64(maxBytes)
	first := true // no records yet: the next batch goes whole whatever its size (KIP-74)
	for ti := range r.topics {
		for pi := range r.topics[ti].parts {
			p := &r.topics[ti].parts[pi]
			if p.part == nil {
				if p.errorCode != 0 {
					failed = true
				}
				continue
			}
			l := p.part.log
			// The high watermark and the last stable offset are loaded before the read, so
			// they are never below the end of the records sent.
			hw := l.HighWatermark()
			lso := min(l.LastStableOffset(), hw)
			p.highWatermark, p.lastStableOffset, p.logStartOffset = hw, lso, l.LogStartOffset()
			p.errorCode = 0
			p.aborted = nil
			partLimit := min(int64(p.maxBytes), limit)
			if !first && partLimit <= 0 {
				continue
			}
			upTo := hw
			switch {
			case p.replica:
				upTo = l.LogEndOffset() // followers copy what is not committed yet
			case !p.abortedNull:
				upTo = lso // read_committed: only decided transactions
			}
			reg, err := l.Read(p.fetchOffset, int32(max(partLimit, 0)), upTo)
			if err != nil {
				p.errorCode = errorCode(err)
				if errors.Is(err, engine.ErrOffsetOutOfRange) {
					// Kafka fills these for OFFSET_OUT_OF_RANGE so the client can reset.
					p.highWatermark, p.lastStableOffset, p.logStartOffset = hw, lso, l.LogStartOffset()
				}
				failed = true
				continue
			}
			if reg.Len == 0 {
				reg.Release()
				continue
			}
			if !first && reg.Len > partLimit {
				// Read returns its first batch whole; only the first partition with data may
				// go over the limits.
				reg.Release()
				continue
			}
			p.region = reg
			if !p.abortedNull {
				p.aborted = l.AbortedTxns(p.fetchOffset, upTo)
			}
			first = false
			total += reg.Len
			limit -= reg.Len
		}
	}
	return total, failed
}

// releaseFetchRegions drops the regions of a fetch that will be re-read or not sent.
func releaseFetchRegions(r *fetchResponse) {
	for ti := range r.topics {
		for pi := range r.topics[ti].parts {
			r.topics[ti].parts[pi].region.Release()
			r.topics[ti].parts[pi].region = engine.Region{}
		}
	}
}

// writeFetch encodes r after the response header. Region ownership moves to the response:
// the server releases them after sending.
func (b *Broker) writeFetch(c *call, r *fetchResponse) *server.Response {
	b.throttleFetch(c, r)
	resp := server.NewResponse()
	bb := resp.Buffer()
	bb.B = appendResponseHeader(bb.B, c.req)
	// The callback moves bb to a new tail buffer after each region: assign through a
	// temporary so the final store goes to the tail, not to the buffer bb held before.
	out := appendFetchResponse(bb.B, r, func(dst []byte, p *fetchPartition) []byte {
		if p.region.Len == 0 {
			return append(dst, p.records...)
		}
		reg := p.region
		p.region = engine.Region{}
		p.part.metrics.Fetched(reg.Len)
		bb.B = dst
		resp.AppendRegion(server.Region{File: reg.File, Offset: reg.Pos, Len: reg.Len, Release: reg.Release})
		bb = resp.Buffer()
		return bb.B
	})
	bb.B = out
	if c.throttle > 0 {
		resp.MuteFor(c.throttle)
	}
	return resp
}
