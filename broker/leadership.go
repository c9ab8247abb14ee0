package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// leadershipGrace bounds how long a produce waits for a leadership the cluster state already
// gives this broker but its metadata listener has not taken yet (a few milliseconds after a
// failover): waiting is cheaper for the client than NOT_LEADER_OR_FOLLOWER and a retry.
const leadershipGrace = 500 * time.Millisecond

// leadershipPoll is how often a leadership queue looks for the leadership.
const leadershipPoll = 5 * time.Millisecond

// leadershipQueue holds, in arrival order, the produce requests parked until this broker
// takes a partition's leadership (or leadershipGrace passes). No goroutine waits: a timer
// polls every leadershipPoll, and the requests whose wait is over are appended, in order, by
// one completer task. Requests reaching the partition while others are queued (or being
// appended) queue behind them, so a connection's appends to the partition keep its order
// even though the parked request's turn (server.Request.WaitTurn) ended. A request waits in
// the queue of its first such partition only; its other partitions are appended with it.
type leadershipQueue struct {
	active atomic.Int32 // requests enqueued and not yet appended; > 0 makes newcomers queue

	mu      sync.Mutex
	waiting []*produceWait // guarded by mu; FIFO, so deadlines ascend
	b       *Broker        // guarded by mu; set by the first enqueue
	part    *partition     // guarded by mu; set by the first enqueue
	armed   bool           // guarded by mu: a poll is scheduled or running
}

// leadershipQueue returns the queue a produce must wait in: that of its first partition whose
// leadership this broker is about to take, or whose queue is not empty. nil: append now.
func (b *Broker) leadershipQueue(req *kmsg.ProduceRequest) *leadershipQueue {
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		if rt.Topic == offsetsTopic {
			continue // refused by produceOne
		}
		for pi := range rt.Partitions {
			part, err := b.partition(rt.Topic, rt.Partitions[pi].Partition)
			if err != nil {
				continue // answered by produceOne
			}
			if part.leadership.active.Load() > 0 {
				part.leadership.bind(b, part)
				return &part.leadership
			}
			if _, _, code := b.leaderEpochOf(part); code != 0 && b.replicaLeaderCode(part, code) != code {
				part.leadership.bind(b, part)
				return &part.leadership
			}
		}
	}
	return nil
}

// bind records the queue's broker and partition.
func (q *leadershipQueue) bind(b *Broker, part *partition) {
	q.mu.Lock()
	q.b, q.part = b, part
	q.mu.Unlock()
}

// enqueue parks w (its request already parked) until the leadership or its deadline.
func (q *leadershipQueue) enqueue(w *produceWait) {
	w.deadline = time.Now().Add(leadershipGrace)
	q.active.Add(1)
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	arm := !q.armed
	q.armed = true
	q.mu.Unlock()
	if arm {
		time.AfterFunc(leadershipPoll, q.poll)
	}
}

// poll takes the requests whose wait is over (all of them once the leadership is here, else
// those past their deadline) and hands them to one completer task, or schedules the next
// poll. It runs on a timer goroutine or, after a drain, on the completer.
func (q *leadershipQueue) poll() {
	q.mu.Lock()
	led := q.part.leader.Load() != nil
	now := time.Now()
	n := len(q.waiting)
	if !led {
		n = 0
		for n < len(q.waiting) && !now.Before(q.waiting[n].deadline) {
			n++
		}
	}
	ready := append([]*produceWait(nil), q.waiting[:n]...)
	q.waiting = append(q.waiting[:0], q.waiting[n:]...)
	switch {
	case len(ready) > 0:
		// the drain polls again when done
	case len(q.waiting) > 0:
		time.AfterFunc(leadershipPoll, q.poll)
	default:
		q.armed = false
	}
	b := q.b
	q.mu.Unlock()
	if len(ready) > 0 {
		b.wakeups.Submit(func() { q.drain(ready) })
	}
}

// drain appends the ready requests in order, then polls for the rest.
func (q *leadershipQueue) drain(ready []*produceWait) {
	for _, w := range ready {
		w.resume()
		q.active.Add(-1)
	}
	q.poll()
}
