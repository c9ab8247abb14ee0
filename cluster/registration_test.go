package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/logd/logd/metadata"
)

// TestRestartRegistration: a restarted broker registers as Kafka's ClusterControlManager
// lets it. Stopped cleanly, its controlled shutdown fences it (Kafka's SHUTDOWN_NOW), so the
// restart registers at once and a topic with a replication factor of every broker can be
// created; killed, its incarnation keeps the id until its session runs out: another
// incarnation is refused (DUPLICATE_BROKER_REGISTRATION) until the controller fences the old
// one, then registers.
func TestRestartRegistration(t *testing.T) {
	const session = 10 * time.Second
	nodes := startTestClusterWith(t, 3, func(c *Config) { c.SessionTimeout = session })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	n3 := nodes[2]
	controller := func() *testNode {
		t.Helper()
		var ctl *testNode
		waitFor(t, "an active controller", 20*time.Second, func() bool { ctl = controllerNode(nodes); return ctl != nil })
		return ctl
	}
	registration := func() metadata.BrokerRegistration {
		b, _ := controller().node.q.Broker(3)
		return b
	}

	first := registration()
	n3.stop()
	if b := registration(); !b.Fenced || b.Incarnation != first.Incarnation {
		t.Fatalf("broker 3 after its controlled shutdown: %+v, want its incarnation %s fenced", b, first.Incarnation)
	}
	n3.start(t)
	// The session is long: registering within this deadline is not the session running out.
	waitFor(t, "the cleanly restarted broker 3 registered and unfenced", session, func() bool {
		b := registration()
		return b.Incarnation != first.Incarnation && !b.Fenced
	})
	waitLive(t, nodes, 3)
	if _, err := kadm.NewClient(clientOf(t, nodes[0])).CreateTopic(ctx, 1, 3, nil, "rf3"); err != nil {
		t.Fatalf("create a topic of replication factor 3 after the clean restart: %v", err)
	}

	second := registration()
	n3.kill()
	ctl, err := controller().node.ActiveController()
	if err != nil {
		t.Fatal(err)
	}
	var incarnation [16]byte
	rand.Read(incarnation[:])
	_, err = ctl.RegisterBroker(metadata.RegisterBroker{ID: 3, Incarnation: metadata.TopicID(incarnation).String(), Host: second.Host, Port: second.Port})
	if !errors.Is(err, metadata.ErrDuplicateBroker) {
		t.Fatalf("registering broker 3 again right after a kill: %v, want %v while the old session lasts", err, metadata.ErrDuplicateBroker)
	}
	n3.start(t)
	waitFor(t, "the killed broker 3 registered again once its old session ran out", 3*session, func() bool {
		b := registration()
		return b.Incarnation != second.Incarnation && b.Incarnation != metadata.TopicID(incarnation).String() && !b.Fenced
	})
}
