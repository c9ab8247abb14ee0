package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
	"github.com/logd/logd/quota"
)

// Client quotas (quota package): the handlers of DescribeClientQuotas (48) and
// AlterClientQuotas (49) read and change them; Produce and Fetch record their bytes, every
// client request its handler time (request_percentage), and CreateTopics, CreatePartitions
// and DeleteTopics their partitions (controller_mutation_rate). A client over a quota is
// answered with throttle_time_ms, its connection muted as long (server.Response.MuteFor,
// applied in encodeResponse and writeFetch); the longest throttle of a request wins.

// SetClientQuotas installs the cluster's client quotas at metadata version (its Raft index);
// the cluster node calls it at every change of its view.
func (b *Broker) SetClientQuotas(version uint64, qs []metadata.ClientQuota) {
	b.quotas.Update(version, qs)
}

// Quotas is the broker's quota manager: the client quotas of the cluster metadata and the
// quota windows (Config.Quota); the connection quotas (quota.Connections) read its IP rates.
func (b *Broker) Quotas() *quota.Manager { return b.quotas }

// quotaUser is the quota user of the request's principal.
func quotaUser(c *call) string {
	var principal string
	if s := c.req.Session; s != nil {
		principal = s.Principal()
	}
	return quota.UserOf(principal)
}

// throttleFor records bytes of kind for the request's principal and client id, and sets
// the call's throttle when the client is over its quota.
func (b *Broker) throttleFor(c *call, kind quota.Kind, bytes int64) {
	if !b.quotas.Active() {
		return
	}
	d := b.quotas.Record(kind, quotaUser(c), clientID(c), bytes, time.Now())
	if d > c.throttle {
		c.throttle = d
		b.metrics.ObserveThrottle(kind == quota.Produce, d)
	}
}

// throttleRequest records the request's handler time (quota/doc.go: from Handle to the
// handler returning or parking) against its client's request_percentage quota, and sets the
// call's throttle when the client is over it. Requests Kafka exempts are not recorded:
// SASL, the brokers' own (internal APIs, WriteTxnMarkers) and a follower's Fetch (the caller
// skips it).
func (b *Broker) throttleRequest(c *call) {
	if !b.quotas.Active() || c.start.IsZero() {
		return
	}
	switch kmsg.Key(c.req.APIKey) {
	case kmsg.SASLHandshake, kmsg.SASLAuthenticate, kmsg.WriteTxnMarkers:
		return
	}
	if a := lookupAPI(c.req.APIKey); a == nil || a.internal {
		return
	}
	now := time.Now()
	end := now
	if !c.parkedAt.IsZero() {
		end = c.parkedAt
	}
	if d := b.quotas.RecordRequest(quotaUser(c), clientID(c), end.Sub(c.start), now); d > c.throttle {
		c.throttle = d
	}
}

// takeMutations takes n partition mutations from the client's controller_mutation_rate
// quota (quota.Manager.Mutate), strict from version strictFrom of the request's API, and
// sets the call's throttle; a strict refusal is THROTTLING_QUOTA_EXCEEDED.
func (b *Broker) takeMutations(c *call, n int32, strictFrom int16) error {
	d, ok := b.quotas.Mutate(quotaUser(c), clientID(c), int(n), c.version() >= strictFrom, time.Now())
	if d > c.throttle {
		c.throttle = d
	}
	if !ok {
		return refuse(kerr.ThrottlingQuotaExceeded, "the controller mutation quota is exceeded: %d partition mutations refused, retry in %d ms", n, d.Milliseconds())
	}
	return nil
}

// throttleMillis is a throttle as Kafka's throttle_time_ms (capped at int32).
func throttleMillis(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), int64(^uint32(0)>>1)))
}

// errQuotaRefused turns a quota alteration's refusal (from the state machine) into an error.
func errQuotaRefused(msg string) error {
	if msg == "" {
		return nil
	}
	return refuse(kerr.InvalidRequest, "%s", msg)
}

// throttleFetch records a consumer fetch's record bytes against its client's quota and puts
// the throttle in the response (a follower's fetch is not a client's: never throttled).
func (b *Broker) throttleFetch(c *call, r *fetchResponse) {
	if !b.quotas.Active() {
		return
	}
	req, ok := c.kreq.(*kmsg.FetchRequest)
	if !ok {
		return
	}
	replica := req.ReplicaID
	if r.version >= 15 {
		replica = req.ReplicaState.ID
	}
	if replica >= 0 {
		return
	}
	var n int64
	for ti := range r.topics {
		for pi := range r.topics[ti].parts {
			n += int64(r.topics[ti].parts[pi].recordsLen())
		}
	}
	b.throttleFor(c, quota.Fetch, n)
	b.throttleRequest(c)
	r.throttleMs = throttleMillis(c.throttle)
}
