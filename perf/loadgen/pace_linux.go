package loadgen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Pacing. Go's time.Sleep waits in the netpoller, which rounds sub-millisecond timeouts up to
// a millisecond: measured on the 2-core bench VM, Sleep(100µs) overshot by ~1 ms on average,
// which fixed-rate mode would charge to the broker as latency. A paced writer therefore locks
// its OS thread, sets that thread's timer slack to 1 µs (default 50 µs) and sleeps the last
// stretch with nanosleep(2): overshoot then is tens of microseconds, and it is still measured
// (SendLag) rather than hidden.

// pacer prepares the calling goroutine for precise sleeps; call done when finished.
func pacer() (done func()) {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	return func() {
		unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // back to the default
		runtime.UnlockOSThread()
	}
}

// sleepUntil sleeps until t: coarse sleeps on the runtime timer while more than 2 ms remain,
// then nanosleep on this (locked) thread.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		if d > 2*time.Millisecond {
			time.Sleep(d - 2*time.Millisecond)
			continue
		}
		ts := unix.NsecToTimespec(int64(d))
		unix.Nanosleep(&ts, nil)
	}
}
