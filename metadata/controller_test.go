package metadata

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// stateProposer applies proposals straight to a ClusterState, as a one-voter quorum would.
type stateProposer struct {
	s     *ClusterState
	index uint64
	log   []string
}

func (p *stateProposer) Propose(cmd any, _ time.Duration) (any, error) {
	p.index++
	name, _ := commandName(cmd)
	p.log = append(p.log, name)
	return p.s.Apply(p.index, cmd)
}

func (p *stateProposer) Broker(id int32) (BrokerRegistration, bool) {
	b, ok := p.s.Brokers[id]
	if !ok {
		return BrokerRegistration{}, false
	}
	return *b, true
}

func (p *stateProposer) Unfenced() []BrokerRegistration { return p.s.Unfenced() }

func TestControllerFencesSilentBrokers(t *testing.T) {
	t0 := time.Unix(100, 0)
	p := &stateProposer{s: NewClusterState("c")}
	c := NewController(p, 9*time.Second, t0)
	var epochs []int64
	for id := int32(1); id <= 2; id++ {
		b, err := c.Register(RegisterBroker{ID: id, Incarnation: "a"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		epochs = append(epochs, b.Epoch)
		// Fenced until it says it caught up with the metadata.
		if r, err := c.Heartbeat(id, b.Epoch, false, false, nil, t0); err != nil || !r.Fenced {
			t.Fatalf("heartbeat before catching up: %+v %v", r, err)
		}
		if r, err := c.Heartbeat(id, b.Epoch, true, false, nil, t0); err != nil || r.Fenced {
			t.Fatalf("heartbeat after catching up: %+v %v", r, err)
		}
	}
	if _, err := c.Heartbeat(1, epochs[0]+100, true, false, nil, t0); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	if _, err := p.Propose(&CreateTopic{Name: "a", ID: tid(1), Assignment: [][]int32{{1, 2}}}, 0); err != nil {
		t.Fatal(err)
	}

	// Broker 1 keeps beating, broker 2 goes silent.
	for s := 1; s <= 12; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if _, err := c.Heartbeat(1, epochs[0], true, false, nil, now); err != nil {
			t.Fatal(err)
		}
		fenced, err := c.FenceExpired(now)
		if err != nil {
			t.Fatal(err)
		}
		if want := s == 10; (len(fenced) == 1 && fenced[0] == 2) != want || (!want && len(fenced) > 0) {
			t.Fatalf("second %d: fenced %v", s, fenced)
		}
	}
	if pa := p.s.Topics["a"].Partitions[0]; pa.Leader != 1 || !slices.Equal(pa.ISR, []int32{1}) {
		t.Fatalf("after fencing 2: %+v", pa)
	}

	// Broker 2 restarts as a new incarnation: registered, fenced until caught up.
	b, err := c.Register(RegisterBroker{ID: 2, Incarnation: "b"}, t0.Add(13*time.Second))
	if err != nil || !b.Fenced || b.Epoch == epochs[1] {
		t.Fatalf("re-registration: %+v %v", b, err)
	}
	// Broker 1 restarts before its session ran out: refused until it has.
	if _, err := c.Register(RegisterBroker{ID: 1, Incarnation: "b"}, t0.Add(14*time.Second)); !errors.Is(err, ErrDuplicateBroker) {
		t.Fatalf("restart within the session: %v", err)
	}
	b1, err := c.Register(RegisterBroker{ID: 1, Incarnation: "b"}, t0.Add(22*time.Second))
	if err != nil {
		t.Fatalf("restart after the session: %v", err)
	}
	if pa := p.s.Topics["a"].Partitions[0]; pa.Leader != NoLeader || !slices.Equal(pa.ISR, []int32{1}) {
		t.Fatalf("the last ISR member fenced: the partition waits for it: %+v", pa)
	}
	if _, err := c.Heartbeat(1, b1.Epoch, true, false, nil, t0.Add(22*time.Second)); err != nil {
		t.Fatal(err)
	}
	if pa := p.s.Topics["a"].Partitions[0]; pa.Leader != 1 {
		t.Fatalf("the ISR member back leads again: %+v", pa)
	}

	// Controlled shutdown: leadership moves away (to nobody here: 2 is fenced), then it may stop.
	r, err := c.Heartbeat(1, b1.Epoch, true, true, nil, t0.Add(23*time.Second))
	if err != nil || !r.ShouldShutdown {
		t.Fatalf("controlled shutdown: %+v %v", r, err)
	}
	if pa := p.s.Topics["a"].Partitions[0]; pa.Leader != NoLeader {
		t.Fatalf("still leading after controlled shutdown: %+v", pa)
	}
	if !slices.Contains(p.log, "controlled_shutdown") || !slices.Contains(p.log, "fence_broker") {
		t.Fatalf("decisions not logged: %v", p.log)
	}
	// Its controlled shutdown fenced it (Kafka's SHUTDOWN_NOW): the next incarnation registers
	// at once, well within the session.
	if !r.Fenced || !p.s.Brokers[1].Fenced {
		t.Fatalf("after the controlled shutdown: answer %+v, registration %+v; want fenced", r, p.s.Brokers[1])
	}
	if _, err := c.Register(RegisterBroker{ID: 1, Incarnation: "c"}, t0.Add(23*time.Second)); err != nil {
		t.Fatalf("restart right after a controlled shutdown: %v", err)
	}
}
