//go:build linux && !poll_opt

package server

import (
	"reflect"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnet v2 has no API to stop reading a connection: in level-triggered mode it
// reads whenever the socket is readable and appends what OnTraffic leaves to
// an unbounded inbound buffer. Real back-pressure (the kernel's receive window
// closing on a client that pipelines past MaxInFlight) needs the fd out of
// gnet's epoll read interest. We reach the loop's epoll fd by reading the
// unexported field eventloop.poller.fd with reflect (reading, not writing, so
// no unsafe) and flip the interest with EPOLL_CTL_MOD ourselves:
//
//   - pause:  events 0 (EPOLLERR/EPOLLHUP are still reported, so a reset peer
//     is still closed by gnet);
//   - resume: EPOLLIN|EPOLLPRI, exactly what gnet's default poller registers
//     for a level-triggered read-only conn (netpoll.AddRead/ModRead without
//     edge-triggering), with Fd in the event data as gnet expects.
//
// Both run on the connection's event loop, and gnet itself only changes a
// conn's interest when its outbound buffer is used, which this package never
// does; so gnet's view and ours cannot disagree. The default (non poll_opt)
// poller is required: poll_opt stores a pointer in the event data, which this
// MOD would clobber; pause_other.go disables pausing there.
//
// Why no supported way exists, as checked in gnet v2.9.7 (the version go.mod
// pins):
//
//   - gnet.Conn (Reader, Writer, Socket) has no pause, resume or interest
//     control; its Socket part offers Fd, Dup and socket options only. The
//     Action an OnTraffic returns is None, Close or Shutdown: none stops
//     reading, and eventloop.read reads the socket before OnTraffic is called.
//   - gnet.EventLoop offers Register, Enroll, Execute, Schedule and Close;
//     gnet.Engine offers Validate, CountConnections, Register, Dup,
//     DupListener, Stop, AsyncWrite(v), Close and Wake: nothing returns the
//     loop's poller or its epoll fd.
//   - The poller type is public (pkg/netpoll.Poller, with ModRead and
//     ModReadWrite but no "no interest" mode), yet the loop's instance lives
//     in the unexported eventloop.poller and its epoll fd in the unexported
//     Poller.fd: a caller can neither get the instance nor its fd.
//   - Options: WithEdgeTriggeredIO only changes how much one readable event
//     reads (EdgeTriggeredIOChunk, then it re-triggers itself); ReadBufferCap
//     sizes one read. Neither lets the application stop reading.
//   - Finding the epoll fd through /proc/self/fdinfo (the epoll whose "tfd:"
//     lines list the conn's fd) would avoid reflect but needs a connection's
//     fd and a scan of every open fd per loop, and relies on gnet's epoll
//     registration just the same.
//
// TestLoopEpollFd fails loudly, naming this file, if a gnet upgrade moves or
// renames the field, or if the fd found is not the epoll set that serves the
// loop's connections; TestBackPressure then fails too (no pause happens).

// loopEpollFd returns the epoll fd of el's poller, or -1 when el is not laid
// out as gnet v2.9.7's eventloop is (pausing is then off).
func loopEpollFd(el gnet.EventLoop) int {
	v := reflect.ValueOf(el)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return -1
	}
	p := v.Elem().FieldByName("poller")
	if !p.IsValid() || p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return -1
	}
	fd := p.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1
	}
	return int(fd.Int())
}

// pauseRead removes fd's read interest from epfd.
func pauseRead(epfd, fd int) error {
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd)})
}

// resumeRead restores fd's level-triggered read interest in epfd.
func resumeRead(epfd, fd int) error {
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd,
		&unix.EpollEvent{Fd: int32(fd), Events: unix.EPOLLIN | unix.EPOLLPRI})
}
