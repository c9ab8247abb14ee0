package broker

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/txn"
)

// markerSender delivers the transaction coordinators' markers: a WriteTxnMarkers request
// (Kafka's broker-to-broker API 27) to the current leader of each partition, found in the
// cluster's metadata, over internal/kwire, at the highest version of 1-2 the leader's
// ApiVersions lists (v2 carries each marker's transaction version, KIP-1228; a v1 leader
// applies the classic epoch check). Kafka's TransactionMarkerChannelManager rules:
//
//   - one queue and one connection per destination broker (a goroutine each, so at most
//     one per broker of the cluster), every marker queued for it batched into one request;
//   - a partition whose leader is unknown, moved (NOT_LEADER_OR_FOLLOWER), or that answers
//     any other error, or whose broker cannot be reached, is routed again after a backoff
//     (100 ms doubling to 5 s), for as long as its coordinator is loaded;
//   - a partition of a deleted topic, or one answering UNSUPPORTED_FOR_MESSAGE_FORMAT,
//     counts as written; INVALID_PRODUCER_EPOCH or TRANSACTION_COORDINATOR_FENCED abandon the
//     transaction's markers (a newer coordinator or producer epoch owns them);
//   - a job's done runs once: nil when every partition has its marker, an error when its
//     coordinator closed (the next one sends them again) or the broker shuts down.
//
// The node queues' locks are leaves.
type markerSender struct {
	b *Broker

	mu    sync.Mutex            // guards nodes
	nodes map[int32]*markerNode // by destination broker id
}

// markerNode is one destination broker's queue.
type markerNode struct {
	id    int32
	mu    sync.Mutex   // guards queue
	queue []markerItem // partitions waiting for the next request
	wake  chan struct{}
}

// markerJob is one transaction's markers.
type markerJob struct {
	m     txn.Markers
	gone  *atomic.Bool // the coordinator that asked closed
	left  atomic.Int32 // partitions without their marker
	ended atomic.Bool
	done  func(error)
}

// markerItem is one partition's marker of a job.
type markerItem struct {
	job     *markerJob
	tp      engine.TopicPartition
	attempt int
}

const (
	markerBackoff       = 100 * time.Millisecond
	markerMaxBackoff    = 5 * time.Second
	markerReqTimeout    = 30 * time.Second
	markerMaxPerRequest = 10_000 // partitions in one request; the rest wait for the next
)

var (
	errMarkersAbandoned = errors.New("transaction markers abandoned: the coordinator closed")
	errMarkersShutdown  = errors.New("transaction markers abandoned: the broker is shutting down")
)

func (j *markerJob) end(err error) {
	if j.ended.CompareAndSwap(false, true) {
		j.done(err)
	}
}

func (j *markerJob) written() {
	if j.left.Add(-1) == 0 {
		j.end(nil)
	}
}

// send starts delivering m; done follows (see markerSender). gone is the asking
// coordinator's closed flag.
func (s *markerSender) send(m txn.Markers, gone *atomic.Bool, done func(error)) {
	j := &markerJob{m: m, gone: gone, done: done}
	j.left.Store(int32(len(m.Partitions)))
	for _, tp := range m.Partitions {
		s.route(markerItem{job: j, tp: tp})
	}
}

// route queues it on its partition's current leader, or retries later.
func (s *markerSender) route(it markerItem) {
	switch {
	case it.job.ended.Load():
		return
	case isClosed(s.b.closing):
		it.job.end(errMarkersShutdown)
		return
	case it.job.gone.Load():
		it.job.end(errMarkersAbandoned)
		return
	}
	pa, ok := s.b.cluster.Partition(it.tp.Topic, it.tp.Partition)
	if !ok {
		if _, exists := s.b.cluster.Topic(it.tp.Topic); !exists {
			it.job.written() // deleted topic: nothing to mark
			return
		}
	}
	if !ok || pa.Leader < 0 {
		s.retry(it, "no leader")
		return
	}
	n := s.node(pa.Leader)
	n.mu.Lock()
	n.queue = append(n.queue, it)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// retry routes it again after its backoff.
func (s *markerSender) retry(it markerItem, why string) {
	it.attempt++
	if it.attempt == 3 || it.attempt%50 == 0 {
		s.b.log.Warn("cannot write a transaction marker yet; retrying", "transactional_id", it.job.m.TransactionalID,
			"partition", it.tp.String(), "attempts", it.attempt, "reason", why)
	}
	d := min(markerBackoff<<min(it.attempt-1, 6), markerMaxBackoff)
	time.AfterFunc(d, func() { s.route(it) })
}

// node is broker id's queue, started on first use.
func (s *markerSender) node(id int32) *markerNode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[id]; n != nil {
		return n
	}
	if s.nodes == nil {
		s.nodes = map[int32]*markerNode{}
	}
	n := &markerNode{id: id, wake: make(chan struct{}, 1)}
	s.nodes[id] = n
	go s.run(n)
	return n
}

// run sends n's queue until the broker closes.
func (s *markerSender) run(n *markerNode) {
	var conn *kwire.Conn
	var version int16 // of WriteTxnMarkers on conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-s.b.closing:
			return
		case <-n.wake:
		}
		n.mu.Lock()
		items := n.queue
		if len(items) > markerMaxPerRequest {
			n.queue = append([]markerItem(nil), items[markerMaxPerRequest:]...)
			items = items[:markerMaxPerRequest]
			select {
			case n.wake <- struct{}{}:
			default:
			}
		} else {
			n.queue = nil
		}
		n.mu.Unlock()
		live := items[:0]
		for _, it := range items {
			switch {
			case it.job.ended.Load():
			case it.job.gone.Load():
				it.job.end(errMarkersAbandoned)
			default:
				live = append(live, it)
			}
		}
		if len(live) == 0 {
			continue
		}
		var err error
		if conn == nil {
			ctx, cancel := context.WithTimeout(context.Background(), markerReqTimeout)
			conn, version, err = s.dial(ctx, n.id)
			cancel()
		}
		var resp *kmsg.WriteTxnMarkersResponse
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), markerReqTimeout)
			var kr kmsg.Response
			kr, err = conn.Request(ctx, markersRequest(live, version))
			cancel()
			if err == nil {
				resp = kr.(*kmsg.WriteTxnMarkersResponse)
			} else {
				conn.Close()
				conn = nil
			}
		}
		if err != nil {
			for _, it := range live {
				s.retry(it, err.Error())
			}
			continue
		}
		s.answer(live, resp)
	}
}

// dialBroker connects to broker id within ctx, with client id clientID followed by this
// broker's id (the transactions' broker-to-broker connections: markers, verification).
func (b *Broker) dialBroker(ctx context.Context, id int32, clientID string) (*kwire.Conn, error) {
	for _, br := range b.cluster.Brokers() {
		if br.ID == id {
			return kwire.Dial(ctx, net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))),
				kwire.Options{ClientID: clientID + strconv.Itoa(int(b.cfg.NodeID)), Security: b.cfg.InterBroker})
		}
	}
	return nil, errors.New("broker " + strconv.Itoa(int(id)) + " is not registered")
}

// dial connects to broker id for markers and picks the WriteTxnMarkers version both speak.
func (s *markerSender) dial(ctx context.Context, id int32) (*kwire.Conn, int16, error) {
	conn, err := s.b.dialBroker(ctx, id, "logd-txn-markers-")
	if err != nil {
		return nil, 0, err
	}
	vs, err := conn.ApiVersions(ctx, "logd", "1.0")
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	v := vs.Pick(kmsg.WriteTxnMarkers, 1, 2)
	if v < 0 {
		conn.Close()
		return nil, 0, errors.New("broker " + strconv.Itoa(int(id)) + " speaks no WriteTxnMarkers version of 1-2")
	}
	return conn, v, nil
}

// markersRequest builds one WriteTxnMarkers request of version (1 or 2): a marker per job,
// its partitions by topic.
func markersRequest(items []markerItem, version int16) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = version
	idx := map[*markerJob]int{}
	for _, it := range items {
		i, ok := idx[it.job]
		if !ok {
			mk := kmsg.NewWriteTxnMarkersRequestMarker()
			mk.ProducerID, mk.ProducerEpoch, mk.Committed = it.job.m.ProducerID, it.job.m.ProducerEpoch, it.job.m.Commit
			mk.CoordinatorEpoch, mk.TransactionVersion = it.job.m.CoordinatorEpoch, it.job.m.TxnVersion // not sent before v2
			i = len(req.Markers)
			idx[it.job] = i
			req.Markers = append(req.Markers, mk)
		}
		mk := &req.Markers[i]
		if n := len(mk.Topics); n > 0 && mk.Topics[n-1].Topic == it.tp.Topic {
			mk.Topics[n-1].Partitions = append(mk.Topics[n-1].Partitions, it.tp.Partition)
			continue
		}
		t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		t.Topic, t.Partitions = it.tp.Topic, []int32{it.tp.Partition}
		mk.Topics = append(mk.Topics, t)
	}
	return req
}

// markerKey finds a partition's answer in a response.
type markerKey struct {
	pid int64
	tp  engine.TopicPartition
}

// answer applies a response to the items it answers.
func (s *markerSender) answer(items []markerItem, resp *kmsg.WriteTxnMarkersResponse) {
	codes := map[markerKey]int16{}
	for _, mk := range resp.Markers {
		for _, t := range mk.Topics {
			for _, p := range t.Partitions {
				codes[markerKey{mk.ProducerID, engine.TopicPartition{Topic: t.Topic, Partition: p.Partition}}] = p.ErrorCode
			}
		}
	}
	for _, it := range items {
		code, ok := codes[markerKey{it.job.m.ProducerID, it.tp}]
		switch {
		case !ok:
			s.retry(it, "no answer for the partition")
		case code == 0, code == kerr.UnsupportedForMessageFormat.Code:
			it.job.written()
		case code == kerr.InvalidProducerEpoch.Code, code == kerr.TransactionCoordinatorFenced.Code:
			s.b.log.Warn("transaction markers refused; abandoning them", "transactional_id", it.job.m.TransactionalID,
				"partition", it.tp.String(), "err", kerr.ErrorForCode(code))
			it.job.end(kerr.ErrorForCode(code))
		default:
			s.retry(it, kerr.ErrorForCode(code).Error())
		}
	}
}
