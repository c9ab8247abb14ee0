package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionVersionFeature: ApiVersions advertises transaction.version 0-2 as supported
// and the configured level as finalized; Produce v12, EndTxn v5 and TxnOffsetCommit v5 are
// advertised and served only at level 2 (a client asking for them otherwise is cut off, as
// for any unadvertised version).
func TestTransactionVersionFeature(t *testing.T) {
	for _, tv := range []int16{0, 2} {
		tb := startBroker(t, func(c *Config) { c.TransactionVersion = tv })
		rc := dialDP(t, tb)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "dp-test", "1"
		resp := rc.request(req).(*kmsg.ApiVersionsResponse)
		if len(resp.SupportedFeatures) != 1 || resp.SupportedFeatures[0].Name != "transaction.version" ||
			resp.SupportedFeatures[0].MinVersion != 0 || resp.SupportedFeatures[0].MaxVersion != 2 || resp.FinalizedFeaturesEpoch <= 0 {
			t.Fatalf("level %d: supported features %+v, epoch %d", tv, resp.SupportedFeatures, resp.FinalizedFeaturesEpoch)
		}
		finalized := int16(0)
		for _, f := range resp.FinalizedFeatures {
			if f.Name == "transaction.version" {
				finalized = f.MaxVersionLevel
			}
		}
		if finalized != tv {
			t.Fatalf("level %d: finalized features %+v", tv, resp.FinalizedFeatures)
		}
		want := map[int16]int16{int16(kmsg.Produce): 11, int16(kmsg.EndTxn): 4, int16(kmsg.TxnOffsetCommit): 4}
		if tv == 2 {
			want = map[int16]int16{int16(kmsg.Produce): 13, int16(kmsg.EndTxn): 5, int16(kmsg.TxnOffsetCommit): 5}
		}
		for _, k := range resp.ApiKeys {
			if w, ok := want[k.ApiKey]; ok && k.MaxVersion != w {
				t.Fatalf("level %d: %s max version %d, want %d", tv, kmsg.NameForKey(k.ApiKey), k.MaxVersion, w)
			}
		}
		if tv == 0 { // EndTxn v5 unadvertised: the connection is closed
			end := kmsg.NewPtrEndTxnRequest()
			end.Version, end.TransactionalID = 5, "x"
			rc.send(end)
			rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := rc.c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("EndTxn v5 at level 0 was answered (%d bytes)", n)
			}
		}
		tb.stop()
	}
}

// v2Txn drives a transactional producer by hand at transaction version 2 over a raw
// connection: Produce v12, TxnOffsetCommit v5, EndTxn v5, never AddPartitionsToTxn or
// AddOffsetsToTxn.
type v2Txn struct {
	t  *testing.T
	rc *rawConnDP
	id string
	p  *txnProducerDP
}

// startV2Txn finds id's coordinator and gets its producer id (retrying while the
// coordinator loads).
func startV2Txn(t *testing.T, rc *rawConnDP, id string) *v2Txn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorKey, fc.CoordinatorType = 3, id, 1
		rc.request(fc)
		init := kmsg.NewPtrInitProducerIDRequest()
		init.Version, init.TransactionalID, init.TransactionTimeoutMillis, init.ProducerID, init.ProducerEpoch = 4, &id, 60_000, -1, -1
		r := rc.request(init).(*kmsg.InitProducerIDResponse)
		if r.ErrorCode == 0 {
			return &v2Txn{t: t, rc: rc, id: id, p: &txnProducerDP{rc: rc, id: r.ProducerID, epoch: r.ProducerEpoch}}
		}
		if time.Now().After(deadline) {
			t.Fatalf("InitProducerId %s: %v", id, kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// end sends EndTxn v5 at epoch.
func (x *v2Txn) end(epoch int16, commit bool) *kmsg.EndTxnResponse {
	x.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 5, x.id, x.p.id, epoch, commit
	return x.rc.request(req).(*kmsg.EndTxnResponse)
}

// endRetried sends EndTxn v5 until it is not CONCURRENT_TRANSACTIONS (the previous markers
// being written).
func (x *v2Txn) endRetried(epoch int16, commit bool) *kmsg.EndTxnResponse {
	x.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := x.end(epoch, commit)
		if r.ErrorCode != kerr.ConcurrentTransactions.Code || time.Now().After(deadline) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (x *v2Txn) describe() kmsg.DescribeTransactionsResponseTransactionState {
	x.t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{x.id}
	return x.rc.request(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

// TestTxnVersion2Flow: a transaction version 2 producer's partitions and group offsets are
// added by the brokers, every EndTxn v5 bumps the epoch (its retry answers the same), and an
// EndTxn delayed past the next transaction's first produce is fenced instead of ending that
// transaction (KAFKA-17754).
func TestTxnVersion2Flow(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.TransactionVersion, c.TransactionTopicPartitions = 2, 3
	})
	createTopicDP(t, tb, "tv2", 1, nil)
	rc := dialDP(t, tb)
	x := startV2Txn(t, rc, "tx-v2")
	epoch0 := x.p.epoch

	if p := x.p.produceTo(t, 12, x.id, "tv2", 0, 3); p.ErrorCode != 0 {
		t.Fatalf("Produce v12 without AddPartitionsToTxn: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.Version, oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = 5, x.id, "g-v2", x.p.id, epoch0, -1
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = "tv2"
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Offset = 3
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorKey = 3, "g-v2"
		rc.request(fc)
		code := rc.request(oc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		if code == 0 {
			break
		}
		if !kerr.IsRetriable(kerr.ErrorForCode(code)) && code != kerr.NotCoordinator.Code || time.Now().After(deadline) {
			t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
		}
	}
	d := x.describe()
	var topics []string
	for _, dt := range d.Topics {
		topics = append(topics, dt.Topic)
	}
	slices.Sort(topics)
	if d.State != "Ongoing" || !slices.Equal(topics, []string{"__consumer_offsets", "tv2"}) {
		t.Fatalf("after the implicit adds: state %s, topics %v", d.State, topics)
	}

	r := x.end(epoch0, true)
	if r.ErrorCode != 0 || r.ProducerID != x.p.id || r.ProducerEpoch != epoch0+1 {
		t.Fatalf("EndTxn v5: %v, producer %d epoch %d; want producer %d epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, x.p.id, epoch0+1)
	}
	if again := x.endRetried(epoch0, true); again.ErrorCode != 0 || again.ProducerEpoch != epoch0+1 {
		t.Fatalf("retried EndTxn v5: %v epoch %d", kerr.ErrorForCode(again.ErrorCode), again.ProducerEpoch)
	}

	// The next transaction runs at the bumped epoch; its first produce adds the partition.
	x.p.epoch, x.p.seq = epoch0+1, 0
	p := x.p.produceTo(t, 12, x.id, "tv2", 0, 2)
	if p.ErrorCode != 0 {
		t.Fatalf("next transaction's Produce v12: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	for _, commit := range []bool{true, false} {
		if late := x.end(epoch0, commit); late.ErrorCode != kerr.ProducerFenced.Code {
			t.Fatalf("late EndTxn v5 (commit %v) of the previous epoch: %v, want PRODUCER_FENCED", commit, kerr.ErrorForCode(late.ErrorCode))
		}
	}
	if lso := listLatestDP(t, rc, "tv2", 1); lso != p.BaseOffset {
		t.Fatalf("last stable offset %d, want the open transaction's start %d", lso, p.BaseOffset)
	}
	if r := x.end(epoch0+1, false); r.ErrorCode != 0 || r.ProducerEpoch != epoch0+2 {
		t.Fatalf("abort: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch)
	}
	deadline := time.Now().Add(20 * time.Second)
	for listLatestDP(t, rc, "tv2", 1) != listLatestDP(t, rc, "tv2", 0) {
		if time.Now().After(deadline) {
			t.Fatal("the aborted transaction's marker never came")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
