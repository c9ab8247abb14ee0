package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMaxConnsForLimit(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{20000, 7500},      // this machine's limit: 15,000 descriptors for connections
		{1 << 20, 393216},  // systemd's usual LimitNOFILE: the default 10,000 stands
		{1024, 384},        // reserve 256
		{300, 22},          // reserve 256
		{200, 1},           // below the reserve: one connection, never zero
		{1 << 62, 1 << 30}, // no overflow
	} {
		if got := maxConnsForLimit(tc.nofile); got != tc.want {
			t.Errorf("maxConnsForLimit(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
}

// TestStartCapsMaxConns: a MaxConns the descriptor limit cannot hold is lowered at Start, so
// connections alone never make accept(2) fail with EMFILE (which stops gnet's engine).
func TestStartCapsMaxConns(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		t.Skip("no descriptor limit")
	}
	var mu sync.Mutex // gnet logs through Logf from its loops too
	var logged []string
	logf := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(f, a...))
	}
	s, _ := startServer(t, Config{MaxConns: 1 << 30, Logf: logf}, echoHandler)
	if want := maxConnsForLimit(lim.Cur); s.cfg.MaxConns != want {
		t.Fatalf("MaxConns %d, want %d for RLIMIT_NOFILE %d", s.cfg.MaxConns, want, lim.Cur)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) == 0 {
		t.Fatal("lowering MaxConns was not logged")
	}
}

// TestListenersShareTheDescriptorLimit: the servers of several listeners split the budget, so
// together they cannot exhaust the descriptors either; the line names the listener.
func TestListenersShareTheDescriptorLimit(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		t.Skip("no descriptor limit")
	}
	var logged []string
	c := Config{MaxConns: 1 << 30, Listeners: 3, Listener: "EXTERNAL", Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	c.capMaxConnsToFDLimit()
	if want := maxConnsForLimit(lim.Cur) / 3; c.MaxConns != want {
		t.Fatalf("MaxConns %d, want %d (a third of %d)", c.MaxConns, want, maxConnsForLimit(lim.Cur))
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "on listener EXTERNAL (3 listeners share the limit)") {
		t.Fatalf("logged %q", logged)
	}
}
