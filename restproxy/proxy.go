package restproxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config says which cluster the proxy serves and how.
type Config struct {
	// Bootstrap lists the broker addresses the proxy's client starts from.
	Bootstrap []string
	// Logger receives the proxy's warnings; nil discards them.
	Logger *slog.Logger
	// MaxRecordBytes caps one record's JSON in a produce request (default 8 MiB): a larger
	// one is answered 413 and ends the request.
	MaxRecordBytes int64
	// Timeout bounds each Kafka call the proxy makes (default 30 s).
	Timeout time.Duration
	// ReadOnly refuses every request that would change the cluster (creating, deleting or
	// configuring topics, producing, committing offsets) with 403; reading, including
	// through v2 consumer instances that commit nothing, still works. Every answer says so
	// in the X-Logd-Read-Only header.
	ReadOnly bool
	// Mechanism, when set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), makes the proxy act as
	// its HTTP users: every request needs HTTP Basic credentials (401 without them), which
	// the proxy passes to the broker by this SASL mechanism from a client of that user's own,
	// so the broker authenticates the user (401 when it refuses) and its ACLs apply (403,
	// 40301). "": the proxy is one client acting as itself.
	Mechanism string
	// TLS, when set, dials the broker over TLS with it (verify against the broker's
	// truststore; ServerName is the name the broker's certificate is for).
	TLS *tls.Config
	// MaxUsers bounds how many users have a client at once (default 100).
	MaxUsers int
	// UserIdle closes a user's client unused for this long (default 5 minutes).
	UserIdle time.Duration
}

// Proxy serves the REST API. It is safe for concurrent use; Close releases its client.
type Proxy struct {
	cfg   Config
	own   *session // the proxy's own client; nil when it acts as its users (Config.Mechanism)
	users sessions // the users' clients, with Config.Mechanism
	mux   *http.ServeMux

	mu        sync.Mutex
	clusterID string // learned from the first metadata answer, then fixed

	consumers consumers // the v2 consumer instances
}

// New returns a proxy for the cluster at cfg.Bootstrap. It does not dial until the first
// request.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("restproxy: no bootstrap address")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = 8 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = 100
	}
	if cfg.UserIdle <= 0 {
		cfg.UserIdle = 5 * time.Minute
	}
	if err := checkMechanism(cfg.Mechanism); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, mux: http.NewServeMux()}
	if cfg.Mechanism == "" {
		own, err := p.newSession("")
		if err != nil {
			return nil, err
		}
		p.own = own
	} else {
		p.users = sessions{byUser: map[string]*session{}, stop: make(chan struct{})}
		go p.sweepUsers()
	}
	p.routes()
	p.v2Routes()
	return p, nil
}

// Close closes the v2 consumer instances and the proxy's Kafka client; requests after it fail.
func (p *Proxy) Close() {
	p.closeConsumers()
	if p.own != nil {
		p.own.cl.Close()
	} else {
		p.closeUsers()
	}
}

// Handler returns the API's handler; it serves paths under /v3/ and the v2 consumer
// instances under /consumers/.
func (p *Proxy) Handler() http.Handler {
	var h http.Handler = p.mux
	if p.cfg.Mechanism != "" {
		h = p.authenticate(h)
	}
	if !p.cfg.ReadOnly {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Logd-Read-Only", "true")
		if changes(r) {
			writeJSON(w, http.StatusForbidden, errorBody{ErrorCode: codeKafkaAuthorization,
				Message: "this REST proxy is read-only (logd.http.read.only=true): it does not " + r.Method + " " + r.URL.Path})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// changes reports whether a request would change the cluster: anything but a read, except
// the v2 consumer instances' own bookkeeping (they read; only their commits write).
func changes(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/consumers/") {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/offsets")
	}
	return true
}

// routes registers every endpoint.
func (p *Proxy) routes() {
	const c = "/v3/clusters/{cluster_id}"
	h := map[string]func(w http.ResponseWriter, r *http.Request, cid string) error{
		"GET " + c:                            p.getCluster,
		"GET " + c + "/acls":                  p.listACLs,
		"POST " + c + "/acls":                 p.createACL,
		"DELETE " + c + "/acls":               p.deleteACLs,
		"GET " + c + "/scram-users":           p.listScramUsers,
		"POST " + c + "/scram-users":          p.setScramUser,
		"DELETE " + c + "/scram-users/{user}": p.deleteScramUser,
		"GET " + c + "/topics/{topic}/partitions/{partition}/offsets":               p.offsetForTime,
		"POST " + c + "/consumer-groups/{group}/offsets:reset":                      p.resetOffsets,
		"GET " + c + "/transactions":                                                p.listTransactions,
		"GET " + c + "/share-groups":                                                p.listShareGroups,
		"GET " + c + "/share-groups/{group}":                                        p.getShareGroup,
		"GET " + c + "/brokers":                                                     p.listBrokers,
		"GET " + c + "/brokers/{broker_id}":                                         p.getBroker,
		"GET " + c + "/topics":                                                      p.listTopics,
		"POST " + c + "/topics":                                                     p.createTopic,
		"GET " + c + "/topics/{topic}":                                              p.getTopic,
		"DELETE " + c + "/topics/{topic}":                                           p.deleteTopic,
		"GET " + c + "/topics/{topic}/partitions":                                   p.listPartitions,
		"GET " + c + "/topics/{topic}/partitions/{partition}":                       p.getPartition,
		"GET " + c + "/topics/{topic}/configs":                                      p.listTopicConfigs,
		"POST " + c + "/topics/{topic}/configs:alter":                               p.alterTopicConfigs,
		"GET " + c + "/topics/{topic}/configs/{name}":                               p.getTopicConfig,
		"PUT " + c + "/topics/{topic}/configs/{name}":                               p.setTopicConfig,
		"DELETE " + c + "/topics/{topic}/configs/{name}":                            p.resetTopicConfig,
		"POST " + c + "/topics/{topic}/records":                                     p.produce,
		"GET " + c + "/consumer-groups":                                             p.listGroups,
		"GET " + c + "/consumer-groups/{group}":                                     p.getGroup,
		"GET " + c + "/consumer-groups/{group}/consumers":                           p.listConsumers,
		"GET " + c + "/consumer-groups/{group}/consumers/{consumer}":                p.getConsumer,
		"GET " + c + "/consumer-groups/{group}/lags":                                p.listLags,
		"GET " + c + "/consumer-groups/{group}/lags/{topic}/partitions/{partition}": p.getLag,
		"GET " + c + "/consumer-groups/{group}/lag-summary":                         p.getLagSummary,
	}
	for pattern, fn := range h {
		p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
			defer cancel()
			r = r.WithContext(ctx)
			cid, err := p.cluster(r)
			if err == nil {
				err = fn(w, r, cid)
			}
			if err != nil {
				p.writeError(w, err)
			}
		})
	}
	p.mux.HandleFunc("GET /v3/clusters", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
		defer cancel()
		if err := p.listClusters(w, r.WithContext(ctx)); err != nil {
			p.writeError(w, err)
		}
	})
	p.mux.HandleFunc("/v3/", func(w http.ResponseWriter, r *http.Request) {
		p.writeError(w, &apiError{status: http.StatusNotFound, code: http.StatusNotFound, msg: "HTTP 404 Not Found"})
	})
}

// cluster checks the request's cluster id against the cluster's.
func (p *Proxy) cluster(r *http.Request) (string, error) {
	id, err := p.id(r.Context())
	if err != nil {
		return "", err
	}
	if want := r.PathValue("cluster_id"); want != id {
		return "", &apiError{status: http.StatusNotFound, code: http.StatusNotFound, msg: fmt.Sprintf("Cluster %s cannot be found.", want)}
	}
	return id, nil
}

// id returns the cluster's id, asking the cluster the first time.
func (p *Proxy) id(ctx context.Context) (string, error) {
	p.mu.Lock()
	id := p.clusterID
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	m, err := p.metadata(ctx, []string{})
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.clusterID = m.Cluster
	p.mu.Unlock()
	return m.Cluster, nil
}

// base returns the scheme and host the client used, for the self links.
func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// links builds the self links and resource names of one request's answer.
type links struct {
	base, cid string
}

func newLinks(r *http.Request, cid string) links { return links{base: base(r), cid: cid} }

// url is the absolute URL of the path below the cluster ("" for the cluster itself).
func (l links) url(path ...string) string {
	return l.base + "/v3/clusters/" + l.cid + strings.Join(append([]string{""}, path...), "/")
}

// crn is the resource name of the parts below the cluster, as "kind=name" pairs.
func (l links) crn(parts ...string) string {
	return "crn:///kafka=" + l.cid + strings.Join(append([]string{""}, parts...), "/")
}

func rel(u string) relationship { return relationship{Related: u} }

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
