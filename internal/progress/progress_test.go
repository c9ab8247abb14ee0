package progress

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestLine(t *testing.T) {
	m := &Meter{label: "delete topics", unit: "topics", total: 10, tty: true}
	if got, want := m.line(5, 2*time.Second), "delete topics [===============>              ]  50% 5/10 topics  2 topics/s  2s"; got != want {
		t.Errorf("tty with total:\n got  %q\n want %q", got, want)
	}
	if got := m.line(10, time.Second); !strings.Contains(got, "[==============================] 100% 10/10") {
		t.Errorf("tty complete: %q", got)
	}
	m.tty = false
	if got, want := m.line(5, 2*time.Second), "delete topics  50% 5/10 topics  2 topics/s  2s"; got != want {
		t.Errorf("plain with total:\n got  %q\n want %q", got, want)
	}
	m.total = 0
	if got, want := m.line(3000, 3*time.Second), "delete topics 3000 topics  1000 topics/s  3s"; got != want {
		t.Errorf("no total:\n got  %q\n want %q", got, want)
	}
}

// TestPlainLines: to a pipe or buffer the meter writes whole lines, no carriage returns, and
// nothing more on Done.
func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, "produce t", "records", 0)
	m.Add(7)
	m.draw()
	m.Done()
	if got := buf.String(); !strings.HasPrefix(got, "produce t 7 records") || strings.Count(got, "\n") != 1 || strings.Contains(got, "\r") {
		t.Errorf("plain output %q", got)
	}
}

// openPTY returns a pseudo-terminal's controller and its terminal end.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(); term.Close() })
	return ctl, term
}

// TestTerminalBar: on a terminal the meter redraws one line in place and erases it on Done.
func TestTerminalBar(t *testing.T) {
	ctl, term := openPTY(t)
	if !IsTerminal(term) || IsTerminal(&bytes.Buffer{}) {
		t.Fatal("IsTerminal")
	}
	m := New(term, "delete topics", "topics", 4)
	m.Add(1)
	m.draw()
	m.Add(3)
	m.draw()
	m.Done()
	term.Close()
	// A pseudo-terminal hands the output over in pieces: read until the closed slave side
	// makes the master report EIO (or the deadline passes).
	ctl.SetReadDeadline(time.Now().Add(2 * time.Second))
	var all []byte
	buf := make([]byte, 4096)
	for {
		n, err := ctl.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			break
		}
	}
	got := string(all)
	if strings.Count(got, "\r") < 3 || strings.Contains(got, "\n") || !strings.Contains(got, " 25% 1/4") || !strings.Contains(got, "100% 4/4") ||
		!strings.HasSuffix(got, "\r") {
		t.Errorf("terminal output %q", got)
	}
}
