package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestUnregisterBroker: an unknown id is BROKER_ID_NOT_REGISTERED; the running node is live
// and refused, and stays registered (metadata's TestUnregisterBrokerState removes a fenced
// one).
func TestUnregisterBroker(t *testing.T) {
	tb := startBroker(t, nil)
	rc := dialDP(t, tb)
	unregister := func(id int32) *kmsg.UnregisterBrokerResponse {
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = id
		return rc.request(req).(*kmsg.UnregisterBrokerResponse)
	}
	if r := unregister(99); r.ErrorCode != kerr.BrokerIDNotRegistered.Code || r.ErrorMessage == nil {
		t.Fatalf("unregister an unknown id: %+v", r)
	}
	epoch := func() int64 {
		for _, br := range tb.b.cluster.Brokers() {
			if br.ID == tb.b.cfg.NodeID {
				return br.Epoch
			}
		}
		return -1
	}
	before := epoch()
	if r := unregister(tb.b.cfg.NodeID); r.ErrorCode != kerr.InvalidRequest.Code || r.ErrorMessage == nil {
		t.Fatalf("unregister the running node: %+v", r)
	}
	if after := epoch(); after != before {
		t.Fatalf("the running node's registration epoch moved from %d to %d", before, after)
	}
}
