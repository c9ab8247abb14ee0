// Package testbroker starts a one-node logd inside a test binary, on a free loopback port,
// for the tests of packages that talk to a real broker over a real socket (the broker's own
// tests have theirs, with hooks into its configuration).
package testbroker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/cluster"
	"github.com/logd/logd/net/server"
)

// Start runs a broker with the embedded defaults on a temporary data directory and returns
// its address once it serves; it shuts down when the test ends.
func Start(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := broker.DefaultConfig()
	cfg.DataDir = tb.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	cfg.AdvertisedPort = int32(p)
	node, err := cluster.Start(cluster.Config{Broker: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	b := node.Broker()
	srv := server.New(server.Config{HeaderVersion: broker.HeaderVersion, Logf: func(string, ...any) {}}, b)
	if err := srv.Start(addr); err != nil {
		node.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.BeginShutdown()
		srv.Shutdown(ctx)
		if err := node.Close(); err != nil {
			tb.Errorf("broker close: %v", err)
		}
	})
	<-node.Ready()
	return addr
}
