package broker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// appendWaiter is a request parked on partitions until an append wakes it: a fetch
// (parkedFetch) or a share fetch (parkedShareFetch). poke must not block.
type appendWaiter interface {
	poke()
	owner() *Broker
}

func (f *parkedFetch) owner() *Broker { return f.b }

// parking is the waiting state of a request parked on appendWaiters (parkedFetch,
// parkedShareFetch). One goroutine at a time owns the request (the handler, then the completer
// task a poke started); state hands ownership over without a lock, as parkedFetch's diagram
// draws it. The other fields belong to the owner.
type parking struct {
	deadline   time.Time    // MaxWaitMs from the request's arrival
	state      atomic.Int32 // fetchReading, fetchPoked, fetchParked, fetchAnswered
	registered bool         // on its partitions' waiters; owner only
	counted    bool         // holds one of MaxParkedFetches; owner only
	timer      *time.Timer  // MaxWaitMs; owner only (set once)
}

// hold parks c the first time, counting it among the broker's parked fetches and starting
// its MaxWaitMs timer (which calls poke). It reports false when MaxParkedFetches are parked
// already: answer with what there is (Kafka's semantics allow an early answer; the client
// simply fetches again).
func (p *parking) hold(b *Broker, c *call, poke func()) bool {
	if p.counted {
		return true
	}
	if b.parked.Add(1) > int64(b.cfg.MaxParkedFetches) {
		b.parked.Add(-1)
		return false
	}
	p.counted = true
	c.park()
	p.timer = time.AfterFunc(time.Until(p.deadline), poke)
	return true
}

// tryPark gives the request to the next poke and reports true, or reports false when a poke
// came while the owner read: it must read again.
func (p *parking) tryPark() bool {
	if p.state.CompareAndSwap(fetchReading, fetchParked) {
		return true
	}
	p.state.Store(fetchReading)
	return false
}

// release marks the request answered (later pokes do nothing), stops its timer and gives
// its parked count back. The owner then takes it off its partitions' waiters.
func (p *parking) release(b *Broker) {
	p.state.Store(fetchAnswered)
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.counted {
		b.parked.Add(-1)
	}
}

// pokeParked pokes the request: a reading owner reads once more, a parked one gets resume
// queued on b's completer as its new owner. Any goroutine; it never blocks.
func (p *parking) pokeParked(b *Broker, resume func()) {
	if p.claim() {
		b.wakeups.Submit(resume)
	}
}

// claim pokes the request and reports whether the caller became its owner: true when it was
// parked (the caller must resume it), false when its owner was reading (it reads once more)
// or it was answered. Any goroutine; it never blocks.
func (p *parking) claim() bool {
	for {
		switch st := p.state.Load(); st {
		case fetchReading:
			if p.state.CompareAndSwap(st, fetchPoked) {
				return false
			}
		case fetchParked:
			if p.state.CompareAndSwap(st, fetchReading) {
				return true
			}
		default:
			return false
		}
	}
}

// appendWaiters are the fetches parked on a partition until an append (or a high watermark
// move, or for share fetches a record released) wakes them. Waking takes every registered fetch off the partition and pokes it; a
// poked fetch that still wants more data registers again. Waking allocates nothing, and does
// not lock, when nobody waits.
type appendWaiters struct {
	n   atomic.Int32 // len(set), read without mu by wake
	mu  sync.Mutex   // guards set; a leaf
	set map[appendWaiter]struct{}
}

// add registers f (again: idempotent).
func (w *appendWaiters) add(f appendWaiter) {
	w.mu.Lock()
	if w.set == nil {
		w.set = map[appendWaiter]struct{}{}
	}
	w.set[f] = struct{}{}
	w.n.Store(int32(len(w.set)))
	w.mu.Unlock()
}

// remove unregisters f if it is registered.
func (w *appendWaiters) remove(f appendWaiter) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	delete(w.set, f)
	w.n.Store(int32(len(w.set)))
	w.mu.Unlock()
}

// wake pokes every parked fetch. It is the engine's append listener: it must not block, and
// runs on the appender's goroutine, which should go back to its produce at once. So it only
// takes the registered set and leaves the pokes (each of which queues a fetch's re-read) to
// one completer task: ten thousand parked fetches cost the append one map swap.
//
// The completer task re-reads one woken fetch itself instead of queueing it behind its own
// end: the common case (one consumer, or one follower, parked on the partition) then reaches
// its response in one goroutine hop from the append instead of two, which is a record's
// end-to-end latency (logd_fetch_wake_seconds measures it). The others are queued as before,
// so the pool's other goroutines read them in parallel.
//
// wake then yields (runtime.Gosched): the completer task was made runnable on the waker's P,
// and the waker is often the group-commit flusher, which goes on into its next fdatasync. A
// goroutine in a syscall keeps its P until sysmon retakes it, 20 µs to 10 ms later, and the
// other P is usually in a gnet loop's epoll_wait: the task sat runnable for p50 151 µs, p99
// 9.1 ms (a runtime trace of e2e-latency, bench/results/2026-12-08-fetch). Yielding runs it
// now, p50 1 µs, p99 113 µs, and the waker resumes on the next free P: the flusher's
// fdatasync starts a fetch read later (tens of µs) when both Ps are busy, never blocked.
func (w *appendWaiters) wake() {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	set := w.set
	w.set = nil
	w.n.Store(0)
	w.mu.Unlock()
	if len(set) == 0 {
		return
	}
	var b *Broker
	for f := range set {
		b = f.owner()
		break
	}
	at := time.Now()
	b.wakeups.Submit(func() {
		var inline *parkedFetch
		for f := range set {
			pf, ok := f.(*parkedFetch)
			switch {
			case !ok:
				f.poke()
			case inline == nil:
				inline = pf
			default:
				pf.wake(at, false)
			}
		}
		if inline != nil {
			inline.wake(at, true)
		}
	})
	runtime.Gosched()
}
