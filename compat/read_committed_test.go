//go:build compat

package compat

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/segment"
)

// writeTxnSet writes, by hand (each producer a transactional id of its own, the partition
// added with AddPartitionsToTxn, so that KIP-890's verification lets its batches in; the
// transactions ended with EndTxn, whose markers the coordinator writes), to topic's
// partition 0:
//
//	0-1 producer A, aborted   2 plain   3 producer B, committed   4 ABORT(A)   5 plain
//	6 COMMIT(B)   7 plain   8 producer C, left open
//
// and returns the offsets a read_committed consumer must read: 2, 3, 5, 7 (and nothing at
// or after the last stable offset, 8).
func writeTxnSet(s *S, topic string) []int64 {
	s.Helper()
	adm, cl := newAdmin(s, bootAddr)
	// Produce names the topic by id from v13 (KIP-516) and by name before: both are set, so
	// the raw requests below work at whatever version the client and broker agree on.
	details, err := adm.ListTopics(s.ctx, topic)
	if err != nil || details[topic].Err != nil {
		s.Fatalf("topic %s: %v %v", topic, err, details[topic].Err)
	}
	topicID := details[topic].ID
	send := func(req kmsg.Request) kmsg.Response {
		s.Helper()
		resp, err := cl.Request(s.ctx, req)
		if err != nil {
			s.Fatalf("%T: %v", req, err)
		}
		return resp
	}
	type producer struct {
		txnID string
		id    int64
		epoch int16
		seq   int32
	}
	newProducer := func(name string) *producer {
		p := &producer{txnID: topic + "-" + name}
		init := kmsg.NewPtrInitProducerIDRequest()
		// C's transaction stays open: the coordinator aborts it only after 15 minutes.
		init.TransactionalID, init.TransactionTimeoutMillis = &p.txnID, 900_000
		r := send(init).(*kmsg.InitProducerIDResponse)
		if r.ErrorCode != 0 {
			s.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		p.id, p.epoch = r.ProducerID, r.ProducerEpoch
		add := kmsg.NewPtrAddPartitionsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch = p.txnID, p.id, p.epoch
		at := kmsg.NewAddPartitionsToTxnRequestTopic()
		at.Topic, at.Partitions = topic, []int32{0}
		add.Topics = append(add.Topics, at)
		if code := send(add).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			s.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
		}
		return p
	}
	produce := func(p *producer, n int) {
		s.Helper()
		h := segment.Header{BaseTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
			ProducerID: segment.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}
		req := kmsg.NewPtrProduceRequest()
		if p != nil {
			h.Attributes = segment.AttrTransactional
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = p.id, p.epoch, p.seq
			p.seq += int32(n)
			req.TransactionID = &p.txnID
		}
		recs := make([]kmsg.Record, n)
		for i := range recs {
			recs[i].Value = []byte("v" + strconv.Itoa(i))
		}
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = segment.EncodeBatch(h, recs)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if code := send(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			s.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
	}
	// marker ends p's transaction and waits for its marker (the coordinator writes it after
	// answering EndTxn), so that what follows lands after it.
	marker := func(p *producer, commit bool) {
		s.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = p.txnID, p.id, p.epoch, commit
		if code := send(req).(*kmsg.EndTxnResponse).ErrorCode; code != 0 {
			s.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
		}
		done := map[bool]string{true: "CompleteCommit", false: "CompleteAbort"}[commit]
		waitUntil(s, 10*time.Second, func() (bool, string) {
			d := kmsg.NewPtrDescribeTransactionsRequest()
			d.TransactionalIDs = []string{p.txnID}
			st := send(d).(*kmsg.DescribeTransactionsResponse).TransactionStates[0].State
			return st == done, fmt.Sprintf("%s: state %s, want %s", p.txnID, st, done)
		})
	}
	a, b, c := newProducer("a"), newProducer("b"), newProducer("c")
	produce(a, 2)
	produce(nil, 1)
	produce(b, 1)
	marker(a, false)
	produce(nil, 1)
	marker(b, true)
	produce(nil, 1)
	produce(c, 1)
	return []int64{2, 3, 5, 7}
}

// TestReadCommitted: the Java consumer and librdkafka (confluent-kafka-python) with
// isolation.level=read_committed skip an aborted transaction, read the committed one and
// plain records, and stop at an open transaction (the last stable offset).
func TestReadCommitted(t *testing.T) {
	for _, d := range []*driver{javaClient, confluentPy} {
		d.scen(t, "read-committed", 120*time.Second, func(s *S) {
			topic := topicName(d.client, "read-committed")
			createTopic(s, topic, 1, nil)
			want := writeTxnSet(s, topic)
			var got []int64
			for _, r := range parseRecs(s, d.run(s, "", "committed", topic, strconv.Itoa(len(want)))) {
				got = append(got, r.Off)
			}
			if !slices.Equal(got, want) {
				s.Fatalf("read_committed offsets %v, want %v", got, want)
			}
		})
	}
}
