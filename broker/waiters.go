package broker

import (
	"sync"
	"sync/atomic"
)

// appendWaiters lets fetches park on a partition until an append (or a high watermark move)
// wakes them. Waking allocates nothing when nobody waits.
type appendWaiters struct {
	waiting atomic.Int32
	mu      sync.Mutex    // guards ch
	ch      chan struct{} // closed and replaced by wake; nil until someone waits
}

// channel returns a channel closed at the next wake. Take it before checking for data, so an
// append between the check and the wait is not missed; call done when no longer waiting.
func (w *appendWaiters) channel() <-chan struct{} {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *appendWaiters) done() { w.waiting.Add(-1) }

// wake releases every parked fetch. It is the engine's append listener: it must not block.
func (w *appendWaiters) wake() {
	if w.waiting.Load() == 0 {
		return
	}
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}
