package broker

import (
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/replication"
)

// WriteTxnMarkers: versions 1-2 (Kafka 4 removed v0, KIP-896; v2 adds each marker's
// TransactionVersion, KIP-1228). Broker to broker: a transaction coordinator asks each
// partition leader to end a producer's transaction with a COMMIT or ABORT control batch.
//
// Per marker and partition: UNKNOWN_TOPIC_OR_PARTITION for a partition this cluster does not
// have, NOT_LEADER_OR_FOLLOWER where this broker does not lead, NOT_ENOUGH_REPLICAS below
// min.insync.replicas, INVALID_PRODUCER_EPOCH for an epoch older than the producer's — or, for
// a marker of transaction version 2 or more, not above it while the producer's transaction is
// open on the partition (the coordinator bumped the epoch when the transaction ended, so such
// a marker is a late one of the previous transaction; the engine checks this atomically with
// the append, see engine.Log.AppendTxnMarker) — TRANSACTION_COORDINATOR_FENCED for an older
// coordinator epoch, INVALID_REQUEST for a negative TransactionVersion. Before v2 a marker's
// transaction version is 0 (the classic rule: not below the producer's epoch). A marker is appended with
// acks=all semantics (Kafka's): the answer waits for the sync when Config.FsyncAcksAll asks
// for it and then for the high watermark to pass the marker, bounded by markerTimeout; the
// request parks meanwhile (no goroutine waits) and the last callback answers it.
//
// A marker on a __consumer_offsets partition also ends the producer's pending transactional
// offsets there (TxnOffsetCommit wrote them as transactional records): once the marker is
// replicated, the partition's group coordinator makes them visible or drops them in memory
// (group.Coordinator.CompleteTxn); the marker in the log is the durable decision, which the
// coordinator's replay applies the same way.
func init() {
	register(api{key: int16(kmsg.WriteTxnMarkers), min: 1, max: 2, handle: handleWriteTxnMarkers})
}

// markerTimeout bounds the replication wait of a marker (Kafka uses request.timeout.ms,
// default 30 s, for the same append).
const markerTimeout = 30 * time.Second

func handleWriteTxnMarkers(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	w := &markerWait{b: b, c: c, resp: resp}
	// Markers follow the connection's request order, like produce appends: the coordinator
	// may pipeline the markers of a producer's successive transactions.
	c.req.WaitTurn()
	denied := !b.authorizeCluster(c, acl.OpClusterAction)
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	for mi := range req.Markers {
		rm := &req.Markers[mi]
		m := &resp.Markers[mi]
		*m = kmsg.NewWriteTxnMarkersResponseMarker()
		m.ProducerID = rm.ProducerID
		marker := engine.TxnMarker{ProducerID: rm.ProducerID, ProducerEpoch: rm.ProducerEpoch,
			CoordinatorEpoch: rm.CoordinatorEpoch, Commit: rm.Committed, TxnVersion: rm.TransactionVersion}
		badVersion := rm.TransactionVersion < 0
		m.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(rm.Topics))
		for ti := range rm.Topics {
			rt := &rm.Topics[ti]
			t := &m.Topics[ti]
			*t = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			t.Topic = rt.Topic
			t.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(rt.Partitions))
			for pi, p := range rt.Partitions {
				rp := &t.Partitions[pi]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if denied {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				if badVersion {
					rp.ErrorCode = kerr.InvalidRequest.Code
					continue
				}
				w.appendMarker(marker, rt.Topic, rp)
			}
		}
	}
	c.req.EndTurn()
	if len(w.waits) == 0 {
		return resp, nil
	}
	c.park()
	w.pending.Store(int32(len(w.waits)))
	for _, mw := range w.waits {
		w.start(mw)
	}
	return nil, errDeferred
}

// markerWait is a parked WriteTxnMarkers: each appended marker waits for its sync (when
// acks=all syncs) and then for the high watermark; the last one to finish answers.
type markerWait struct {
	b       *Broker
	c       *call
	resp    *kmsg.WriteTxnMarkersResponse
	waits   []partMarkerWait
	pending atomic.Int32
}

// partMarkerWait is one appended marker's wait.
type partMarkerWait struct {
	part *partition
	lp   *replication.LeaderPartition
	res  engine.AppendResult
	out  *kmsg.WriteTxnMarkersResponseMarkerTopicPartition

	marker engine.TxnMarker
	topic  string
}

// appendMarker appends marker to topic's partition out.Partition if this broker leads it,
// recording the error in out or the wait in w.
func (w *markerWait) appendMarker(marker engine.TxnMarker, topic string, out *kmsg.WriteTxnMarkersResponseMarkerTopicPartition) {
	part, err := w.b.partition(topic, out.Partition)
	if err != nil {
		out.ErrorCode = errorCode(err)
		return
	}
	_, lp, code := w.b.leaderEpochOf(part)
	if code != 0 {
		out.ErrorCode = code
		return
	}
	res, err := lp.AppendTxnMarker(marker)
	if err != nil {
		out.ErrorCode = errorCode(err)
		return
	}
	w.waits = append(w.waits, partMarkerWait{part: part, lp: lp, res: res, out: out, marker: marker, topic: topic})
}

// start waits for mw's sync (if asked) and then its replication, on the callbacks' goroutines.
func (w *markerWait) start(mw partMarkerWait) {
	finish := func(err error) {
		if err != nil {
			mw.out.ErrorCode = errorCode(err)
		}
		if w.pending.Add(-1) == 0 {
			w.b.finishKmsg(w.c, w.resp)
		}
	}
	replicated := finish
	if mw.topic == offsetsTopic {
		replicated = func(err error) {
			if err == nil {
				w.completeTxnOffsets(mw)
			}
			finish(err)
		}
	}
	waitHW := func() { mw.lp.NotifyReplicated(mw.res.LastOffset, markerTimeout, replicated) }
	if !w.b.cfg.FsyncAcksAll && !mw.res.MustSync {
		waitHW()
		return
	}
	mw.part.log.NotifyDurable(mw.res.SyncSeq, func(err error) {
		if err != nil {
			w.b.log.Warn("WriteTxnMarkers: marker appended but not durable; answering KAFKA_STORAGE_ERROR", "err", err)
			replicated(err)
			return
		}
		waitHW()
	})
}

// completeTxnOffsets hands mw's replicated marker on a __consumer_offsets partition to the
// group coordinator loaded for it, which commits or drops the producer's pending offsets.
// With no coordinator loaded for this lead (the partition moved since the append) there is
// nothing pending here to end: the next coordinator replays the marker from the log.
func (w *markerWait) completeTxnOffsets(mw partMarkerWait) {
	p := mw.out.Partition
	lg, ok := w.b.groups.ofPartition(p, mw.lp)
	if ok {
		lg.coord.CompleteTxn(p, mw.marker.ProducerID, mw.marker.Commit)
	}
}
