package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// QueryServer serves interactive queries over HTTP (JSON) across the instances of an
// application, as Kafka Streams applications do with application.server: each
// instance runs one, listening on its Config.Endpoint; an instance answers for the
// keys whose tasks it has and forwards a query for any other key to the instance
// Locate names, so any instance answers any query. Routes (GET):
//
//	/stores/{store}/keys/{key}                  {"key": …, "value": …}, 404 if absent
//	/stores/{store}/range[?from=…&to=…]         {"entries": [{"key": …, "value": …}, …]}
//	/stores/{store}/windows/{key}?from=ms&to=ms {"windows": [{"key", "start", "end", "value"}, …]}
//
// A range gathers the entries of every instance (each asked with local=1, which
// answers from that instance only). Errors are {"error": "…"} with 400 (a malformed
// key or bound), 404 (no such store, key or route), 503 (not running yet, or the
// key's task is between instances: retry) or 502 (the owning instance did not
// answer). Keys in paths and bounds are parsed by the store's parse function; values
// are encoded with encoding/json. Register stores (ServeKeyValueStore,
// ServeWindowStore) before serving.
type QueryServer struct {
	a      *App
	stores map[string]*servedStore
	client *http.Client
	mux    *http.ServeMux
}

// servedStore is the typed query functions of one store, closed over its serdes.
type servedStore struct {
	windowed bool
	// locate says where the key (as in a path) lives.
	locate func(ctx context.Context, raw string) (KeyLocation, error)
	// key answers a key query locally: the JSON body, or found false.
	key func(raw string) (body any, found bool, err error)
	// rangeLocal returns this instance's entries with keys in [from, to] (nil: unbounded).
	rangeLocal func(from, to *string) ([]servedEntry, error)
	// windows answers a window query locally.
	windows func(raw string, from, to int64) ([]servedWindow, error)
}

// servedEntry is one key-value entry of a range answer.
type servedEntry struct {
	Key   any `json:"key"`
	Value any `json:"value"`
}

// servedWindow is one window of a window answer.
type servedWindow struct {
	Key   any   `json:"key"`
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Value any   `json:"value"`
}

// errBadRequest marks an error in the request (a malformed key or bound): 400.
var errBadRequest = errors.New("bad request")

// NewQueryServer returns a query server of a; forwarded queries time out after 10 s.
func NewQueryServer(a *App) *QueryServer {
	s := &QueryServer{a: a, stores: map[string]*servedStore{}, client: &http.Client{Timeout: 10 * time.Second}, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /stores/{store}/keys/{key}", s.serveKey)
	s.mux.HandleFunc("GET /stores/{store}/range", s.serveRange)
	s.mux.HandleFunc("GET /stores/{store}/windows/{key}", s.serveWindows)
	return s
}

// ServeKeyValueStore serves the key-value store name (a table, an aggregation, a join
// result, a processor's store); parse turns a key as written in a URL into a key.
func ServeKeyValueStore[K, V any](s *QueryServer, name string, keys Serde[K], values Serde[V], parse func(string) (K, error)) {
	s.stores[name] = &servedStore{
		locate: locator(s.a, keys, parse),
		key: func(raw string) (any, bool, error) {
			k, err := parse(raw)
			if err != nil {
				return nil, false, fmt.Errorf("%w: key %q: %v", errBadRequest, raw, err)
			}
			v, found, err := QueryKey(s.a, name, k, keys, values)
			return servedEntry{Key: k, Value: v}, found, err
		},
		rangeLocal: func(from, to *string) ([]servedEntry, error) {
			var lo, hi *K
			for _, b := range []struct {
				raw *string
				dst **K
			}{{from, &lo}, {to, &hi}} {
				if b.raw != nil {
					k, err := parse(*b.raw)
					if err != nil {
						return nil, fmt.Errorf("%w: bound %q: %v", errBadRequest, *b.raw, err)
					}
					*b.dst = &k
				}
			}
			out := []servedEntry{}
			err := QueryRange(s.a, name, lo, hi, keys, values, func(k K, v V) bool {
				out = append(out, servedEntry{Key: k, Value: v})
				return true
			})
			return out, err
		},
	}
}

// ServeWindowStore serves the windowed aggregation store name (QueryWindows); parse
// turns a key as written in a URL into a key.
func ServeWindowStore[K, V any](s *QueryServer, name string, keys Serde[K], values Serde[V], parse func(string) (K, error)) {
	s.stores[name] = &servedStore{
		windowed: true,
		locate:   locator(s.a, keys, parse),
		windows: func(raw string, from, to int64) ([]servedWindow, error) {
			k, err := parse(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: key %q: %v", errBadRequest, raw, err)
			}
			out := []servedWindow{}
			err = QueryWindows(s.a, name, k, from, to, keys, values, func(w Windowed[K], v V) bool {
				out = append(out, servedWindow{Key: w.Key, Start: w.Start, End: w.End, Value: v})
				return true
			})
			return out, err
		},
	}
}

// locator returns a store's locate function.
func locator[K any](a *App, keys Serde[K], parse func(string) (K, error)) func(context.Context, string) (KeyLocation, error) {
	return func(ctx context.Context, raw string) (KeyLocation, error) {
		k, err := parse(raw)
		if err != nil {
			return KeyLocation{}, fmt.Errorf("%w: key %q: %v", errBadRequest, raw, err)
		}
		return Locate(ctx, a, k, keys)
	}
}

// ServeHTTP answers one query.
func (s *QueryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// store returns the store of the request's path, or answers 404.
func (s *QueryServer) store(w http.ResponseWriter, r *http.Request, windowed bool) *servedStore {
	st := s.stores[r.PathValue("store")]
	switch {
	case st == nil:
		writeError(w, http.StatusNotFound, fmt.Errorf("no store %q is served here", r.PathValue("store")))
		return nil
	case st.windowed != windowed && windowed:
		writeError(w, http.StatusNotFound, fmt.Errorf("store %q is not windowed: query its keys or range", r.PathValue("store")))
		return nil
	case st.windowed != windowed:
		writeError(w, http.StatusNotFound, fmt.Errorf("store %q is windowed: query its windows", r.PathValue("store")))
		return nil
	}
	return st
}

func (s *QueryServer) serveKey(w http.ResponseWriter, r *http.Request) {
	st := s.store(w, r, false)
	if st == nil {
		return
	}
	body, found, err := st.key(r.PathValue("key"))
	if errors.Is(err, ErrNotLocal) {
		s.forward(w, r, st)
		return
	}
	switch {
	case err != nil:
		writeError(w, statusOf(err), err)
	case !found:
		writeError(w, http.StatusNotFound, fmt.Errorf("key %q is not in store %s", r.PathValue("key"), r.PathValue("store")))
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *QueryServer) serveWindows(w http.ResponseWriter, r *http.Request) {
	st := s.store(w, r, true)
	if st == nil {
		return
	}
	bounds := [2]int64{}
	for i, name := range []string{"from", "to"} {
		v, err := strconv.ParseInt(r.URL.Query().Get(name), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter %s: want milliseconds, got %q", name, r.URL.Query().Get(name)))
			return
		}
		bounds[i] = v
	}
	ws, err := st.windows(r.PathValue("key"), bounds[0], bounds[1])
	switch {
	case errors.Is(err, ErrNotLocal):
		s.forward(w, r, st)
	case err != nil:
		writeError(w, statusOf(err), err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"windows": ws})
	}
}

func (s *QueryServer) serveRange(w http.ResponseWriter, r *http.Request) {
	st := s.store(w, r, false)
	if st == nil {
		return
	}
	q := r.URL.Query()
	var from, to *string
	if q.Has("from") {
		from = new(q.Get("from"))
	}
	if q.Has("to") {
		to = new(q.Get("to"))
	}
	entries, err := st.rangeLocal(from, to)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if q.Get("local") != "1" {
		endpoints, err := s.a.memberEndpoints(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		q.Set("local", "1")
		for _, ep := range endpoints {
			if ep == s.a.cfg.Endpoint {
				continue
			}
			var part struct {
				Entries []servedEntry `json:"entries"`
			}
			if err := s.get(r.Context(), ep, r.URL.Path, q, &part); err != nil {
				writeError(w, http.StatusBadGateway, err)
				return
			}
			entries = append(entries, part.Entries...)
		}
		sort.SliceStable(entries, func(i, j int) bool { return fmt.Sprint(entries[i].Key) < fmt.Sprint(entries[j].Key) })
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// forward answers a query for a key whose task is elsewhere by asking the instance
// that has it (local=1, so that a task moving meanwhile cannot bounce it around).
func (s *QueryServer) forward(w http.ResponseWriter, r *http.Request, st *servedStore) {
	q := r.URL.Query()
	if q.Get("local") == "1" {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("key %q: its task is not open here (moving?): retry", r.PathValue("key")))
		return
	}
	loc, err := st.locate(r.Context(), r.PathValue("key"))
	switch {
	case errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil: // the group is rebalancing, or the coordinator is away
		writeError(w, http.StatusServiceUnavailable, err)
		return
	case loc.Endpoint == "" || loc.Endpoint == s.a.cfg.Endpoint:
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("key %q: task %d has no other instance announcing an endpoint (moving?): retry", r.PathValue("key"), loc.Partition))
		return
	}
	q.Set("local", "1")
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, (&url.URL{Scheme: "http", Host: loc.Endpoint, Path: r.URL.Path, RawQuery: q.Encode()}).String(), nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("forwarding to %s: %w", loc.Endpoint, err))
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// get fetches path?q from endpoint into out (a 200 answer's JSON).
func (s *QueryServer) get(ctx context.Context, endpoint, path string, q url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, (&url.URL{Scheme: "http", Host: endpoint, Path: path, RawQuery: q.Encode()}).String(), nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("asking %s: %s: %s", endpoint, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("asking %s: %w", endpoint, err)
	}
	return nil
}

// memberEndpoints returns the endpoints the group's members announce, sorted.
func (a *App) memberEndpoints(ctx context.Context) ([]string, error) {
	groups, err := kadm.NewClient(a.admin).DescribeGroups(ctx, a.cfg.ApplicationID)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("streams: describing group %s: %w", a.cfg.ApplicationID, err)
	}
	var out []string
	for _, m := range groups[a.cfg.ApplicationID].Members {
		if meta, ok := m.Join.AsConsumer(); ok {
			if _, ep, _ := parseMemberUserData(meta.UserData); ep != "" && !slices.Contains(out, ep) {
				out = append(out, ep)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// statusOf is the HTTP status of a query error.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotLocal), errors.Is(err, errNotRunning):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeJSON writes v as the JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes {"error": err}.
func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
