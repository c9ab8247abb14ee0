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
	mu  sync.Mutex   // guards set; a leaf
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

// wake pokes every parked fetch. It is the engine's append listener: it must not block, and
// runs on the appender's goroutine, which should go back to its produce at once. So it only
// takes the registered set and leaves the pokes (each of which queues a fetch's re-read) to
// one completer task: ten thousand parked fetches cost the append one map swap.
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
		b = f.b
		break
	}
	b.wakeups.Submit(func() {
		for f := range set {
			f.poke()
		}
	})
}
