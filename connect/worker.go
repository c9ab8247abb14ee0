package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Worker is a running worker, standalone or distributed: its herder (in distributed mode, the
// one running the connectors assigned here) and its REST server.
type Worker struct {
	Herder *Herder
	dist   *Distributed // nil in standalone mode
	URL    string       // the REST API's base URL, http://host:port
	srv    *http.Server
	served chan error
	once   sync.Once
	err    error // Close's result
}

// StartStandalone starts a standalone worker: the herder, then the REST API on the
// configuration's listener (a port of 0 picks a free one; the advertised port and the worker
// id follow it). reg may be nil.
func StartStandalone(ctx context.Context, cfg *WorkerConfig, log *slog.Logger, reg *prometheus.Registry) (*Worker, error) {
	ln, err := net.Listen("tcp", cfg.Listener)
	if err != nil {
		return nil, fmt.Errorf("REST listener %s: %w", cfg.Listener, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if cfg.AdvertisedPort == 0 {
		cfg.AdvertisedPort = port
	}
	h, err := NewHerder(ctx, cfg, log, NewMetrics(reg))
	if err != nil {
		ln.Close()
		return nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.Listener)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	w := &Worker{
		Herder: h,
		URL:    "http://" + net.JoinHostPort(host, strconv.Itoa(port)),
		srv:    &http.Server{Handler: RESTHandler(h), ReadHeaderTimeout: 10 * time.Second},
		served: make(chan error, 1),
	}
	go func() { w.served <- w.srv.Serve(ln) }()
	return w, nil
}

// Close stops the REST server, then every connector and task (committing what they did).
// Calling it again returns the first call's result.
func (w *Worker) Close() error {
	w.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.err = w.srv.Shutdown(ctx)
		if serr := <-w.served; !errors.Is(serr, http.ErrServerClosed) && w.err == nil {
			w.err = serr
		}
		if w.dist != nil {
			w.dist.close()
		} else {
			w.Herder.Close()
		}
	})
	return w.err
}
