package server

import (
	"math/bits"
	"sync"
)

// Frame buffers come from power-of-two size classes between minPooledFrame and
// maxPooledFrame. Larger frames are plain allocations left to the GC: pooling
// them would pin up to socket.request.max.bytes per class forever.
const (
	minPooledFrame = 512
	maxPooledFrame = 1 << 20
	numFrameClass  = 12 // 512 B .. 1 MiB
)

var (
	framePools [numFrameClass]sync.Pool // of *[]byte, cap == class size
	// boxPool recycles the *[]byte boxes so Put does not allocate.
	boxPool = sync.Pool{New: func() any { return new([]byte) }}
)

// frameClass rounds n up to its pool class size, or returns n when n is not
// pooled.
func frameClass(n int) int {
	if n > maxPooledFrame {
		return n
	}
	if n <= minPooledFrame {
		return minPooledFrame
	}
	return 1 << bits.Len(uint(n-1))
}

func classIndex(c int) int { return bits.Len(uint(c)) - bits.Len(minPooledFrame) }

// getFrame returns a buffer of length n.
func getFrame(n int) []byte { return getFrameCap(n)[:n] }

// getFrameCap returns a zero-length buffer with capacity >= c.
func getFrameCap(c int) []byte {
	cl := frameClass(c)
	if cl > maxPooledFrame {
		return make([]byte, 0, c)
	}
	if box, _ := framePools[classIndex(cl)].Get().(*[]byte); box != nil {
		b := *box
		*box = nil
		boxPool.Put(box)
		return b[:0]
	}
	return make([]byte, 0, cl)
}

// putFrame recycles b if its capacity is exactly a pooled class.
func putFrame(b []byte) {
	c := cap(b)
	if c < minPooledFrame || c > maxPooledFrame || c&(c-1) != 0 {
		return
	}
	box := boxPool.Get().(*[]byte)
	*box = b[:0]
	framePools[classIndex(c)].Put(box)
}

// workerPool runs handlers on at most max goroutines. Goroutines start on
// demand and exit as soon as the queue is empty, so an idle server holds none.
// The queue is bounded by connections × MaxInFlight because a request is only
// queued after taking one of its connection's in-flight slots.
type workerPool struct {
	mu      sync.Mutex
	queue   []*slot // guarded by mu; FIFO from qhead
	qhead   int     // guarded by mu
	workers int     // guarded by mu
	max     int
	wg      *sync.WaitGroup
	run     func(*slot)
	// workFn is p.work bound once: `go p.work()` would allocate a closure per
	// spawn, and workers spawn per burst.
	workFn func()
}

func (p *workerPool) submit(s *slot) {
	p.mu.Lock()
	if p.qhead > 64 && p.qhead > len(p.queue)/2 { // keep the backing array bounded under sustained load
		n := copy(p.queue, p.queue[p.qhead:])
		clear(p.queue[n:])
		p.queue = p.queue[:n]
		p.qhead = 0
	}
	p.queue = append(p.queue, s)
	start := p.workers < p.max
	if start {
		p.workers++
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if start {
		go p.workFn()
	}
}

func (p *workerPool) work() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if p.qhead == len(p.queue) {
			p.workers--
			if cap(p.queue) > 4096 {
				p.queue = nil
			} else {
				p.queue = p.queue[:0]
			}
			p.qhead = 0
			p.mu.Unlock()
			return
		}
		s := p.queue[p.qhead]
		p.queue[p.qhead] = nil
		p.qhead++
		p.mu.Unlock()
		p.run(s)
	}
}
