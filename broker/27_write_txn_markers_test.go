package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/txn"
)

// TestWriteTxnMarkersV2 sends WriteTxnMarkers v2 (KIP-1228) by hand over a real connection:
// a transaction version 2 marker must carry an epoch above the producer's while its
// transaction is open; a refused one leaves the log as it was; the accepted one moves the
// producer to its epoch, where a late copy of it cannot end the next transaction; v1 and
// transaction version 1 markers keep the classic rule.
func TestWriteTxnMarkersV2(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.TransactionPartitionVerification = false })
	const topic = "wtm2"
	createTopicDP(t, tb, topic, 1, nil)
	rc := dialDP(t, tb)

	av := rc.request(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	found := false
	for _, k := range av.ApiKeys {
		if k.ApiKey == int16(kmsg.WriteTxnMarkers) {
			found = true
			if k.MinVersion != 1 || k.MaxVersion != 2 {
				t.Fatalf("WriteTxnMarkers advertised at v%d-%d, want v1-2", k.MinVersion, k.MaxVersion)
			}
		}
	}
	if !found {
		t.Fatal("WriteTxnMarkers not advertised")
	}

	p := newTxnProducerDP(t, rc)
	p.epoch += 3 // a partition takes any epoch of a producer it does not know: leave room below
	e := p.epoch
	if r := p.produce(t, topic, 2); r.ErrorCode != 0 || r.BaseOffset != 0 { // 0-1: open at epoch e
		t.Fatalf("transactional produce: %+v", r)
	}
	end := func() int64 { return listLatestDP(t, rc, topic, 0) }
	stable := func() int64 { return listLatestDP(t, rc, topic, 1) }
	producerEpoch := func() int16 {
		t.Helper()
		dp := kmsg.NewPtrDescribeProducersRequest()
		dt := kmsg.NewDescribeProducersRequestTopic()
		dt.Topic, dt.Partitions = topic, []int32{0}
		dp.Topics = append(dp.Topics, dt)
		dr := rc.request(dp).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
		if dr.ErrorCode != 0 || len(dr.ActiveProducers) != 1 || dr.ActiveProducers[0].ProducerID != p.id {
			t.Fatalf("DescribeProducers: error %d producers %+v", dr.ErrorCode, dr.ActiveProducers)
		}
		return int16(dr.ActiveProducers[0].ProducerEpoch)
	}

	for _, tc := range []struct {
		name  string
		tv    int8
		epoch int16
		want  *kerr.Error
	}{
		{"tv2 marker at the producer's epoch", 2, e, kerr.InvalidProducerEpoch},
		{"tv2 marker below the producer's epoch", 2, e - 1, kerr.InvalidProducerEpoch},
		{"negative transaction version", -1, e + 1, kerr.InvalidRequest},
	} {
		if code := writeMarkerVersionDP(t, rc, topic, 2, tc.tv, p.id, tc.epoch, true); code != tc.want.Code {
			t.Fatalf("%s: %v, want %v", tc.name, kerr.ErrorForCode(code), tc.want)
		}
		if got, lso := end(), stable(); got != 2 || lso != 0 {
			t.Fatalf("%s: refused, yet the log end is %d and the last stable offset %d, want 2 and 0", tc.name, got, lso)
		}
	}

	// The coordinator's marker at the bumped epoch ends the transaction; the producer moves on.
	if code := writeMarkerVersionDP(t, rc, topic, 2, 2, p.id, e+1, true); code != 0 {
		t.Fatalf("tv2 commit at epoch %d: %v", e+1, kerr.ErrorForCode(code))
	}
	if got, lso := end(), stable(); got != 3 || lso != 3 {
		t.Fatalf("after the commit marker: end %d, last stable offset %d, want 3 and 3", got, lso)
	}
	if got := producerEpoch(); got != e+1 {
		t.Fatalf("producer epoch after the marker %d, want %d", got, e+1)
	}
	// A retry of the same marker finds no open transaction: written again, as Kafka does.
	if code := writeMarkerVersionDP(t, rc, topic, 2, 2, p.id, e+1, true); code != 0 {
		t.Fatalf("retried tv2 commit: %v", kerr.ErrorForCode(code))
	}

	// The next transaction runs at the bumped epoch, from sequence 0.
	p.epoch, p.seq = e+1, 0
	if r := p.produce(t, topic, 1); r.ErrorCode != 0 || r.BaseOffset != 4 { // 4: open at epoch e+1
		t.Fatalf("next transaction's produce: %+v", r)
	}
	// A late copy of the previous transaction's marker would commit it: refused, nothing written.
	if code := writeMarkerVersionDP(t, rc, topic, 2, 2, p.id, e+1, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("late tv2 marker during the next transaction: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if got, lso := end(), stable(); got != 5 || lso != 4 {
		t.Fatalf("after the refused late marker: end %d, last stable offset %d, want 5 and 4", got, lso)
	}
	// Transaction version 1 markers (v2 with TransactionVersion 1, or v1) keep the classic
	// rule: not below the producer's epoch.
	if code := writeMarkerVersionDP(t, rc, topic, 2, 1, p.id, e, false); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("tv1 marker below the producer's epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if code := writeMarkerVersionDP(t, rc, topic, 2, 1, p.id, e+1, false); code != 0 {
		t.Fatalf("tv1 abort at the producer's epoch: %v", kerr.ErrorForCode(code))
	}
	if got, lso := end(), stable(); got != 6 || lso != 6 {
		t.Fatalf("after the tv1 abort: end %d, last stable offset %d, want 6 and 6", got, lso)
	}
}

// TestMarkerSenderSpeaksV2: the coordinators' marker sender picks WriteTxnMarkers v2 from
// the leader's ApiVersions and puts the transaction's version in it: a version 2 job's marker
// at the producer's epoch, its transaction open, is refused by the leader; the same job at
// version 0 is written.
func TestMarkerSenderSpeaksV2(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.TransactionPartitionVerification = false })
	const topic = "wtm2-sender"
	createTopicDP(t, tb, topic, 1, nil)
	rc := dialDP(t, tb)
	p := newTxnProducerDP(t, rc)
	if r := p.produce(t, topic, 1); r.ErrorCode != 0 {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, version, err := tb.b.markers.dial(ctx, tb.b.cfg.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if version != 2 {
		t.Fatalf("marker sender picked WriteTxnMarkers v%d, want v2", version)
	}
	send := func(tv int8) int16 {
		t.Helper()
		job := &markerJob{m: txn.Markers{ProducerID: p.id, ProducerEpoch: p.epoch, Commit: true, TxnVersion: tv}}
		kr, err := conn.Request(ctx, markersRequest([]markerItem{{job: job, tp: engine.TopicPartition{Topic: topic}}}, version))
		if err != nil {
			t.Fatal(err)
		}
		resp := kr.(*kmsg.WriteTxnMarkersResponse)
		if len(resp.Markers) != 1 || len(resp.Markers[0].Topics) != 1 || len(resp.Markers[0].Topics[0].Partitions) != 1 {
			t.Fatalf("WriteTxnMarkers response shape: %+v", resp)
		}
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := send(txn.Version2); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("version 2 marker at the producer's epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if code := send(0); code != 0 {
		t.Fatalf("version 0 marker at the producer's epoch: %v", kerr.ErrorForCode(code))
	}
}
