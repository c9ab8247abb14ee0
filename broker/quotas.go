package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
	"github.com/logd/logd/quota"
)

// Client quotas (quota package): the handlers of DescribeClientQuotas (48) and
// AlterClientQuotas (49) read and change them; Produce and Fetch record their bytes and
// answer a client over its quota with throttle_time_ms, its connection muted as long
// (server.Response.MuteFor, applied in encodeResponse and writeFetch).

// SetClientQuotas installs the cluster's client quotas at metadata version (its Raft index);
// the cluster node calls it at every change of its view.
func (b *Broker) SetClientQuotas(version uint64, qs []metadata.ClientQuota) {
	b.quotas.Update(version, qs)
}

// throttleFor records bytes of kind for the request's principal and client id, and sets
// the call's throttle when the client is over its quota.
func (b *Broker) throttleFor(c *call, kind quota.Kind, bytes int64) {
	if !b.quotas.Active() {
		return
	}
	var principal string
	if s := c.req.Session; s != nil {
		principal = s.Principal()
	}
	d := b.quotas.Record(kind, quota.UserOf(principal), clientID(c), bytes, time.Now())
	if d > c.throttle {
		c.throttle = d
		b.metrics.ObserveThrottle(kind == quota.Produce, d)
	}
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
	r.throttleMs = throttleMillis(c.throttle)
}
