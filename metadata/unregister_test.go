package metadata

import (
	"errors"
	"testing"
)

// TestUnregisterBrokerState: a fenced broker's registration goes, its leadership moves to
// the other ISR member first; an unknown id is ErrUnknownBroker.
func TestUnregisterBrokerState(t *testing.T) {
	s := NewClusterState("c")
	index := uint64(0)
	apply := func(c any) any {
		t.Helper()
		index++
		r, err := s.Apply(index, c)
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		return r
	}
	for id := int32(1); id <= 2; id++ {
		b := apply(&RegisterBroker{ID: id, Incarnation: "x", Host: "h", Port: 9092}).(*BrokerRegistration)
		apply(&UnfenceBroker{ID: id, Epoch: b.Epoch})
	}
	apply(&CreateTopic{Name: "t", ID: TopicID{1}, Partitions: 1, Assignment: [][]int32{{1, 2}}})
	p := s.Topics["t"].Partitions[0]
	if p.Leader != 1 {
		t.Fatalf("leader %d, want 1", p.Leader)
	}
	apply(&UnregisterBroker{ID: 1})
	if _, ok := s.Brokers[1]; ok {
		t.Fatal("broker 1 still registered")
	}
	if p := s.Topics["t"].Partitions[0]; p.Leader != 2 || len(p.ISR) != 1 || p.ISR[0] != 2 {
		t.Fatalf("after unregistering the leader: %+v", p)
	}
	index++
	if _, err := s.Apply(index, &UnregisterBroker{ID: 1}); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("unregister again: %v, want ErrUnknownBroker", err)
	}
}
