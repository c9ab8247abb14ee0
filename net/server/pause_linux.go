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
// MOD would clobber; pause_other.go disables pausing there. TestBackPressure
// fails loudly if a gnet upgrade moves the field.
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

func pauseRead(epfd, fd int) error {
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd)})
}

func resumeRead(epfd, fd int) error {
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd,
		&unix.EpollEvent{Fd: int32(fd), Events: unix.EPOLLIN | unix.EPOLLPRI})
}
