package replication_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/internal/testbroker"
	"github.com/logd/logd/replication"
)

// TestConnSpeaksToBroker runs the follower's wire client against a real single-node broker
// (a cluster.Node of one): OffsetForLeaderEpoch answers where epoch 0 ends, and a replica
// fetch by a broker that holds no replica is refused with NOT_LEADER_OR_FOLLOWER, mapped to
// ErrNotLeader.
func TestConnSpeaksToBroker(t *testing.T) {
	addr := testbroker.Start(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	c, err := replication.Dial(ctx, addr, 2, kwire.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tp := engine.TopicPartition{Topic: "t", Partition: 0}
	got, err := c.OffsetForLeaderEpoch(ctx, tp, 0, 0)
	if err != nil || got != (engine.EpochEndOffset{Epoch: 0, EndOffset: 3}) {
		t.Fatalf("OffsetForLeaderEpoch: %+v %v", got, err)
	}
	if _, err := c.OffsetForLeaderEpoch(ctx, tp, 5, 0); err == nil {
		t.Fatal("a newer current leader epoch than the broker's must be refused")
	}
	if _, err := c.Fetch(ctx, tp, 0, 0, 1<<20); !errors.Is(err, replication.ErrNotLeader) {
		t.Fatalf("replica fetch by a broker that is not a replica: %v", err)
	}
	// The connection stays usable after error answers.
	if _, err := c.OffsetForLeaderEpoch(ctx, tp, 0, 0); err != nil {
		t.Fatal(err)
	}
}
