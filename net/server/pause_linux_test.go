//go:build linux && !poll_opt

package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// pauseProbe is a bare gnet handler: it records the first connection's loop and fd and
// counts the bytes gnet hands it.
type pauseProbe struct {
	gnet.BuiltinEventEngine
	booted chan string // the listen address
	opened chan gnet.Conn
	read   atomic.Int64
	eng    gnet.Engine
}

func (p *pauseProbe) OnBoot(eng gnet.Engine) gnet.Action {
	p.eng = eng
	fd, err := eng.Dup()
	if err != nil {
		p.booted <- ""
		return gnet.Shutdown
	}
	sa, err := unix.Getsockname(fd)
	unix.Close(fd)
	a, ok := sa.(*unix.SockaddrInet4)
	if err != nil || !ok {
		p.booted <- ""
		return gnet.Shutdown
	}
	p.booted <- fmt.Sprintf("127.0.0.1:%d", a.Port)
	return gnet.None
}

func (p *pauseProbe) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	p.opened <- c
	return nil, gnet.None
}

func (p *pauseProbe) OnTraffic(c gnet.Conn) gnet.Action {
	n, _ := c.Discard(-1)
	p.read.Add(int64(n))
	return gnet.None
}

// TestLoopEpollFd pins what pause_linux.go relies on in gnet's internals: loopEpollFd finds
// an epoll fd in a live event loop, that epoll set holds the loop's connections, and taking
// a connection's read interest out of it stops gnet reading (and putting it back resumes).
// A gnet upgrade that moves eventloop.poller.fd fails here first.
func TestLoopEpollFd(t *testing.T) {
	p := &pauseProbe{booted: make(chan string, 1), opened: make(chan gnet.Conn, 1)}
	done := make(chan error, 1)
	go func() { done <- gnet.Run(p, "tcp://127.0.0.1:0", gnet.WithNumEventLoop(1)) }()
	addr := <-p.booted
	if addr == "" {
		t.Fatal(<-done)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.eng.Stop(ctx)
		<-done
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gc := <-p.opened

	epfd := loopEpollFd(gc.EventLoop())
	if epfd < 0 {
		t.Fatalf("loopEpollFd found no eventloop.poller.fd in gnet's %T: gnet's internals changed, "+
			"read back-pressure is off; see net/server/pause_linux.go", gc.EventLoop())
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", epfd)); err != nil || link != "anon_inode:[eventpoll]" {
		t.Fatalf("loopEpollFd returned fd %d (%q, %v), not an epoll fd: gnet's internals changed; see net/server/pause_linux.go", epfd, link, err)
	}
	onLoop := func(f func(fd int) error) error {
		errc := make(chan error, 1)
		if err := gc.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			errc <- f(gc.Fd())
			return nil
		})); err != nil {
			return err
		}
		return <-errc
	}
	if err := onLoop(func(fd int) error { return pauseRead(epfd, fd) }); err != nil {
		t.Fatalf("pauseRead on the loop's epoll fd: %v (the connection is not in that epoll set: gnet's internals changed; see net/server/pause_linux.go)", err)
	}
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := p.read.Load(); n != 0 {
		t.Fatalf("gnet read %d bytes from a paused connection", n)
	}
	if err := onLoop(func(fd int) error { return resumeRead(epfd, fd) }); err != nil {
		t.Fatalf("resumeRead: %v", err)
	}
	waitFor(t, 5*time.Second, "the resumed connection to be read", func() bool { return p.read.Load() == 1000 })
}
