package broker

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/net/server"
)

// StartNode starts a broker as a single-node cluster: the cluster package's Node (a quorum of
// one voter, its controller and metadata listener) with the broker it builds from cfg, which
// it returns with the node's Close. The cluster package imports this one, so these internal
// tests cannot import it: the external test file node_test.go sets StartNode from its init.
var StartNode func(cfg Config) (b *Broker, closeNode func() error, err error)

// testBroker is a broker serving on a real loopback socket, over a temporary data directory:
// a single-node cluster, the code production runs.
type testBroker struct {
	t     testing.TB
	dir   string
	b     *Broker
	close func() error // the node's Close
	srv   *server.Server
	addr  string
}

// startBroker starts a broker; modify adjusts its config first.
func startBroker(t testing.TB, modify func(*Config)) *testBroker {
	t.Helper()
	tb := &testBroker{t: t, dir: t.TempDir()}
	tb.start(modify)
	t.Cleanup(tb.stop)
	return tb
}

func (tb *testBroker) start(modify func(*Config)) {
	tb.t.Helper()
	if tb.addr == "" {
		// Pick the port before the broker exists: the advertised address is part of its
		// Config, which request handlers read without synchronization. A restart keeps the
		// port clients know.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.t.Fatal(err)
		}
		tb.addr = l.Addr().String()
		l.Close()
	}
	cfg := DefaultConfig()
	cfg.DataDir = tb.dir
	cfg.AdvertisedHost = "127.0.0.1"
	if _, port, err := net.SplitHostPort(tb.addr); err == nil {
		p, _ := strconv.Atoi(port)
		cfg.AdvertisedPort = int32(p)
	}
	cfg.Logger = quietLogger()
	if modify != nil {
		modify(&cfg)
	}
	b, closeNode, err := StartNode(cfg)
	if err != nil {
		tb.t.Fatal(err)
	}
	srv := server.New(server.Config{HeaderVersion: HeaderVersion}, b)
	if err := srv.Start(tb.addr); err != nil {
		closeNode()
		tb.t.Fatal(err)
	}
	tb.b, tb.close, tb.srv = b, closeNode, srv
}

// quietLogger is the test brokers' default logger: warnings and errors only (with -v, info
// too), so the node's start (Raft election, registration) does not fill the output.
func quietLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// stop shuts the broker down cleanly (idempotent).
func (tb *testBroker) stop() {
	if tb.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tb.b.BeginShutdown()
	tb.srv.Shutdown(ctx)
	if err := tb.close(); err != nil {
		tb.t.Errorf("node close: %v", err)
	}
	tb.srv, tb.b, tb.close = nil, nil, nil
}

// restart stops and starts the broker on the same directory and port.
func (tb *testBroker) restart() {
	tb.stop()
	tb.start(nil)
}

// client returns a franz-go client for the broker, closed at the end of the test.
func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr)}, opts...)...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client for the broker.
func (tb *testBroker) admin() *kadm.Client { return kadm.NewClient(tb.client()) }
