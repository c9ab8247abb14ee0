package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestUnregisterBroker: an unknown id is BROKER_ID_NOT_REGISTERED; the running node
// unregistered registers again and serves its partitions.
func TestUnregisterBroker(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "unreg", 1, nil)
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
	if r := unregister(tb.b.cfg.NodeID); r.ErrorCode != 0 {
		t.Fatalf("unregister the running node: %+v", r)
	}
	eventually(t, "the node registered again, leading its partition", func() bool {
		if e := epoch(); e < 0 || e == before {
			return false // not yet registered anew
		}
		p := producePartDP(t, rc.request(produceReqDP(11, -1, "unreg", 0, batchDP{}.encode())))
		return p.ErrorCode == 0
	})
}
