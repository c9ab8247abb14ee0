package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/logd/logd/console"
	"github.com/logd/logd/metrics"
)

// opsServer is the --http endpoint: /metrics, /healthz, /readyz, /debug/pprof/, the REST
// proxy's /v3/ and /consumers/ and the console's /ui/, on its own mux (nothing registers on http.DefaultServeMux).
type opsServer struct {
	srv *http.Server
	ln  net.Listener
}

// startOpsServer listens on addr and serves in the background. ready reports why the broker
// is not ready, or nil. api, if not nil, serves /v3/ and /consumers/ (the REST proxy), and
// the web console is served at /ui/ (/ redirects there).
func startOpsServer(addr string, m *metrics.Metrics, ready func() error, api http.Handler, logger *slog.Logger) (*opsServer, error) {
	mux := http.NewServeMux()
	if api != nil {
		mux.Handle("/v3/", api)
		mux.Handle("/consumers/", api)
		ui := console.Handler() // the console is a client of the proxy
		mux.Handle("/ui/", ui)
		mux.Handle("/{$}", ui)
	}
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &opsServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "err", err)
		}
	}()
	return o, nil
}

func (o *opsServer) addr() string { return o.ln.Addr().String() }

// close shuts the server down, waiting for requests in progress until ctx ends (a running
// CPU profile is cut short then). Safe on nil.
func (o *opsServer) close(ctx context.Context) error {
	if o == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil {
		o.srv.Close()
		return err
	}
	return nil
}
