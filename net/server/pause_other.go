//go:build !linux || poll_opt

package server

import (
	"errors"

	"github.com/panjf2000/gnet/v2"
)

// Without a way to pause gnet's reads, a connection past MaxInFlight keeps
// being read; its complete frames wait in pending, charged to
// MaxBufferedBytes, and the connection is closed when the budget runs out.
func loopEpollFd(gnet.EventLoop) int { return -1 }

var errNoPause = errors.New("server: pausing reads unsupported")

func pauseRead(int, int) error  { return errNoPause }
func resumeRead(int, int) error { return errNoPause }
