package broker

import (
	"sync"
	"sync/atomic"
)

// appendWaiters are the fetches parked on a partition until an append (or a high watermark
// move) wakes them. Waking takes every registered fetch off the partition and pokes it; a
// poked fetch that still wants more data registers again. Waking allocates nothing, and does
// not lock, when nobody waits.
type appendWaiters struct {
	n   atomic.Int32 // len(set), read without mu by wake
	mu  sync.Mutex   // guards set; a leaf but for parkedFetch.poke's completer.mu
	set map[*parkedFetch]struct{}
}

// add registers f (again: idempotent).
func (w *appendWaiters) add(f *parkedFetch) {
	w.mu.Lock()
	if w.set == nil {
		w.set = map[*parkedFetch]struct{}{}
	}
	w.set[f] = struct{}{}
	w.n.Store(int32(len(w.set)))
	w.mu.Unlock()
}

// remove unregisters f if it is registered.
func (w *appendWaiters) remove(f *parkedFetch) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	delete(w.set, f)
	w.n.Store(int32(len(w.set)))
	w.mu.Unlock()
}

// wake pokes every parked fetch. It is the engine's append listener: it must not block. A
// poke only flips the fetch's state and queues its re-read on the broker's completer, so the
// appender goes straight back to its produce.
func (w *appendWaiters) wake() {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	for f := range w.set {
		f.poke()
	}
	clear(w.set)
	w.n.Store(0)
	w.mu.Unlock()
}
