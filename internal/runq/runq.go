// Package runq runs queued work on a bounded number of goroutines that start on demand and
// exit as soon as the queue is empty, so an idle process holds none. It is the one such pool
// in logd: the network server's request workers and the broker's completer of woken parked
// requests both use it.
//
// Submit never blocks and takes only the pool's own mutex, a leaf lock: it may be called
// while holding any other lock, and run is never called with it held. The queue has no cap
// of its own: callers bound what they submit (the server submits a request only after it took
// one of its connection's in-flight slots; the broker submits each parked request at most
// once at a time).
package runq

import "sync"

// Pool runs run(v) for every submitted v on at most max goroutines, in submission order of
// start (not of completion).
type Pool[T any] struct {
	mu      sync.Mutex
	queue   []T // guarded by mu; FIFO from qhead
	qhead   int // guarded by mu
	running int // guarded by mu

	max int
	run func(T)
	wg  *sync.WaitGroup // nil: nobody waits for the goroutines
	// workFn is p.work bound once: `go p.work()` would allocate a closure per spawn, and
	// goroutines spawn per burst.
	workFn func()
}

// New returns a pool of at most n (at least 1) goroutines calling run. If wg is not nil,
// every goroutine is counted in it while it lives, so a caller can wait for the pool to drain.
func New[T any](n int, run func(T), wg *sync.WaitGroup) *Pool[T] {
	p := &Pool[T]{max: max(n, 1), run: run, wg: wg}
	p.workFn = p.work
	return p
}

// Submit queues v and starts a goroutine if fewer than max run.
func (p *Pool[T]) Submit(v T) {
	p.mu.Lock()
	if p.qhead > 64 && p.qhead > len(p.queue)/2 { // keep the backing array bounded under sustained load
		n := copy(p.queue, p.queue[p.qhead:])
		clear(p.queue[n:])
		p.queue = p.queue[:n]
		p.qhead = 0
	}
	p.queue = append(p.queue, v)
	start := p.running < p.max
	if start {
		p.running++
		if p.wg != nil {
			p.wg.Add(1)
		}
	}
	p.mu.Unlock()
	if start {
		go p.workFn()
	}
}

func (p *Pool[T]) work() {
	if p.wg != nil {
		defer p.wg.Done()
	}
	var zero T
	for {
		p.mu.Lock()
		if p.qhead == len(p.queue) {
			p.running--
			if cap(p.queue) > 4096 {
				p.queue = nil
			} else {
				p.queue = p.queue[:0]
			}
			p.qhead = 0
			p.mu.Unlock()
			return
		}
		v := p.queue[p.qhead]
		p.queue[p.qhead] = zero
		p.qhead++
		p.mu.Unlock()
		p.run(v)
	}
}
