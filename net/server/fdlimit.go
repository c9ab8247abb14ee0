package server

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Descriptor budget. A connection holds two descriptors: gnet's socket and the writer's dup
// (see doc.go). If accept(2) fails with EMFILE, gnet v2.9.7 does not retry: accept0 returns
// ErrAcceptSocket, the main reactor exits and the whole engine shuts down, closing every
// connection and the listener (acceptor_unix.go, reactor_default.go). So MaxConns must never
// let connections alone reach RLIMIT_NOFILE: fdReserve of the limit is left to everything
// else (segment files, the listener, the accept of a connection refused at MaxConns). The
// servers of several listeners (Config.Listeners) split the rest evenly.
//
// Descriptors the rest of the process opens can still exhaust the limit; only an accept loop
// of our own (or a gnet that backs off on EMFILE, as net/http does) would survive that.
const (
	fdsPerConn      = 2
	fdReserveMin    = 256
	fdReserveFactor = 4 // a quarter of the limit
)

// maxConnsForLimit returns the largest MaxConns that fits the descriptor limit nofile.
func maxConnsForLimit(nofile uint64) int {
	reserve := max(nofile/fdReserveFactor, fdReserveMin)
	if nofile <= reserve {
		return 1
	}
	return int(min((nofile-reserve)/fdsPerConn, 1<<30))
}

// capMaxConnsToFDLimit lowers c.MaxConns to what RLIMIT_NOFILE allows, logging when it does.
func (c *Config) capMaxConnsToFDLimit() {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return
	}
	listeners := max(c.Listeners, 1)
	if fit := max(maxConnsForLimit(lim.Cur)/listeners, 1); c.MaxConns > fit {
		share := ""
		if listeners > 1 {
			share = fmt.Sprintf(" on listener %s (%d listeners share the limit)", c.Listener, listeners)
		}
		c.Logf("server: accepting at most %d connections%s, not %d: the descriptor limit (RLIMIT_NOFILE) is %d, each connection uses %d and a quarter is kept for log files; to accept more, raise the limit of the process (Go already raised its soft limit to the hard one: raise the hard limit, e.g. `ulimit -Hn 1048576` as root, LimitNOFILE= in a systemd unit, --ulimit nofile= in Docker)",
			fit, share, c.MaxConns, lim.Cur, fdsPerConn)
		c.MaxConns = fit
	}
}
