package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/share"
)

// ShareFetch: versions 1-2 (v0 was Kafka 4.0's early access). A share group member's fetch
// within its share session (share/doc.go): the session epoch is checked first (top-level
// INVALID_SHARE_SESSION_EPOCH / SHARE_SESSION_NOT_FOUND), then the piggybacked
// acknowledgements are applied per partition (AcknowledgeErrorCode), then records are
// acquired from every partition of the session led here, up to MaxRecords and MaxBytes, and
// returned with their acquired ranges (the whole batches holding them; the client delivers
// only acquired offsets). Epoch -1 closes the session after its acknowledgements and fetches
// nothing, as does a v2 renew-only request (IsRenewAck). v2's ShareAcquireMode 1
// (record_limit) stops at exactly MaxRecords; 0 (batch_optimized) takes whole batches. A
// session ends, and its member's records are released, when the connection that opened it
// closes (ConnClosed).
//
// With nothing acquired the fetch parks like a Fetch (parkedFetch): on its partitions'
// appendWaiters, which appends and released records (lock expiry, releases, members
// leaving) wake, until MaxWaitMs.
//
// Authorization (acl/doc.go): READ on the group refuses the request whole; a topic without
// READ has each of its partitions answered TOPIC_AUTHORIZATION_FAILED (ErrorCode, and
// AcknowledgeErrorCode for its acknowledgements), as Kafka does.
func init() {
	register(api{key: int16(kmsg.ShareFetch), min: 1, max: 2, handle: handleShareFetch})
}

// shareFetchPart is one partition of a share fetch's answer.
type shareFetchPart struct {
	tp   share.TopicPartition
	part *partition // nil: not read (an error, or not in the session)
	resp *kmsg.ShareFetchResponseTopicPartition
	// listed: in the request (answered even without records)
	listed bool
}

func handleShareFetch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ShareFetchRequest)
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.LockDuration(derefGroup(req.GroupID)).Milliseconds())
	if code := b.shareGroupDenied(c, derefGroup(req.GroupID)); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	denied := shareTopicsDenied{b: b, c: c}
	if req.ShareAcquireMode != 0 && req.ShareAcquireMode != 1 {
		msg := "ShareAcquireMode must be 0 (batch_optimized) or 1 (record_limit)"
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, &msg
		return resp, nil
	}
	group, member := deref(req.GroupID), deref(req.MemberID)
	f := &parkedShareFetch{b: b, c: c, resp: resp, group: group, member: member, byTP: map[share.TopicPartition]*shareFetchPart{},
		maxBytes: req.MaxBytes, maxRecords: int(req.MaxRecords), strict: req.ShareAcquireMode == 1,
		parking: parking{deadline: time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)}}
	if f.maxRecords <= 0 {
		f.maxRecords = 500 // the client's max.poll.records default
	}
	sr := share.SessionRequest{Epoch: req.ShareSessionEpoch}
	if c.req.Session != nil {
		sr.Conn = c.req.Session // the session ends with the connection (ConnClosed)
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := share.TopicPartition{TopicID: t.TopicID, Partition: p.Partition}
			sr.Add = append(sr.Add, tp)
			sr.Acks = sr.Acks || len(p.AcknowledgementBatches) > 0
			f.entry(tp).listed = true
		}
	}
	for _, t := range req.ForgottenTopicsData {
		for _, p := range t.Partitions {
			sr.Forget = append(sr.Forget, share.TopicPartition{TopicID: t.TopicID, Partition: p})
		}
	}
	sess, ok := b.useShareSession(req.GroupID, req.MemberID, sr, &resp.ErrorCode, &resp.ErrorMessage)
	if !ok {
		return resp, nil
	}
	maxType := share.AckReject
	if c.version() >= 2 {
		maxType = share.AckRenew
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			acks := make([]share.AckBatch, len(p.AcknowledgementBatches))
			for i, a := range p.AcknowledgementBatches {
				acks[i] = share.AckBatch{First: a.FirstOffset, Last: a.LastOffset, Types: ackTypes(a.AcknowledgeTypes)}
			}
			e := f.entry(share.TopicPartition{TopicID: t.TopicID, Partition: p.Partition})
			if code := denied.code(t.TopicID); code != 0 {
				e.resp.AcknowledgeErrorCode = code
				continue
			}
			// Not awaited: a fetch's acknowledgements are written, and a crash before they
			// are durable redelivers those records (at least once).
			code, msg, _ := b.shareAcknowledge(group, member, e.tp, acks, maxType)
			e.resp.AcknowledgeErrorCode, e.resp.AcknowledgeErrorMessage = code, msg
		}
	}
	if sess.Closing {
		b.shares.CloseSession(group, member)
		return f.build(), nil
	}
	if req.IsRenewAck {
		return f.build(), nil
	}
	for _, tp := range sess.Partitions {
		e := f.entry(tp)
		if code := denied.code(tp.TopicID); code != 0 {
			e.resp.ErrorCode = code
			continue
		}
		part, code := b.sharePartition(tp)
		if code != 0 {
			e.resp.ErrorCode = code
			continue
		}
		e.part = part
		f.any = true
	}
	return f.run()
}

// ackTypes converts the wire's acknowledge types.
func ackTypes(ts []int8) []share.AckType {
	out := make([]share.AckType, len(ts))
	for i, t := range ts {
		out[i] = share.AckType(t)
	}
	return out
}

// sharePartition is the partition a share request names, if this broker leads it, else the
// error code (UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER).
func (b *Broker) sharePartition(tp share.TopicPartition) (*partition, int16) {
	t, ok := b.cluster.TopicByID(metadata.TopicID(tp.TopicID))
	if !ok {
		return nil, kerr.UnknownTopicID.Code
	}
	part, err := b.partition(t.Name, tp.Partition)
	if err != nil {
		return nil, errorCode(err)
	}
	if _, _, code := b.leaderEpochOf(part); code != 0 {
		return nil, code
	}
	return part, 0
}

// shareAcknowledge applies one partition's acknowledgements, returning its error code and
// message and the durability of the new state (nil: nothing written).
func (b *Broker) shareAcknowledge(groupID, member string, tp share.TopicPartition, acks []share.AckBatch, maxType share.AckType) (int16, *string, group.Durable) {
	if _, code := b.sharePartition(tp); code != 0 {
		return code, nil, nil
	}
	wait, err := b.shares.Acknowledge(groupID, member, tp, acks, maxType)
	if err != nil {
		msg := err.Error()
		return errorCode(err), &msg, nil
	}
	return 0, nil, wait
}

// parkedShareFetch is a share fetch that may wait for records: the same ownership protocol
// as parkedFetch (its state diagram), with a read that acquires.
type parkedShareFetch struct {
	b             *Broker
	c             *call
	resp          *kmsg.ShareFetchResponse
	group, member string
	byTP          map[share.TopicPartition]*shareFetchPart
	order         []*shareFetchPart
	maxBytes      int32
	maxRecords    int
	strict        bool
	any           bool // some partition is read
	parking
}

// entry is the answer's entry for tp, created on first use.
func (f *parkedShareFetch) entry(tp share.TopicPartition) *shareFetchPart {
	if e := f.byTP[tp]; e != nil {
		return e
	}
	r := kmsg.NewShareFetchResponseTopicPartition()
	r.Partition = tp.Partition
	r.Records = []byte{} // Records is not nullable: Kafka's clients refuse a null
	e := &shareFetchPart{tp: tp, resp: &r}
	f.byTP[tp] = e
	f.order = append(f.order, e)
	return e
}

// run acquires until the fetch can be answered or must park (parkedFetch.run's protocol):
// it returns the response while on the handler's goroutine, nil once parked.
func (f *parkedShareFetch) run() (kmsg.Response, error) {
	b := f.b
	for {
		if f.registered {
			f.each(func(e *shareFetchPart) { e.part.waiters.add(f) })
		}
		got := f.acquire()
		if got || !f.any || !time.Now().Before(f.deadline) || (f.registered && isClosed(b.closing)) {
			return f.answer()
		}
		if !f.registered {
			f.registered = true
			continue
		}
		if !f.hold(b, f.c, f.poke) {
			return f.answer()
		}
		if f.tryPark() {
			return nil, errDeferred
		}
	}
}

// each calls fn for every partition the fetch reads.
func (f *parkedShareFetch) each(fn func(e *shareFetchPart)) {
	for _, e := range f.order {
		if e.part != nil {
			fn(e)
		}
	}
}

// acquire reads and acquires from every partition, reporting whether anything was acquired
// or a partition failed.
func (f *parkedShareFetch) acquire() bool {
	b := f.b
	readCommitted := b.shares.ReadCommitted(f.group)
	bytesLeft, recordsLeft := int64(f.maxBytes), f.maxRecords
	found := false
	f.each(func(e *shareFetchPart) {
		if recordsLeft <= 0 || (found && bytesLeft <= 0) {
			return
		}
		l := e.part.log
		end := l.HighWatermark()
		if readCommitted {
			end = min(end, l.LastStableOffset())
		}
		offs := share.LogOffsets{Start: l.LogStartOffset(), End: end, ByTime: b.shareOffsetByTime(l, end)}
		from, ok := b.shares.ReadFrom(f.group, e.tp, offs)
		if !ok {
			return
		}
		rd, err := readShareBatches(l, from, end, int32(min(max(bytesLeft, 0), int64(^uint32(0)>>1))), readCommitted)
		if err != nil {
			e.resp.ErrorCode = errorCode(err)
			msg := err.Error()
			e.resp.ErrorMessage = &msg
			e.part = nil
			found = true
			return
		}
		got := b.shares.Acquire(f.group, f.member, e.tp, rd.batches, offs, recordsLeft, f.strict)
		if len(got) == 0 {
			return
		}
		found = true
		e.resp.Records = append(e.resp.Records, rd.through(got)...)
		bytesLeft -= int64(len(e.resp.Records))
		for _, a := range got {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = a.First, a.Last, a.Deliveries
			e.resp.AcquiredRecords = append(e.resp.AcquiredRecords, ar)
			recordsLeft -= int(a.Last - a.First + 1)
		}
		if m := e.part.metrics; m != nil {
			m.Fetched(int64(len(e.resp.Records)))
		}
	})
	return found
}

// answer takes f off its partitions and answers.
func (f *parkedShareFetch) answer() (kmsg.Response, error) {
	b := f.b
	f.release(b)
	if f.registered {
		f.each(func(e *shareFetchPart) { e.part.waiters.remove(f) })
	}
	resp := f.build()
	if !f.c.parked {
		return resp, nil
	}
	b.finishKmsg(f.c, resp)
	return nil, errDeferred
}

// build fills the response: every partition the request named, and every other one with
// records or an error.
func (f *parkedShareFetch) build() *kmsg.ShareFetchResponse {
	topic := map[[16]byte]int{}
	for _, e := range f.order {
		r := e.resp
		if !e.listed && len(r.AcquiredRecords) == 0 && r.ErrorCode == 0 && r.AcknowledgeErrorCode == 0 {
			continue
		}
		i, ok := topic[e.tp.TopicID]
		if !ok {
			i = len(f.resp.Topics)
			topic[e.tp.TopicID] = i
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = e.tp.TopicID
			f.resp.Topics = append(f.resp.Topics, t)
		}
		f.resp.Topics[i].Partitions = append(f.resp.Topics[i].Partitions, *r)
	}
	return f.resp
}

// poke is parkedFetch.poke's protocol.
func (f *parkedShareFetch) poke() { f.pokeParked(f.b, f.resume) }

func (f *parkedShareFetch) resume() { _, _ = f.run() }

func (f *parkedShareFetch) owner() *Broker { return f.b }
