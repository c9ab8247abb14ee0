package connect

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Version is the Kafka Connect release whose REST API and record formats this runtime
// implements; GET / reports it.
const Version = "4.3.1"

// Herder runs connectors and their tasks on this worker and answers the REST API (Kafka
// Connect's StandaloneHerder: connector configs live in memory and come from the command line
// or POST /connectors; source offsets live in offset.storage.file.filename).
//
// Locks: opMu serializes every change to the set of connectors and their target states and is
// held while tasks are started and stopped; mu guards the connectors map and every
// connectorState field and is never held while calling into a connector or task. opMu before
// mu; task goroutines take only mu.
type Herder struct {
	cfg       *WorkerConfig
	workerID  string
	clusterID string
	log       *slog.Logger
	offsets   offsetStore
	producer  *kgo.Client // shared by the source tasks: idempotent, acks=all
	admin     *kadm.Client
	metrics   *Metrics

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // connector reconfigurations in flight

	// publishTasks, set in distributed mode before any connector starts, hands task
	// configurations a running connector recomputed (RequestTaskReconfiguration) to the
	// leader, which writes them to the config topic; nil in standalone mode.
	publishTasks func(name string, configs []map[string]string) error
	// fenceBeforeStart, set in distributed mode, has the leader run the connector's round of
	// zombie fencing (exactly-once sources) before a source task starts; nil in standalone mode.
	fenceBeforeStart func(ctx context.Context, name string) error

	opMu       sync.Mutex
	mu         sync.Mutex
	connectors map[string]*connectorState // guarded by mu
}

// connectorState is one connector on this worker. Every field is guarded by Herder.mu.
type connectorState struct {
	name        string
	config      map[string]string
	plugin      *Plugin
	target      TargetState
	inst        Connector // nil while not started
	status      Status
	taskConfigs []map[string]string
	tasks       []*taskRun // index: task id; nil: not running
	taskStatus  []Status
	topics      map[string]bool // active topics (GET /connectors/{name}/topics)
	// assigned is what of the connector runs here in distributed mode (nil: all of it, as in
	// standalone mode); its task configurations then come from the config topic.
	assigned *localAssignment
}

// localAssignment is the part of a connector a distributed worker was assigned.
type localAssignment struct {
	connector bool
	tasks     map[int]bool
}

func (cs *connectorState) runsConnector() bool { return cs.assigned == nil || cs.assigned.connector }
func (cs *connectorState) runsTask(i int) bool { return cs.assigned == nil || cs.assigned.tasks[i] }

// taskRun is one running task: its goroutine stops when cancel is called and closes done.
type taskRun struct {
	id     TaskID
	cancel context.CancelFunc
	done   chan struct{}
}

// NewHerder connects to the cluster in cfg and opens the offset store. metrics may be nil.
func NewHerder(ctx context.Context, cfg *WorkerConfig, log *slog.Logger, metrics *Metrics) (*Herder, error) {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	offsets, err := openFileOffsets(cfg.OffsetFile)
	if err != nil {
		return nil, err
	}
	return newHerder(ctx, cfg, log, metrics, offsets)
}

// newHerder builds a herder over an offset store.
func newHerder(ctx context.Context, cfg *WorkerConfig, log *slog.Logger, metrics *Metrics, offsets offsetStore) (*Herder, error) {
	producer, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(sourcePartitioner{kgo.StickyKeyPartitioner(nil)}), kgo.ProducerLinger(5*time.Millisecond),
		kgo.AllowAutoTopicCreation())
	if err != nil {
		return nil, err
	}
	admin := kadm.NewClient(producer)
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	meta, err := admin.BrokerMetadata(mctx)
	if err != nil {
		producer.Close()
		return nil, fmt.Errorf("reading the cluster id from %s: %w", strings.Join(cfg.Bootstrap, ","), err)
	}
	h := &Herder{
		cfg:        cfg,
		workerID:   cfg.WorkerID(),
		clusterID:  meta.Cluster,
		log:        log,
		offsets:    offsets,
		producer:   producer,
		admin:      admin,
		metrics:    metrics,
		connectors: make(map[string]*connectorState),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// Close stops every connector and task and the clients.
func (h *Herder) Close() {
	h.cancel()
	h.wg.Wait()
	h.opMu.Lock()
	h.mu.Lock()
	names := slices.Collect(maps.Keys(h.connectors))
	h.mu.Unlock()
	for _, n := range names {
		h.stopConnectorLocked(n, StateUnassigned)
	}
	h.opMu.Unlock()
	h.producer.Close()
}

// MetricsHandler serves the worker's Prometheus metrics.
func (h *Herder) MetricsHandler() http.Handler { return h.metrics.Handler() }

// ClusterID is the Kafka cluster's id.
func (h *Herder) ClusterID() string { return h.clusterID }

// WorkerID is this worker's id (its advertised REST host:port).
func (h *Herder) WorkerID() string { return h.workerID }

// Connectors returns the connectors' names, sorted.
func (h *Herder) Connectors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := slices.Sorted(maps.Keys(h.connectors))
	if names == nil {
		names = []string{}
	}
	return names
}

// ConnectorInfo is GET /connectors/{name}'s body.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   Kind              `json:"type"`
}

// Info returns a connector's config, tasks and type.
func (h *Herder) Info(name string) (*ConnectorInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return nil, notFound("Connector %s not found", name)
	}
	return cs.infoLocked(), nil
}

// REQUIRES: Herder.mu held.
func (cs *connectorState) infoLocked() *ConnectorInfo {
	info := &ConnectorInfo{Name: cs.name, Config: maps.Clone(cs.config), Tasks: []TaskID{}, Type: cs.plugin.Kind}
	for i := range cs.taskConfigs {
		info.Tasks = append(info.Tasks, TaskID{cs.name, i})
	}
	return info
}

// Config returns a connector's configuration.
func (h *Herder) Config(name string) (map[string]string, error) {
	info, err := h.Info(name)
	if err != nil {
		return nil, err
	}
	return info.Config, nil
}

// TaskInfo is one element of GET /connectors/{name}/tasks.
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// Tasks returns a connector's task configurations.
func (h *Herder) Tasks(name string) ([]TaskInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return nil, notFound("Connector %s not found", name)
	}
	out := []TaskInfo{}
	for i, c := range cs.taskConfigs {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: maps.Clone(c)})
	}
	return out, nil
}

// ConnectorStatus is GET /connectors/{name}/status's body (Java's ConnectorStateInfo).
type ConnectorStatus struct {
	Name      string       `json:"name"`
	Connector StateInfo    `json:"connector"`
	Tasks     []TaskStatus `json:"tasks"`
	Type      Kind         `json:"type"`
}

// StateInfo is a connector's state, worker and failure trace.
type StateInfo struct {
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
	Version  string `json:"version,omitempty"` // the plugin's version (Kafka Connect 4.x reports it)
}

// TaskStatus is one task's state (GET /connectors/{name}/tasks/{id}/status).
type TaskStatus struct {
	ID       int    `json:"id"`
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
	Version  string `json:"version,omitempty"` // the plugin's version (Kafka Connect 4.x reports it)
}

// Status returns a connector's and its tasks' states.
func (h *Herder) Status(name string) (*ConnectorStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return nil, notFound("No status found for connector %s", name)
	}
	return cs.statusLocked(), nil
}

// REQUIRES: Herder.mu held.
func (cs *connectorState) statusLocked() *ConnectorStatus {
	st := &ConnectorStatus{
		Name:      cs.name,
		Connector: StateInfo{State: cs.status.State, WorkerID: cs.status.WorkerID, Trace: cs.status.Trace, Version: cs.plugin.Version},
		Tasks:     []TaskStatus{},
		Type:      cs.plugin.Kind,
	}
	for i, ts := range cs.taskStatus {
		st.Tasks = append(st.Tasks, TaskStatus{ID: i, State: ts.State, WorkerID: ts.WorkerID, Trace: ts.Trace, Version: cs.plugin.Version})
	}
	return st
}

// TaskStatus returns one task's state.
func (h *Herder) TaskStatus(name string, task int) (*TaskStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok || task < 0 || task >= len(cs.taskStatus) {
		return nil, notFound("No status found for task %s-%d", name, task)
	}
	ts := cs.taskStatus[task]
	return &TaskStatus{ID: task, State: ts.State, WorkerID: ts.WorkerID, Trace: ts.Trace, Version: cs.plugin.Version}, nil
}

// Topics returns the topics a connector has used since it was created or its topics reset.
func (h *Herder) Topics(name string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return nil, notFound("Connector %s not found", name)
	}
	ts := slices.Sorted(maps.Keys(cs.topics))
	if ts == nil {
		ts = []string{}
	}
	return ts, nil
}

// ResetTopics forgets a connector's active topics.
func (h *Herder) ResetTopics(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return notFound("Connector %s not found", name)
	}
	cs.topics = make(map[string]bool)
	return nil
}

// noteTopic records that a connector used topic.
func (h *Herder) noteTopic(name, topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs, ok := h.connectors[name]; ok && !cs.topics[topic] {
		cs.topics[topic] = true
	}
}

// PutConfig creates the connector (created true) or replaces its configuration and restarts
// it. initial is the target state of a new connector ("" means started).
func (h *Herder) PutConfig(name string, config map[string]string, allowReplace bool, initial TargetState) (info *ConnectorInfo, created bool, err error) {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, false, badRequest("Connector name must not be empty or contain control characters")
	}
	config = maps.Clone(config)
	if got, ok := config["name"]; ok && got != name {
		return nil, false, badRequest("Connector name configuration (%s) doesn't match connector name in the URL (%s)", got, name)
	}
	config["name"] = name
	plugin, err := h.validateForPut(config)
	if err != nil {
		return nil, false, err
	}
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	cs, exists := h.connectors[name]
	h.mu.Unlock()
	if exists && !allowReplace {
		return nil, false, conflict("Connector %s already exists", name)
	}
	target := initial
	if target == "" {
		target = TargetStarted
	}
	if exists {
		h.mu.Lock()
		target = cs.target
		h.mu.Unlock()
		h.stopConnectorLocked(name, StateUnassigned)
	}
	cs = &connectorState{name: name, config: config, plugin: plugin, target: target, topics: make(map[string]bool),
		status: Status{State: StateUnassigned, WorkerID: h.workerID}}
	if exists {
		h.mu.Lock()
		cs.topics = h.connectors[name].topics
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.connectors[name] = cs
	h.mu.Unlock()
	h.startConnectorLocked(cs)
	h.mu.Lock()
	defer h.mu.Unlock()
	return cs.infoLocked(), !exists, nil
}

// PatchConfig merges patch into a connector's configuration (a null value removes a key).
func (h *Herder) PatchConfig(name string, patch map[string]*string) (*ConnectorInfo, error) {
	cur, err := h.Config(name)
	if err != nil {
		return nil, err
	}
	for k, v := range patch {
		if v == nil {
			delete(cur, k)
		} else {
			cur[k] = *v
		}
	}
	info, _, err := h.PutConfig(name, cur, true, "")
	return info, err
}

// validateForPut checks a connector config as Java's herder does before accepting it.
func (h *Herder) validateForPut(config map[string]string) (*Plugin, error) {
	class := config["connector.class"]
	if class == "" {
		return nil, badRequest("Connector config %s contains no connector type", javaMap(config))
	}
	res, err := h.Validate(class, config)
	if err != nil {
		return nil, err
	}
	if res.ErrorCount > 0 {
		var msgs []string
		for _, c := range res.Configs {
			msgs = append(msgs, c.Value.Errors...)
		}
		return nil, badRequest("Connector configuration is invalid and contains the following %d error(s):\n%s\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`",
			res.ErrorCount, strings.Join(msgs, "\n"))
	}
	p, _ := Lookup(class)
	return p, nil
}

// javaMap renders a map as Java's AbstractMap.toString does ({k=v, k2=v2}), keys sorted.
func javaMap(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Delete stops and removes a connector (its offsets stay, as Java's do).
func (h *Herder) Delete(name string) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	_, ok := h.connectors[name]
	h.mu.Unlock()
	if !ok {
		return notFound("Connector %s not found", name)
	}
	h.stopConnectorLocked(name, StateUnassigned)
	h.mu.Lock()
	delete(h.connectors, name)
	h.mu.Unlock()
	h.metrics.forget(name)
	return nil
}

// SetTarget pauses, resumes or stops a connector.
func (h *Herder) SetTarget(name string, target TargetState) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	cs, ok := h.connectors[name]
	if !ok {
		h.mu.Unlock()
		return notFound("Connector %s not found", name)
	}
	prev := cs.target
	cs.target = target
	h.mu.Unlock()
	if prev == target {
		return nil
	}
	switch target {
	case TargetPaused:
		h.stopTasksLocked(cs, StatePaused)
		h.mu.Lock()
		if cs.inst != nil {
			cs.status.State = StatePaused
		}
		h.mu.Unlock()
		if prev == TargetStopped {
			h.startConnectorLocked(cs)
		}
	case TargetStopped:
		h.stopConnectorLocked(name, StateStopped)
		h.mu.Lock()
		cs.taskConfigs, cs.tasks, cs.taskStatus = nil, nil, nil
		h.mu.Unlock()
	case TargetStarted:
		if prev == TargetStopped {
			h.startConnectorLocked(cs)
		} else {
			h.mu.Lock()
			if cs.inst != nil {
				cs.status.State = StateRunning
			}
			h.mu.Unlock()
			h.startTasksLocked(cs)
		}
	}
	return nil
}

// RestartConnector restarts a connector instance (POST /connectors/{name}/restart without
// parameters).
func (h *Herder) RestartConnector(name string) error {
	_, err := h.Restart(name, false, false)
	return err
}

// Restart restarts a connector and, with includeTasks, its tasks; onlyFailed restricts it
// to the failed ones. It returns the status right after the restart was requested.
func (h *Herder) Restart(name string, includeTasks, onlyFailed bool) (*ConnectorStatus, error) {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	cs, ok := h.connectors[name]
	if !ok {
		h.mu.Unlock()
		return nil, notFound("Unknown connector: %s", name)
	}
	restartConnector := !onlyFailed || cs.status.State == StateFailed
	var restartTasks []int
	restartConnector = restartConnector && cs.runsConnector()
	if includeTasks {
		for i, ts := range cs.taskStatus {
			if cs.runsTask(i) && (!onlyFailed || ts.State == StateFailed) {
				restartTasks = append(restartTasks, i)
			}
		}
	}
	if restartConnector {
		cs.status.State = StateRestarting
	}
	for _, i := range restartTasks {
		cs.taskStatus[i].State = StateRestarting
	}
	snapshot := cs.statusLocked()
	target := cs.target
	h.mu.Unlock()
	if target == TargetStopped {
		return snapshot, nil
	}
	if len(restartTasks) > 0 {
		for _, i := range restartTasks {
			h.stopTaskLocked(cs, i, StateRestarting)
		}
	}
	if restartConnector {
		h.mu.Lock()
		inst := cs.inst
		cs.inst = nil
		h.mu.Unlock()
		if inst != nil {
			if err := inst.Stop(); err != nil {
				h.log.Warn("stopping connector for a restart", "connector", name, "err", err)
			}
		}
		h.startConnectorInstanceLocked(cs, false)
	}
	for _, i := range restartTasks {
		h.startTaskLocked(cs, i)
	}
	return snapshot, nil
}

// RestartTask restarts one task.
func (h *Herder) RestartTask(name string, task int) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	cs, ok := h.connectors[name]
	if !ok {
		h.mu.Unlock()
		return notFound("Connector %s not found", name)
	}
	if task < 0 || task >= len(cs.taskConfigs) || !cs.runsTask(task) {
		h.mu.Unlock()
		return notFound("Task %s-%d not found", name, task)
	}
	h.mu.Unlock()
	h.stopTaskLocked(cs, task, StateRestarting)
	h.startTaskLocked(cs, task)
	return nil
}

// startConnectorLocked starts a connector instance and, unless paused or stopped, its tasks.
// REQUIRES: opMu held.
func (h *Herder) startConnectorLocked(cs *connectorState) {
	h.mu.Lock()
	target := cs.target
	h.mu.Unlock()
	if target == TargetStopped {
		h.mu.Lock()
		cs.status = Status{State: StateStopped, WorkerID: h.workerID}
		h.mu.Unlock()
		return
	}
	if !h.startConnectorInstanceLocked(cs, true) {
		return
	}
	h.startTasksLocked(cs)
}

// startConnectorInstanceLocked starts the connector instance and (when reconfigure) asks it
// for task configurations; false if it failed. REQUIRES: opMu held.
func (h *Herder) startConnectorInstanceLocked(cs *connectorState, reconfigure bool) bool {
	h.mu.Lock()
	config, target := maps.Clone(cs.config), cs.target
	h.mu.Unlock()
	inst := cs.plugin.NewConnector()
	fail := func(err error) bool {
		h.log.Error("connector failed", "connector", cs.name, "err", err)
		h.mu.Lock()
		cs.status = Status{State: StateFailed, Trace: err.Error(), WorkerID: h.workerID}
		h.mu.Unlock()
		h.metrics.connectorFailed(cs.name)
		return false
	}
	if err := inst.Start(&connectorContext{h: h, name: cs.name}, config); err != nil {
		return fail(fmt.Errorf("starting connector %s: %w", cs.name, err))
	}
	state := StateRunning
	if target == TargetPaused {
		state = StatePaused
	}
	h.mu.Lock()
	cs.inst = inst
	cs.status = Status{State: state, WorkerID: h.workerID}
	h.mu.Unlock()
	if !reconfigure {
		return true
	}
	configs, err := h.taskConfigsOf(cs, inst, config)
	if err != nil {
		return fail(err)
	}
	h.mu.Lock()
	cs.taskConfigs = configs
	cs.tasks = make([]*taskRun, len(configs))
	cs.taskStatus = make([]Status, len(configs))
	for i := range cs.taskStatus {
		cs.taskStatus[i] = Status{State: StateUnassigned, WorkerID: h.workerID}
	}
	h.mu.Unlock()
	return true
}

// taskConfigsOf asks a started connector for its task configurations and adds what Java's
// worker adds: task.class, and a sink's topics or topics.regex.
func (h *Herder) taskConfigsOf(cs *connectorState, inst Connector, config map[string]string) ([]map[string]string, error) {
	maxTasks, err := intConfig(config, "tasks.max", 1)
	if err != nil {
		return nil, err
	}
	configs, err := inst.TaskConfigs(maxTasks)
	if err != nil {
		return nil, fmt.Errorf("connector %s: task configurations: %w", cs.name, err)
	}
	if len(configs) > maxTasks {
		return nil, fmt.Errorf("connector %s returned %d task configurations, more than tasks.max=%d", cs.name, len(configs), maxTasks)
	}
	out := make([]map[string]string, len(configs))
	for i, c := range configs {
		c = maps.Clone(c)
		if c == nil {
			c = make(map[string]string)
		}
		if cs.plugin.TaskClass != "" {
			c["task.class"] = cs.plugin.TaskClass
		}
		if cs.plugin.Kind == Sink {
			for _, k := range []string{"topics", "topics.regex"} {
				if v, ok := config[k]; ok {
					c[k] = v
				}
			}
		}
		out[i] = c
	}
	return out, nil
}

// startTasksLocked starts every task not running. REQUIRES: opMu held.
func (h *Herder) startTasksLocked(cs *connectorState) {
	h.mu.Lock()
	n := len(cs.taskConfigs)
	target := cs.target
	h.mu.Unlock()
	for i := range n {
		if !cs.runsTask(i) {
			continue
		}
		if target == TargetPaused {
			h.mu.Lock()
			cs.taskStatus[i] = Status{State: StatePaused, WorkerID: h.workerID}
			h.mu.Unlock()
			continue
		}
		h.startTaskLocked(cs, i)
	}
}

// runAssigned runs the part of a connector a distributed worker was assigned: the connector
// instance if connector, and the given tasks with the task configurations of the config topic.
func (h *Herder) runAssigned(name string, config map[string]string, target TargetState, taskConfigs []map[string]string, connector bool, tasks []int) error {
	plugin, ok := Lookup(config["connector.class"])
	if !ok {
		return unknownPlugin(config["connector.class"])
	}
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.stopConnectorLocked(name, StateUnassigned)
	a := &localAssignment{connector: connector, tasks: make(map[int]bool)}
	for _, t := range tasks {
		a.tasks[t] = true
	}
	cs := &connectorState{name: name, config: maps.Clone(config), plugin: plugin, target: target, topics: make(map[string]bool),
		status: Status{State: StateUnassigned, WorkerID: h.workerID}, assigned: a,
		taskConfigs: taskConfigs, tasks: make([]*taskRun, len(taskConfigs)), taskStatus: make([]Status, len(taskConfigs))}
	for i := range cs.taskStatus {
		cs.taskStatus[i] = Status{State: StateUnassigned, WorkerID: h.workerID}
	}
	h.mu.Lock()
	h.connectors[name] = cs
	h.mu.Unlock()
	if target == TargetStopped {
		h.mu.Lock()
		cs.status = Status{State: StateStopped, WorkerID: h.workerID}
		h.mu.Unlock()
		return nil
	}
	if connector && !h.startConnectorInstanceLocked(cs, false) {
		return nil // failed: its status says why
	}
	h.startTasksLocked(cs)
	return nil
}

// localStatus returns the statuses of what of a connector runs here: the connector's (nil if
// it runs elsewhere) and its local tasks'.
func (h *Herder) localStatus(name string) (*StateInfo, []TaskStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return nil, nil
	}
	var conn *StateInfo
	if cs.runsConnector() {
		conn = &StateInfo{State: cs.status.State, WorkerID: cs.status.WorkerID, Trace: cs.status.Trace}
	}
	var tasks []TaskStatus
	for i, ts := range cs.taskStatus {
		if cs.runsTask(i) {
			tasks = append(tasks, TaskStatus{ID: i, State: ts.State, WorkerID: ts.WorkerID, Trace: ts.Trace})
		}
	}
	return conn, tasks
}

// startTaskLocked starts task i of cs. REQUIRES: opMu held.
func (h *Herder) startTaskLocked(cs *connectorState, i int) {
	h.mu.Lock()
	if i >= len(cs.tasks) || cs.tasks[i] != nil || cs.target != TargetStarted {
		h.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	run := &taskRun{id: TaskID{cs.name, i}, cancel: cancel, done: make(chan struct{})}
	cs.tasks[i] = run
	cs.taskStatus[i] = Status{State: StateRunning, WorkerID: h.workerID}
	config := maps.Clone(cs.config)
	taskConfig := maps.Clone(cs.taskConfigs[i])
	h.mu.Unlock()
	go func() {
		defer close(run.done)
		var err error
		if cs.plugin.Kind == Source {
			err = h.runSource(ctx, run, cs.plugin, config, taskConfig)
		} else {
			err = h.runSink(ctx, run, cs.plugin, config, taskConfig)
		}
		if err != nil && ctx.Err() == nil {
			h.log.Error("task failed", "task", run.id.String(), "err", err)
			h.metrics.taskFailed(run.id)
			h.setTaskStatus(run, Status{State: StateFailed, Trace: err.Error(), WorkerID: h.workerID})
		}
	}()
}

// setTaskStatus records a task's state if run is still the task's current run.
func (h *Herder) setTaskStatus(run *taskRun, st Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[run.id.Connector]
	if ok && run.id.Task < len(cs.tasks) && cs.tasks[run.id.Task] == run {
		cs.taskStatus[run.id.Task] = st
	}
}

// stopTaskLocked stops task i and waits for it; its status becomes state. REQUIRES: opMu held.
func (h *Herder) stopTaskLocked(cs *connectorState, i int, state State) {
	h.mu.Lock()
	if i >= len(cs.tasks) {
		h.mu.Unlock()
		return
	}
	run := cs.tasks[i]
	cs.tasks[i] = nil
	cs.taskStatus[i] = Status{State: state, WorkerID: h.workerID}
	h.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.done
	}
}

// stopTasksLocked stops every task. REQUIRES: opMu held.
func (h *Herder) stopTasksLocked(cs *connectorState, state State) {
	h.mu.Lock()
	n := len(cs.tasks)
	h.mu.Unlock()
	for i := range n {
		h.stopTaskLocked(cs, i, state)
	}
}

// stopConnectorLocked stops a connector's tasks and instance; its status becomes state.
// REQUIRES: opMu held.
func (h *Herder) stopConnectorLocked(name string, state State) {
	h.mu.Lock()
	cs, ok := h.connectors[name]
	h.mu.Unlock()
	if !ok {
		return
	}
	h.stopTasksLocked(cs, state)
	h.mu.Lock()
	inst := cs.inst
	cs.inst = nil
	cs.status = Status{State: state, WorkerID: h.workerID}
	h.mu.Unlock()
	if inst != nil {
		if err := inst.Stop(); err != nil {
			h.log.Warn("stopping connector", "connector", name, "err", err)
		}
	}
}

// PutTaskConfigs is Java's internal endpoint for a distributed leader; a standalone worker
// refuses it as Java's does.
func (h *Herder) PutTaskConfigs(string, []map[string]string) error {
	return &RestError{Code: http.StatusInternalServerError, Message: "Kafka Connect in standalone mode does not support externally setting task configurations."}
}

// FenceZombies refuses: exactly-once source support exists in distributed mode only.
func (h *Herder) FenceZombies(context.Context, string, bool) error {
	return badRequest(noExactlyOnce)
}

// reconfigure asks a running connector for its task configurations again and, if they
// changed, restarts the tasks (standalone) or publishes them through the leader
// (distributed) (ConnectorContext.RequestTaskReconfiguration).
func (h *Herder) reconfigure(name string) {
	if configs := h.reconfigureLocal(name); configs != nil {
		// Distributed: the leader writes them to the config topic; every worker then restarts
		// the tasks it runs with them (and the leader rebalances if their number changed).
		// Not under opMu: reaching the leader may take retries across a rebalance.
		if err := h.publishTasks(name, configs); err != nil {
			h.log.Error("task reconfiguration: handing the task configurations to the leader", "connector", name, "err", err)
		}
	}
}

// reconfigureLocal recomputes a running connector's task configurations; in standalone mode
// it restarts the tasks with them if they changed, in distributed mode it returns them to be
// published (nil if unchanged).
func (h *Herder) reconfigureLocal(name string) []map[string]string {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	cs, ok := h.connectors[name]
	if !ok || cs.inst == nil {
		h.mu.Unlock()
		return nil
	}
	distributed := cs.assigned != nil
	inst, config, old := cs.inst, maps.Clone(cs.config), cs.taskConfigs
	h.mu.Unlock()
	configs, err := h.taskConfigsOf(cs, inst, config)
	if err != nil {
		h.log.Error("task reconfiguration", "connector", name, "err", err)
		return nil
	}
	if slices.EqualFunc(configs, old, maps.Equal) {
		return nil
	}
	if distributed {
		return configs
	}
	h.stopTasksLocked(cs, StateUnassigned)
	h.mu.Lock()
	cs.taskConfigs = configs
	cs.tasks = make([]*taskRun, len(configs))
	cs.taskStatus = make([]Status, len(configs))
	for i := range cs.taskStatus {
		cs.taskStatus[i] = Status{State: StateUnassigned, WorkerID: h.workerID}
	}
	h.mu.Unlock()
	h.startTasksLocked(cs)
	return nil
}

// connectorContext is the ConnectorContext of one connector.
type connectorContext struct {
	h    *Herder
	name string
}

func (c *connectorContext) RequestTaskReconfiguration() {
	c.h.wg.Add(1)
	go func() {
		defer c.h.wg.Done()
		if c.h.ctx.Err() == nil {
			c.h.reconfigure(c.name)
		}
	}()
}

func (c *connectorContext) RaiseError(err error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if cs, ok := c.h.connectors[c.name]; ok {
		cs.status = Status{State: StateFailed, Trace: err.Error(), WorkerID: c.h.workerID}
	}
}
