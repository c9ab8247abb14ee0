package runq

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolBoundsGoroutines: every submitted value runs once, never more than max at a time,
// and the goroutines exit (wg drains) once the queue is empty.
func TestPoolBoundsGoroutines(t *testing.T) {
	const n, limit = 5000, 3
	var (
		wg       sync.WaitGroup
		running  atomic.Int32
		peak     atomic.Int32
		seen     = make([]atomic.Int32, n)
		finished sync.WaitGroup
	)
	finished.Add(n)
	p := New(limit, func(i int) {
		r := running.Add(1)
		for {
			old := peak.Load()
			if r <= old || peak.CompareAndSwap(old, r) {
				break
			}
		}
		if i%500 == 0 {
			time.Sleep(time.Millisecond)
		}
		seen[i].Add(1)
		running.Add(-1)
		finished.Done()
	}, &wg)
	for i := range n {
		p.Submit(i)
	}
	finished.Wait()
	wg.Wait()
	if got := peak.Load(); got > limit || got < 1 {
		t.Fatalf("peak concurrency %d, want 1..%d", got, limit)
	}
	for i := range seen {
		if c := seen[i].Load(); c != 1 {
			t.Fatalf("value %d ran %d times", i, c)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running != 0 || len(p.queue) != 0 {
		t.Fatalf("idle pool holds %d goroutines and %d queued", p.running, len(p.queue))
	}
}

// TestPoolSubmitFromRun: work may submit more work (the broker's completions do).
func TestPoolSubmitFromRun(t *testing.T) {
	var done sync.WaitGroup
	done.Add(100)
	var p *Pool[int]
	p = New(1, func(i int) {
		if i < 99 {
			p.Submit(i + 1)
		}
		done.Done()
	}, nil)
	p.Submit(0)
	done.Wait()
}
