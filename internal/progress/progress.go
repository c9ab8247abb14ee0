// Package progress reports how far a long operation has got, on standard error: on a
// terminal a bar (or, with no known total, a count) redrawn in place a few times a second;
// otherwise — piped, redirected to a file or a log collector — a plain line every few
// seconds, so logs stay readable. Rates are per second since the start.
//
//	m := progress.New(os.Stderr, "produce orders", "records", 0)
//	for ... { m.Add(1) }
//	m.Done() // erases the bar on a terminal; prints nothing more when piped
//
// It is deliberately tiny, so any command can use it: `logd produce` (records per second
// from a large stdin) and `logd topic delete` of many topics do, and `logd bench` may.
// Counting is one atomic add; drawing happens on its own goroutine.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Intervals between redraws.
const (
	TerminalEvery = 100 * time.Millisecond
	PlainEvery    = 2 * time.Second
)

const barWidth = 30

// Meter counts progress and draws it until Done.
type Meter struct {
	w     io.Writer
	tty   bool
	label string
	unit  string
	total int64 // 0: unknown
	start time.Time

	done     atomic.Int64
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex // serializes drawing; guards width
	// width is the length of the last bar drawn, to blank it out.
	width int
}

// New starts a meter for an operation named label counting unit ("records"), of total units
// (0 when unknown), drawing to w: as a bar when w is a terminal, as plain lines otherwise.
func New(w io.Writer, label, unit string, total int64) *Meter {
	m := &Meter{w: w, tty: IsTerminal(w), label: label, unit: unit, total: total,
		start: time.Now(), stop: make(chan struct{})}
	every := PlainEvery
	if m.tty {
		every = TerminalEvery
	}
	m.wg.Add(1)
	go m.run(every)
	return m
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Add counts n more units done. Safe for concurrent use.
func (m *Meter) Add(n int64) { m.done.Add(n) }

// Done stops drawing. On a terminal it erases the bar, so the caller's summary line takes
// its place; piped output keeps its lines. Calls after the first do nothing.
func (m *Meter) Done() {
	m.stopOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		if m.tty {
			m.mu.Lock()
			fmt.Fprintf(m.w, "\r%s\r", strings.Repeat(" ", m.width))
			m.mu.Unlock()
		}
	})
}

func (m *Meter) run(every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.draw()
		}
	}
}

func (m *Meter) draw() {
	line := m.line(m.done.Load(), time.Since(m.start))
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.tty {
		fmt.Fprintln(m.w, line)
		return
	}
	pad := max(m.width-len(line), 0)
	fmt.Fprintf(m.w, "\r%s%s", line, strings.Repeat(" ", pad))
	m.width = len(line)
}

// line renders the state: "label [=====>    ]  45% 4500/10000 records  1500 records/s  3s"
// with a total, "label 4500 records  1500 records/s  3s" without, and no bar when piped.
func (m *Meter) line(done int64, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(m.label)
	b.WriteByte(' ')
	if m.total > 0 {
		frac := min(float64(done)/float64(m.total), 1)
		if m.tty {
			n := int(frac * barWidth)
			b.WriteByte('[')
			b.WriteString(strings.Repeat("=", n))
			if n < barWidth {
				b.WriteByte('>')
				b.WriteString(strings.Repeat(" ", barWidth-n-1))
			}
			b.WriteString("] ")
		}
		fmt.Fprintf(&b, "%3.0f%% %d/%d %s", frac*100, done, m.total, m.unit)
	} else {
		fmt.Fprintf(&b, "%d %s", done, m.unit)
	}
	if s := elapsed.Seconds(); s > 0 {
		fmt.Fprintf(&b, "  %.0f %s/s", float64(done)/s, m.unit)
	}
	fmt.Fprintf(&b, "  %s", elapsed.Round(time.Second))
	return b.String()
}
