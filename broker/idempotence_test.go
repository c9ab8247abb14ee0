package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

func initProducerIDDP(t testing.TB, rc *rawConnDP, v int16, id int64, epoch int16, txn *string) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = v
	req.TransactionalID = txn
	req.ProducerID, req.ProducerEpoch = id, epoch
	return rc.request(req).(*kmsg.InitProducerIDResponse)
}

func TestIdempotentProduceAndRestart(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "idem", 1, nil)
	rc := dialDP(t, tb)

	r := initProducerIDDP(t, rc, 4, -1, -1, nil)
	if r.ErrorCode != 0 || r.ProducerID < 0 || r.ProducerEpoch != 0 {
		t.Fatalf("init producer id: %+v", r)
	}
	pid := r.ProducerID

	// The same batch twice: the second is answered with the original offset.
	batch := func(seq int32) []byte {
		return batchDP{idempotent: true, producerID: pid, epoch: 0, sequence: seq, timestamps: []int64{1, 2}}.encode()
	}
	first := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0, batch(0))))
	dup := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0, batch(0))))
	if first.ErrorCode != 0 || dup.ErrorCode != 0 || dup.BaseOffset != first.BaseOffset {
		t.Fatalf("duplicate: first %+v, second %+v", first, dup)
	}
	next := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0, batch(2))))
	if next.ErrorCode != 0 || next.BaseOffset != 2 {
		t.Fatalf("next batch: %+v", next)
	}
	gap := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0, batch(10))))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d", gap.ErrorCode)
	}

	// KIP-360 epoch bump: same id, next epoch; the old epoch is fenced.
	bumped := initProducerIDDP(t, rc, 4, pid, 0, nil)
	if bumped.ErrorCode != 0 || bumped.ProducerID != pid || bumped.ProducerEpoch != 1 {
		t.Fatalf("epoch bump: %+v", bumped)
	}
	newEpoch := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0,
		batchDP{idempotent: true, producerID: pid, epoch: 1, sequence: 0, timestamps: []int64{3}}.encode())))
	if newEpoch.ErrorCode != 0 {
		t.Fatalf("new epoch: error %d", newEpoch.ErrorCode)
	}
	if old := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0, batch(4)))); old.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced epoch: error %d", old.ErrorCode)
	}
	// An id never issued gets a new one; a transactional id goes to its coordinator, which
	// FindCoordinator has not created yet (txn_test.go covers the rest).
	if r := initProducerIDDP(t, rc, 4, 1<<40, 3, nil); r.ErrorCode != 0 || r.ProducerID == 1<<40 || r.ProducerEpoch != 0 {
		t.Fatalf("foreign id: %+v", r)
	}
	txn := "tx"
	if r := initProducerIDDP(t, rc, 4, -1, -1, &txn); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("transactional id: %+v", r)
	}

	// franz-go's idempotent producer (the default) against the broker.
	cl := tb.client(kgo.DefaultProduceTopic("idem"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	end := recs[len(recs)-1].Offset + 1
	lastID := pid

	// Restart: every acknowledged record survives, producer ids keep increasing and the
	// producer state (dedup) survives too.
	tb.restart()
	rc = dialDP(t, tb)
	if r := initProducerIDDP(t, rc, 4, -1, -1, nil); r.ErrorCode != 0 || r.ProducerID <= lastID+1 {
		t.Fatalf("producer id after restart %d, before %d", r.ProducerID, lastID)
	}
	if dup := producePartDP(t, rc.request(produceReqDP(9, -1, "idem", 0, batch(2)))); dup.ErrorCode != kerr.InvalidProducerEpoch.Code {
		// epoch 0 was fenced by epoch 1 before the restart: still fenced.
		t.Fatalf("fenced epoch after restart: error %d", dup.ErrorCode)
	}
	got := consumeDP(t, tb, "idem", int(end))
	if int64(len(got)) != end {
		t.Fatalf("after restart: %d records, want %d", len(got), end)
	}
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}

// TestProducerIDBlocks: ids (from the controller's blocks) stay unique across many restarts,
// block boundaries included.
func TestProducerIDBlocks(t *testing.T) {
	tb := startBroker(t, nil)
	seen := map[int64]bool{}
	last := int64(-1)
	for round := 0; round < 3; round++ {
		for i := 0; i < metadata.ProducerIDBlockSize+5; i++ {
			id, err := tb.b.allocateProducerID()
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] || id <= last {
				t.Fatalf("round %d: id %d after %d", round, id, last)
			}
			seen[id], last = true, id
		}
		tb.restart()
	}
}
