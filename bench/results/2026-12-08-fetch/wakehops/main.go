// Command wakehops reads a runtime trace of logd (GET /debug/pprof/trace) and measures the
// goroutine hops between an append that wakes a parked fetch and the goroutine that writes
// the fetch's response: how many there are and how long each new goroutine stayed runnable
// before it ran (scheduler latency). Usage: go run . trace.out
//
// A hop is a goroutine made runnable (created or unblocked) by:
//   - wake: broker.(*appendWaiters).wake submitting the re-read to the completer pool;
//   - complete: net/server's (*conn).complete starting the writer for a parked fetch's answer
//     (parkedFetch.answer);
//   - ack: the same for a produce answer released by the group-commit flusher's callbacks.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

type hop struct {
	kind string
	at   trace.Time
	// chain is when the wake that led here made its first hop runnable (zero: not a chain).
	chain trace.Time
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	r, err := trace.NewReader(f)
	if err != nil {
		panic(err)
	}
	pending := map[trace.GoID]hop{}
	chainOf := map[trace.GoID]trace.Time{} // running goroutine -> its chain start
	lat := map[string][]time.Duration{}
	var total []time.Duration
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wakehops: reading the trace:", err)
			os.Exit(1)
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		_, to := st.Goroutine()
		switch to {
		case trace.GoRunnable:
			kind := classify(ev.Stack())
			if kind == "" {
				continue
			}
			h := hop{kind: kind, at: ev.Time()}
			switch kind {
			case "wake":
				h.chain = ev.Time()
			case "complete":
				h.chain = chainOf[ev.Goroutine()]
			}
			pending[id] = h
		case trace.GoRunning:
			if h, ok := pending[id]; ok {
				delete(pending, id)
				lat[h.kind] = append(lat[h.kind], time.Duration(ev.Time()-h.at))
				if h.kind == "wake" {
					chainOf[id] = h.chain
				} else if h.chain != 0 {
					total = append(total, time.Duration(ev.Time()-h.chain))
				}
			}
		case trace.GoNotExist:
			delete(chainOf, id)
		}
	}
	for _, k := range []string{"wake", "complete", "ack"} {
		fmt.Printf("hop %-8s %s\n", k, summary(lat[k]))
	}
	fmt.Printf("wake → writer running (both hops, same chain): %s\n", summary(total))
}

// classify names the hop whose stack made a goroutine runnable.
func classify(s trace.Stack) string {
	var fns []string
	for fr := range s.Frames() {
		fns = append(fns, fr.Func)
	}
	has := func(sub string) bool {
		return slices.ContainsFunc(fns, func(f string) bool { return strings.Contains(f, sub) })
	}
	switch {
	case has("(*conn).complete") && has("parkedFetch).answer"):
		return "complete"
	case has("appendWaiters).wake") && has("Submit"):
		return "wake"
	case has("(*conn).complete") && has("runCallbacks"):
		return "ack"
	}
	return ""
}

func summary(d []time.Duration) string {
	if len(d) == 0 {
		return "n=0"
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", len(d), q(0.5), q(0.9), q(0.99), d[len(d)-1])
}
