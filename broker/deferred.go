package broker

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
	"github.com/logd/logd/metrics"
	"github.com/logd/logd/net/server"
)

// Requests that wait are not goroutines (ARCHITECTURE.md, "Waiting is not a goroutine"): a
// handler whose answer depends on an event (a long-poll fetch's data, a produce's sync or high
// watermark, a rebalance, a leadership) calls c.park, registers a callback with what it waits
// for and returns errDeferred (or nil from a raw handler); the callback, or its timeout,
// answers with b.finish or b.finishKmsg. The server keeps the request's slot, frame and place
// in the connection's response order meanwhile (server.Request.Defer), and the worker goes
// back to the pool.

// errDeferred, returned by a handler, says its request was parked and is answered later.
var errDeferred = errors.New("broker: request deferred")

// park defers c's answer. Call it once, on the handler's goroutine, before returning.
func (c *call) park() {
	if !c.parked {
		c.parked = true
		c.parkedAt = time.Now()
		c.done = c.req.Defer()
	}
}

// finish answers a parked request (any goroutine, holding no lock) and records its metrics.
func (b *Broker) finish(c *call, resp *server.Response) {
	b.observe(c, resp)
	c.done.Complete(resp)
}

// finishKmsg encodes kresp (nil: no response, acks=0) and answers the parked request c.
func (b *Broker) finishKmsg(c *call, kresp kmsg.Response) {
	if kresp == nil {
		b.finish(c, nil)
		return
	}
	b.throttleRequest(c)
	b.finish(c, encodeResponse(c, kresp))
}

// observe records a request's metrics once its response is ready: queued before its
// handler, handled until now, of which waited parked.
func (b *Broker) observe(c *call, resp *server.Response) {
	if b.metrics == nil || resp == server.CloseConnection {
		return
	}
	end := time.Now()
	if !c.parkedAt.IsZero() {
		c.waited += end.Sub(c.parkedAt)
	}
	t := metrics.RequestTimes{Handled: end.Sub(c.start), Waited: c.waited}
	if !c.req.Received.IsZero() {
		t.Queue = c.start.Sub(c.req.Received)
	}
	b.metrics.ObserveRequest(c.req.APIKey, t)
}

// parkDurable parks c until the journal write d is durable (or failed); respond builds the
// answer from d's error, on whichever goroutine d reports on (a log directory's flusher, a
// high watermark move, or the handler's own if d is already decided). respond must not block.
func (b *Broker) parkDurable(c *call, d group.Durable, respond func(err error) kmsg.Response) error {
	c.park()
	d(func(err error) { b.finishKmsg(c, respond(err)) })
	return errDeferred
}

// parkGroup parks a group request (JoinGroup, SyncGroup) on the coordinator: register hands
// the coordinator a reply callback, and answer builds and sends the response, with ok false
// if the broker began shutting down first (the coordinator's later reply is then ignored). A
// reply given before register returns (an error, a Stable group's SyncGroup) is answered on
// the handler's goroutine; a later one may run under the group's lock, so it only queues
// answer on the completer.
func parkGroup[T any](b *Broker, c *call, register func(reply func(T)), answer func(res T, ok bool)) error {
	c.park()
	pc := &parkedCall{}
	pc.shutdown = func() {
		var zero T
		if pc.answered.CompareAndSwap(false, true) {
			b.wakeups.Submit(func() { answer(zero, false) })
		}
	}
	b.groupParked.add(pc, b.closing)
	var mu sync.Mutex
	registering := true // guarded by mu
	var inline *T       // guarded by mu
	register(func(res T) {
		if !pc.answered.CompareAndSwap(false, true) {
			return
		}
		b.groupParked.remove(pc)
		mu.Lock()
		if registering {
			inline = &res
			mu.Unlock()
			return
		}
		mu.Unlock()
		b.wakeups.Submit(func() { answer(res, true) })
	})
	mu.Lock()
	registering = false
	res := inline
	mu.Unlock()
	if res != nil {
		answer(*res, true)
	}
	return errDeferred
}

// parkedCall is a parked request that the broker's shutdown answers unless its event came
// first; answered says which came first.
type parkedCall struct {
	answered atomic.Bool
	shutdown func()
}

// parkedSet holds the parked group requests, which BeginShutdown answers at once (the
// network layer's shutdown waits for every request). mu is a leaf; add and remove may run
// under a group's lock.
type parkedSet struct {
	mu     sync.Mutex
	calls  map[*parkedCall]struct{} // guarded by mu
	closed bool                     // guarded by mu
}

// add registers pc, or answers it at once if closing is closed.
func (s *parkedSet) add(pc *parkedCall, closing <-chan struct{}) {
	s.mu.Lock()
	if s.closed || isClosed(closing) {
		s.mu.Unlock()
		pc.shutdown()
		return
	}
	if s.calls == nil {
		s.calls = map[*parkedCall]struct{}{}
	}
	s.calls[pc] = struct{}{}
	s.mu.Unlock()
}

func (s *parkedSet) remove(pc *parkedCall) {
	s.mu.Lock()
	delete(s.calls, pc)
	s.mu.Unlock()
}

// shutdown answers every registered call; later ones are answered as they are added.
func (s *parkedSet) shutdown() {
	s.mu.Lock()
	s.closed = true
	calls := s.calls
	s.calls = nil
	s.mu.Unlock()
	for pc := range calls {
		pc.shutdown()
	}
}

// Catalog requests wait for the controller and then for the change to reach this broker's
// view and logs (cluster.Node's waitView and waitReconciled: a few milliseconds usually, up
// to seconds while brokers lag), and InitProducerId may wait for a producer id block from the
// controller. Those waits stay blocking calls into the cluster, but they run on two small
// queues of the broker's own instead of a network worker, the request parked meanwhile: a
// flood of them queues there and takes none of the workers that Produce, Fetch and Metadata
// need. Turning the cluster's waits into callbacks would need every change path in cluster/
// (local proposal, forwarding to the controller, the controller's wait for the brokers)
// rewritten as continuations; the queues bound the same thing with one change here.

// catalogQueue names where a catalog request's handler runs.
type catalogQueue uint8

const (
	// notCatalog handlers run on the network worker.
	notCatalog catalogQueue = iota
	// catalogTopic handlers (CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
	// IncrementalAlterConfigs) run on b.topicChanges, one at a time in arrival order: they
	// serialize on b.admin anyway, and arrival order keeps a connection's pipelined changes
	// (a create, then a delete of the same topic) in its order, as Kafka does.
	catalogTopic
	// A Metadata request that auto-creates a topic is queued there too (handleMetadata).
	// catalogController handlers (ElectLeaders, AlterPartitionReassignments, InitProducerId)
	// run on b.controllerCalls, catalogWorkers at a time, in no particular order.
	catalogController
)

// catalogWorkers is how many catalogController handlers run at once.
const catalogWorkers = 4

// queueCatalog parks c and queues a's handler on queue. A caller holding c's turn
// (server.Request.WaitTurn) queues a connection's requests in its order.
func (b *Broker) queueCatalog(queue catalogQueue, a *api, c *call) {
	c.park()
	q := b.controllerCalls
	if queue == catalogTopic {
		q = b.topicChanges
	}
	q.Submit(func() { b.runCatalog(a, c) })
}

// runFunc is the run function of the broker's pools of completions: each entry is a func.
func runFunc(fn func()) { fn() }

// timedOut is REQUEST_TIMED_OUT once a catalog request's TimeoutMs (if positive) has passed
// since it was parked, else nil. CreateTopics, DeleteTopics and CreatePartitions check it
// before each topic: a topic reached after the deadline is answered with it, unchanged, as
// Kafka's controller fails a request whose deadline passed before it ran. A change already
// under way is not cut short.
func (c *call) timedOut(timeoutMs int32) error {
	if timeoutMs <= 0 || c.parkedAt.IsZero() || time.Since(c.parkedAt) < time.Duration(timeoutMs)*time.Millisecond {
		return nil
	}
	return refuse(kerr.RequestTimedOut, "the request's timeout (%d ms) passed while it waited for the catalog changes before it", timeoutMs)
}

// runCatalog runs a catalog handler for the parked request c and answers it.
func (b *Broker) runCatalog(a *api, c *call) {
	kresp, err := a.handle(b, c)
	switch {
	case err == errDeferred:
	case err != nil:
		b.log.Debug("closing connection", "api_key", c.req.APIKey, "version", c.req.APIVersion, "err", err)
		b.finish(c, server.CloseConnection)
	default:
		b.finishKmsg(c, kresp)
	}
}
