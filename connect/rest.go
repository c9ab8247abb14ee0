package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRequestBody bounds a REST request body (connector configs are small).
const maxRequestBody = 4 << 20

// API is what the REST API serves: a standalone Herder or a Distributed worker.
type API interface {
	ClusterID() string
	WorkerID() string
	Connectors() []string
	Info(name string) (*ConnectorInfo, error)
	Config(name string) (map[string]string, error)
	Tasks(name string) ([]TaskInfo, error)
	Status(name string) (*ConnectorStatus, error)
	TaskStatus(name string, task int) (*TaskStatus, error)
	Topics(name string) ([]string, error)
	ResetTopics(name string) error
	PutConfig(name string, config map[string]string, allowReplace bool, initial TargetState) (*ConnectorInfo, bool, error)
	PatchConfig(name string, patch map[string]*string) (*ConnectorInfo, error)
	Delete(name string) error
	SetTarget(name string, target TargetState) error
	RestartConnector(name string) error
	Restart(name string, includeTasks, onlyFailed bool) (*ConnectorStatus, error)
	RestartTask(name string, task int) error
	Offsets(ctx context.Context, name string) (*ConnectorOffsets, error)
	AlterOffsets(ctx context.Context, name string, offsets []ConnectorOffset) (*Message, error)
	ResetOffsets(ctx context.Context, name string) (*Message, error)
	// PutTaskConfigs writes task configurations a connector recomputed (distributed leader).
	PutTaskConfigs(name string, configs []map[string]string) error
	// FenceZombies fences every task generation of a source connector with exactly-once
	// support (distributed leader; Java's internal PUT /connectors/{name}/fence); preflight:
	// a worker's round before it starts a task (Java's conditional round only).
	FenceZombies(ctx context.Context, name string, preflight bool) error
	Validate(class string, config map[string]string) (*ConfigInfos, error)
	// MetricsHandler serves the worker's Prometheus metrics.
	MetricsHandler() http.Handler
}

// forwarder is implemented by an API that sends some requests to another worker (the
// distributed leader, or the worker running a connector): ForwardTarget returns that worker's
// base URL, "" to serve the request here, or an error to answer with.
type forwarder interface {
	ForwardTarget(req *http.Request) (string, error)
}

// RESTHandler serves Kafka Connect's REST API over h: the same paths, status codes and JSON
// bodies as Java's ConnectorsResource, ConnectorPluginsResource and RootResource, errors as
// {"error_code":code,"message":text}. GET /metrics serves the worker's Prometheus metrics.
func RESTHandler(h API) http.Handler {
	mux := http.NewServeMux()
	r := &rest{h: h}
	mux.HandleFunc("GET /{$}", r.root)
	mux.HandleFunc("GET /connectors", r.list)
	mux.HandleFunc("POST /connectors", r.create)
	mux.HandleFunc("GET /connectors/{name}", r.info)
	mux.HandleFunc("DELETE /connectors/{name}", r.delete)
	mux.HandleFunc("GET /connectors/{name}/config", r.config)
	mux.HandleFunc("PUT /connectors/{name}/config", r.putConfig)
	mux.HandleFunc("PATCH /connectors/{name}/config", r.patchConfig)
	mux.HandleFunc("GET /connectors/{name}/status", r.status)
	mux.HandleFunc("GET /connectors/{name}/tasks", r.tasks)
	mux.HandleFunc("POST /connectors/{name}/tasks", r.putTasks)
	mux.HandleFunc("PUT /connectors/{name}/fence", r.fence)
	mux.HandleFunc("GET /connectors/{name}/tasks/{task}/status", r.taskStatus)
	mux.HandleFunc("POST /connectors/{name}/tasks/{task}/restart", r.restartTask)
	mux.HandleFunc("POST /connectors/{name}/restart", r.restart)
	mux.HandleFunc("PUT /connectors/{name}/pause", r.target(TargetPaused, http.StatusAccepted))
	mux.HandleFunc("PUT /connectors/{name}/resume", r.target(TargetStarted, http.StatusAccepted))
	mux.HandleFunc("PUT /connectors/{name}/stop", r.target(TargetStopped, http.StatusNoContent))
	mux.HandleFunc("GET /connectors/{name}/topics", r.topics)
	mux.HandleFunc("PUT /connectors/{name}/topics/reset", r.resetTopics)
	mux.HandleFunc("GET /connectors/{name}/offsets", r.offsets)
	mux.HandleFunc("PATCH /connectors/{name}/offsets", r.alterOffsets)
	mux.HandleFunc("DELETE /connectors/{name}/offsets", r.resetOffsets)
	mux.HandleFunc("GET /connector-plugins", r.plugins)
	mux.HandleFunc("PUT /connector-plugins/{class}/config/validate", r.validate)
	mux.Handle("GET /metrics", h.MetricsHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, &RestError{Code: http.StatusNotFound, Message: "HTTP 404 Not Found"})
	})
	f, ok := h.(forwarder)
	if !ok {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		target, err := f.ForwardTarget(req)
		if err != nil {
			writeError(w, err)
			return
		}
		if target == "" {
			mux.ServeHTTP(w, req)
			return
		}
		forward(w, req, target)
	})
}

// forwardClient sends requests on to other workers.
var forwardClient = &http.Client{Timeout: 90 * time.Second}

// forward replays req on the worker at base and copies its answer back.
func forward(w http.ResponseWriter, req *http.Request, base string) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		writeError(w, badRequest("reading the request body: too large or unreadable"))
		return
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, base+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, err)
		return
	}
	out.Header.Set("Content-Type", "application/json")
	out.Header.Set(forwardedHeader, "1")
	resp, err := forwardClient.Do(out)
	if err != nil {
		writeError(w, fmt.Errorf("forwarding the request to %s: %w", base, err))
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, 64<<20))
}

type rest struct{ h API }

// writeJSON writes body as Jackson would (no HTML escaping).
func writeJSON(w http.ResponseWriter, code int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		writeError(w, fmt.Errorf("encoding the response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// writeError writes err as Kafka Connect's ErrorMessage; errors other than *RestError are 500.
func writeError(w http.ResponseWriter, err error) {
	var re *RestError
	if !errors.As(err, &re) {
		re = &RestError{Code: http.StatusInternalServerError, Message: err.Error()}
	}
	writeJSON(w, re.Code, struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{re.Code, re.Message})
}

// readBody decodes a JSON request body into dst.
func readBody(req *http.Request, dst any) error {
	b, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody+1))
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if len(b) > maxRequestBody {
		return &RestError{Code: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", maxRequestBody)}
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return badRequest("Cannot deserialize the request body: %v", err)
	}
	return nil
}

func (r *rest) root(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, struct {
		Version   string `json:"version"`
		Commit    string `json:"commit"`
		ClusterID string `json:"kafka_cluster_id"`
	}{Version, "logd", r.h.ClusterID()})
}

func (r *rest) list(w http.ResponseWriter, req *http.Request) {
	expand := req.URL.Query()["expand"]
	names := r.h.Connectors()
	if len(expand) == 0 {
		writeJSON(w, 200, names)
		return
	}
	out := make(map[string]map[string]any, len(names))
	for _, n := range names {
		entry := make(map[string]any)
		for _, e := range expand {
			switch e {
			case "status":
				if st, err := r.h.Status(n); err == nil {
					entry["status"] = st
				}
			case "info":
				if info, err := r.h.Info(n); err == nil {
					entry["info"] = info
				}
			}
		}
		out[n] = entry
	}
	writeJSON(w, 200, out)
}

func (r *rest) create(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Name         *string           `json:"name"`
		Config       map[string]string `json:"config"`
		InitialState string            `json:"initial_state"`
	}
	if err := readBody(req, &body); err != nil {
		writeError(w, err)
		return
	}
	name := ""
	if body.Name != nil {
		name = strings.TrimSpace(*body.Name)
	}
	if body.Config == nil {
		body.Config = map[string]string{}
	}
	var initial TargetState
	switch strings.ToUpper(body.InitialState) {
	case "", "RUNNING":
	case "PAUSED":
		initial = TargetPaused
	case "STOPPED":
		initial = TargetStopped
	default:
		writeError(w, badRequest("Invalid initial state %s: must be one of RUNNING, PAUSED, STOPPED", body.InitialState))
		return
	}
	info, _, err := r.h.PutConfig(name, body.Config, false, initial)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/connectors/"+name)
	writeJSON(w, http.StatusCreated, info)
}

func (r *rest) info(w http.ResponseWriter, req *http.Request) {
	info, err := r.h.Info(req.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, info)
}

func (r *rest) delete(w http.ResponseWriter, req *http.Request) {
	if err := r.h.Delete(req.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *rest) config(w http.ResponseWriter, req *http.Request) {
	c, err := r.h.Config(req.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, c)
}

func (r *rest) putConfig(w http.ResponseWriter, req *http.Request) {
	var config map[string]string
	if err := readBody(req, &config); err != nil {
		writeError(w, err)
		return
	}
	if config == nil {
		config = map[string]string{}
	}
	name := req.PathValue("name")
	info, created, err := r.h.PutConfig(name, config, true, "")
	if err != nil {
		writeError(w, err)
		return
	}
	if created {
		w.Header().Set("Location", "/connectors/"+name)
		writeJSON(w, http.StatusCreated, info)
		return
	}
	writeJSON(w, 200, info)
}

func (r *rest) patchConfig(w http.ResponseWriter, req *http.Request) {
	var patch map[string]*string
	if err := readBody(req, &patch); err != nil {
		writeError(w, err)
		return
	}
	info, err := r.h.PatchConfig(req.PathValue("name"), patch)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, info)
}

func (r *rest) status(w http.ResponseWriter, req *http.Request) {
	st, err := r.h.Status(req.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, st)
}

func (r *rest) tasks(w http.ResponseWriter, req *http.Request) {
	ts, err := r.h.Tasks(req.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, ts)
}

// putTasks is Java's internal POST /connectors/{name}/tasks: the worker running a connector
// sends the leader the task configurations the connector recomputed.
func (r *rest) putTasks(w http.ResponseWriter, req *http.Request) {
	var configs []map[string]string
	if err := readBody(req, &configs); err != nil {
		writeError(w, err)
		return
	}
	if err := r.h.PutTaskConfigs(req.PathValue("name"), configs); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fence is Java's internal PUT /connectors/{name}/fence: the leader fences the connector's
// source tasks' transactional producers.
func (r *rest) fence(w http.ResponseWriter, req *http.Request) {
	if err := r.h.FenceZombies(req.Context(), req.PathValue("name"), req.Header.Get(preflightHeader) != ""); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// taskID parses the {task} path element as Jersey does (a non-integer is a 404).
func taskID(req *http.Request) (int, error) {
	n, err := strconv.Atoi(req.PathValue("task"))
	if err != nil {
		return 0, &RestError{Code: http.StatusNotFound, Message: "HTTP 404 Not Found"}
	}
	return n, nil
}

func (r *rest) taskStatus(w http.ResponseWriter, req *http.Request) {
	id, err := taskID(req)
	if err == nil {
		var st *TaskStatus
		if st, err = r.h.TaskStatus(req.PathValue("name"), id); err == nil {
			writeJSON(w, 200, st)
			return
		}
	}
	writeError(w, err)
}

func (r *rest) restartTask(w http.ResponseWriter, req *http.Request) {
	id, err := taskID(req)
	if err == nil {
		err = r.h.RestartTask(req.PathValue("name"), id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// queryBool reads a boolean query parameter as Jersey does (absent: false).
func queryBool(req *http.Request, name string) (bool, error) {
	v := req.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &RestError{Code: http.StatusNotFound, Message: "HTTP 404 Not Found"}
	}
	return b, nil
}

func (r *rest) restart(w http.ResponseWriter, req *http.Request) {
	includeTasks, err := queryBool(req, "includeTasks")
	if err != nil {
		writeError(w, err)
		return
	}
	onlyFailed, err := queryBool(req, "onlyFailed")
	if err != nil {
		writeError(w, err)
		return
	}
	name := req.PathValue("name")
	if !includeTasks && !onlyFailed {
		if err := r.h.RestartConnector(name); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	st, err := r.h.Restart(name, includeTasks, onlyFailed)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

func (r *rest) target(t TargetState, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if err := r.h.SetTarget(req.PathValue("name"), t); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(code)
	}
}

func (r *rest) topics(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	ts, err := r.h.Topics(name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{name: map[string][]string{"topics": ts}})
}

func (r *rest) resetTopics(w http.ResponseWriter, req *http.Request) {
	if err := r.h.ResetTopics(req.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (r *rest) offsets(w http.ResponseWriter, req *http.Request) {
	o, err := r.h.Offsets(req.Context(), req.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, o)
}

func (r *rest) alterOffsets(w http.ResponseWriter, req *http.Request) {
	b, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody+1))
	if err != nil || len(b) > maxRequestBody {
		writeError(w, badRequest("reading the request body: too large or unreadable"))
		return
	}
	// The runtime's own parser keeps integers int64, as Java's offsets are Longs.
	var offsets []ConnectorOffset
	n, err := parseJSON(b)
	if err == nil {
		offsets, err = connectorOffsetsOf(n)
	}
	if err != nil {
		writeError(w, badRequest("Cannot deserialize the request body: %v", err))
		return
	}
	m, err := r.h.AlterOffsets(req.Context(), req.PathValue("name"), offsets)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, m)
}

// connectorOffsetsOf reads {"offsets":[{"partition":{…},"offset":{…}|null}]}.
func connectorOffsetsOf(n *jnode) ([]ConnectorOffset, error) {
	list := n.get("offsets")
	if n.kind != '{' || (list != nil && list.kind != '[' && list.kind != 'n') {
		return nil, errors.New(`expected {"offsets":[...]}`)
	}
	if list == nil {
		return nil, nil
	}
	var out []ConnectorOffset
	for _, e := range list.arr {
		var o ConnectorOffset
		for _, f := range []struct {
			key string
			dst *map[string]any
		}{{"partition", &o.Partition}, {"offset", &o.Offset}} {
			x := e.get(f.key)
			if x == nil || x.kind == 'n' {
				continue
			}
			v, err := schemalessValue(x)
			if err != nil {
				return nil, err
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s must be a JSON object", f.key)
			}
			*f.dst = m
		}
		out = append(out, o)
	}
	return out, nil
}

func (r *rest) resetOffsets(w http.ResponseWriter, req *http.Request) {
	m, err := r.h.ResetOffsets(req.Context(), req.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, m)
}

// PluginInfo is one element of GET /connector-plugins.
type PluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

func (r *rest) plugins(w http.ResponseWriter, req *http.Request) {
	out := []PluginInfo{}
	for _, p := range Plugins() {
		out = append(out, PluginInfo{Class: p.Class, Type: string(p.Kind), Version: p.Version})
	}
	if req.URL.Query().Get("connectorsOnly") == "false" {
		for _, c := range TransformClasses() {
			out = append(out, PluginInfo{Class: c, Type: "transformation", Version: Version})
		}
		for _, c := range PredicateClasses() {
			out = append(out, PluginInfo{Class: c, Type: "predicate", Version: Version})
		}
		for _, c := range []string{BytesConverterClass, JSONConverterClass, StringConverterClass} {
			out = append(out, PluginInfo{Class: c, Type: "converter", Version: Version})
		}
	}
	writeJSON(w, 200, out)
}

func (r *rest) validate(w http.ResponseWriter, req *http.Request) {
	var config map[string]string
	if err := readBody(req, &config); err != nil {
		writeError(w, err)
		return
	}
	class := req.PathValue("class")
	if inc, ok := config["connector.class"]; ok && !strings.HasSuffix(normalizePlugin(inc), normalizePlugin(class)) {
		writeError(w, badRequest("Included connector type %s does not match request type %s", inc, class))
		return
	}
	if config == nil {
		config = map[string]string{}
	}
	if _, ok := config["connector.class"]; !ok {
		config["connector.class"] = class
	}
	res, err := r.h.Validate(config["connector.class"], config)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, res)
}

// normalizePlugin drops the "Connector" suffix, as Java's normalizedPluginName does.
func normalizePlugin(name string) string {
	return strings.TrimSuffix(name, "Connector")
}
