package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Distributed is a worker of a Kafka Connect cluster (Java's DistributedHerder with the eager
// "default" protocol). Workers sharing group.id form a group of protocol type "connect" on the
// broker; its leader assigns the connectors, then their tasks, round robin over the members
// ordered by id (Java's eager assignor), and is the only writer of the config topic, so
// requests that change configs are forwarded to it over REST; restarts go to the worker
// running the connector or task. A worker that joins, leaves or stops
// heartbeating triggers a rebalance: every worker stops its connectors (eager), and the new
// assignment starts them again where they now belong; source offsets live in the offsets
// topic and sink offsets in the connectors' consumer groups, so the new owner resumes where
// the old one committed.
//
// The three internal topics have Kafka Connect's record formats (KafkaConfigBackingStore,
// KafkaOffsetBackingStore, KafkaStatusBackingStore), values in schemaless JSON:
//
//	config topic  connector-<name>       {"properties":{…}}
//	              target-state-<name>    {"state":"PAUSED","state.v2":"STOPPED"}
//	              task-<name>-<n>        {"properties":{…}}
//	              commit-<name>          {"tasks":<n>}
//	              tasks-fencing-<name>   {"task-count":<n>} (exactly-once sources: the task
//	                                     count whose producers a fencing round fenced)
//	offset topic  ["<name>",{partition}] {offset}
//	status topic  status-connector-<name>, status-task-<name>-<n>
//	                                     {"state":…,"trace":…,"worker_id":…,"generation":…}
//
// Locks: mu guards the config and status snapshots and the membership fields; it is never
// held while calling the inner herder or the network.
type Distributed struct {
	cfg       *WorkerConfig
	log       *slog.Logger
	url       string // this worker's advertised REST URL
	inner     *Herder
	offsets   *topicOffsets
	configLog *topicLog
	statusLog *topicLog
	offsetLog *topicLog
	group     *kgo.Client // sends the group requests

	changed chan struct{} // a config record was applied (buffered, 1)
	rejoin  chan struct{} // the leader asks for a rebalance (buffered, 1)
	cancel  context.CancelFunc
	done    chan struct{}

	mu            sync.Mutex
	configs       map[string]map[string]string         // guarded by mu
	targets       map[string]TargetState               // guarded by mu
	taskConfigs   map[string][]map[string]string       // guarded by mu; committed
	pendingTasks  map[string]map[int]map[string]string // guarded by mu; written, not committed
	statuses      map[string]statusRecord              // guarded by mu; by status topic key
	leaderURL     string                               // guarded by mu; "" while rebalancing
	isLeader      bool                                 // guarded by mu
	generation    int32                                // guarded by mu
	local         map[string]localConnector            // guarded by mu; what runs here
	assignedTasks map[string]int                       // guarded by mu; the task counts the leader last assigned
	taskCounts    map[string]int                       // guarded by mu; tasks-fencing-<name> records
	taskGens      map[string]int                       // guarded by mu; commit records applied per connector
	fencePending  map[string]bool                      // guarded by mu; a commit record after the last task count record
	fenceMu       sync.Mutex                           // serializes the leader's fencing rounds; taken before mu
	published     map[string]statusRecord              // only the membership goroutine
}

// localConnector is what a worker last applied of a connector it (partly) runs.
type localConnector struct {
	config      map[string]string
	target      TargetState
	taskConfigs []map[string]string
	connector   bool  // the connector instance runs here
	tasks       []int // the tasks assigned here
}

// statusRecord is a status topic value.
type statusRecord struct {
	State      State
	Trace      string
	WorkerID   string
	Generation int32
}

// StartDistributed joins the Connect cluster of cfg: creates the internal topics if missing,
// reads them, starts the REST API and the group membership.
func StartDistributed(ctx context.Context, cfg *WorkerConfig, log *slog.Logger, reg *prometheus.Registry) (*Worker, error) {
	ln, err := net.Listen("tcp", cfg.Listener)
	if err != nil {
		return nil, fmt.Errorf("REST listener %s: %w", cfg.Listener, err)
	}
	if cfg.AdvertisedPort == 0 {
		cfg.AdvertisedPort = ln.Addr().(*net.TCPAddr).Port
	}
	d, err := newDistributed(ctx, cfg, log, reg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	w := &Worker{Herder: d.inner, dist: d, URL: d.url,
		srv:    &http.Server{Handler: RESTHandler(d), ReadHeaderTimeout: 10 * time.Second},
		served: make(chan error, 1)}
	go func() { w.served <- w.srv.Serve(ln) }()
	return w, nil
}

func newDistributed(ctx context.Context, cfg *WorkerConfig, log *slog.Logger, reg *prometheus.Registry) (*Distributed, error) {
	offsets := &topicOffsets{topic: cfg.OffsetTopic, data: make(map[string][]byte)}
	inner, err := newHerder(ctx, cfg, log, NewMetrics(reg), offsets)
	if err != nil {
		return nil, err
	}
	offsets.producer = inner.producer
	d := &Distributed{
		cfg: cfg, log: log, url: "http://" + cfg.WorkerID(), inner: inner, offsets: offsets,
		changed: make(chan struct{}, 1), rejoin: make(chan struct{}, 1), done: make(chan struct{}),
		configs: make(map[string]map[string]string), targets: make(map[string]TargetState),
		taskConfigs: make(map[string][]map[string]string), pendingTasks: make(map[string]map[int]map[string]string),
		statuses: make(map[string]statusRecord), local: make(map[string]localConnector), published: make(map[string]statusRecord),
		assignedTasks: make(map[string]int), taskCounts: make(map[string]int), taskGens: make(map[string]int),
		fencePending: make(map[string]bool),
	}
	inner.publishTasks = d.publishTasks
	inner.fenceBeforeStart = d.preflightFence
	fail := func(err error) (*Distributed, error) {
		d.closeLogs()
		inner.Close()
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, t := range []struct {
		name string
		n    int32
	}{{cfg.ConfigTopic, 1}, {cfg.OffsetTopic, cfg.OffsetPartitions}, {cfg.StatusTopic, cfg.StatusPartitions}} {
		if err := ensureCompactedTopic(tctx, inner.admin, t.name, t.n, cfg.ReplicationFactor); err != nil {
			return fail(err)
		}
	}
	if d.configLog, err = startTopicLog(cfg, inner.admin, cfg.ConfigTopic, false, d.applyConfig); err != nil {
		return fail(err)
	}
	if d.statusLog, err = startTopicLog(cfg, inner.admin, cfg.StatusTopic, false, d.applyStatus); err != nil {
		return fail(err)
	}
	if d.offsetLog, err = startTopicLog(cfg, inner.admin, cfg.OffsetTopic, cfg.exactlyOnceEnabled(), offsets.applyRecord); err != nil {
		return fail(err)
	}
	offsets.log = d.offsetLog
	for _, l := range []*topicLog{d.configLog, d.statusLog, d.offsetLog} {
		if err := l.readToEnd(tctx); err != nil {
			return fail(err)
		}
	}
	if d.group, err = kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...)); err != nil {
		return fail(err)
	}
	mctx, mcancel := context.WithCancel(context.Background())
	d.cancel = mcancel
	go d.membership(mctx)
	return d, nil
}

func (d *Distributed) closeLogs() {
	for _, l := range []*topicLog{d.configLog, d.statusLog, d.offsetLog} {
		if l != nil {
			l.close()
		}
	}
}

// close leaves the group (stopping what runs here) and releases the clients.
func (d *Distributed) close() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
	d.inner.Close()
	d.closeLogs()
	if d.group != nil {
		d.group.Close()
	}
}

// notify sends on a buffered channel of one without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// applyConfig applies one config topic record to the snapshot.
func (d *Distributed) applyConfig(r *kgo.Record) {
	key := string(r.Key)
	var value map[string]any
	if r.Value != nil {
		_, v, err := schemalessJSON.ToConnect("", r.Value)
		m, ok := v.(map[string]any)
		if err != nil || !ok {
			d.log.Warn("config topic: unreadable record", "key", key, "err", err)
			return
		}
		value = m
	}
	props := func() map[string]string {
		p, _ := value["properties"].(map[string]any)
		out := make(map[string]string, len(p))
		for k, v := range p {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return out
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer notify(d.changed)
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		if value == nil {
			delete(d.configs, name)
			delete(d.targets, name)
			delete(d.taskConfigs, name)
			delete(d.pendingTasks, name)
			return
		}
		d.configs[name] = props()
		if _, ok := d.targets[name]; !ok {
			d.targets[name] = TargetStarted
		}
	case strings.HasPrefix(key, "target-state-"):
		name := strings.TrimPrefix(key, "target-state-")
		if value == nil {
			delete(d.targets, name)
			return
		}
		state, _ := value["state.v2"].(string)
		if state == "" {
			state, _ = value["state"].(string)
		}
		d.targets[name] = TargetState(state)
	case strings.HasPrefix(key, taskCountPrefix):
		name := strings.TrimPrefix(key, taskCountPrefix)
		n, ok := asInt64(value["task-count"])
		if !ok {
			return
		}
		// Java's KafkaConfigBackingStore: a task count record after the latest task configs
		// means their generation needs no more fencing.
		d.taskCounts[name] = int(n)
		delete(d.fencePending, name)
	case strings.HasPrefix(key, "task-"):
		rest := strings.TrimPrefix(key, "task-")
		i := strings.LastIndexByte(rest, '-')
		n, err := strconv.Atoi(rest[i+1:])
		if i < 0 || err != nil || value == nil {
			return
		}
		name := rest[:i]
		if d.pendingTasks[name] == nil {
			d.pendingTasks[name] = make(map[int]map[string]string)
		}
		d.pendingTasks[name][n] = props()
	case strings.HasPrefix(key, "commit-"):
		name := strings.TrimPrefix(key, "commit-")
		n, ok := asInt64(value["tasks"])
		if !ok {
			return
		}
		tasks := make([]map[string]string, 0, n)
		for i := range int(n) {
			c, ok := d.pendingTasks[name][i]
			if !ok {
				c = d.taskAt(name, i)
			}
			tasks = append(tasks, c)
		}
		d.taskConfigs[name] = tasks
		delete(d.pendingTasks, name)
		// New task configs need a fencing round before their tasks start (exactly once).
		d.taskGens[name]++
		d.fencePending[name] = true
	}
}

// taskAt is the committed config of a task, nil if none. REQUIRES: mu held.
func (d *Distributed) taskAt(name string, i int) map[string]string {
	if t := d.taskConfigs[name]; i < len(t) {
		return t[i]
	}
	return nil
}

// applyStatus applies one status topic record.
func (d *Distributed) applyStatus(r *kgo.Record) {
	key := string(r.Key)
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Value == nil {
		delete(d.statuses, key)
		return
	}
	_, v, err := schemalessJSON.ToConnect("", r.Value)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return
	}
	st := statusRecord{}
	s, _ := m["state"].(string)
	st.State = State(s)
	st.Trace, _ = m["trace"].(string)
	st.WorkerID, _ = m["worker_id"].(string)
	g, _ := asInt64(m["generation"])
	st.Generation = int32(g)
	if prev, ok := d.statuses[key]; ok && prev.Generation > st.Generation && prev.WorkerID != st.WorkerID {
		return // a stale worker's late write
	}
	d.statuses[key] = st
}

// membership runs the group protocol until ctx is done, then leaves the group.
func (d *Distributed) membership(ctx context.Context) {
	defer close(d.done)
	memberID := ""
	for ctx.Err() == nil {
		a, gen, err := d.joinAndSync(ctx, &memberID)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("connect group: join", "group", d.cfg.GroupID, "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		d.mu.Lock()
		d.leaderURL, d.isLeader, d.generation = a.LeaderURL, a.Leader == memberID, gen
		d.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		for d.configLog.position() < a.ConfigOffset && rctx.Err() == nil {
			d.configLog.readToEnd(rctx)
		}
		cancel()
		d.startAssigned(a)
		d.heartbeat(ctx, memberID, gen)
		// Eager: everything stops before the next join.
		d.mu.Lock()
		d.leaderURL, d.isLeader = "", false
		d.mu.Unlock()
		d.stopLocal()
	}
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if memberID != "" {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = d.cfg.GroupID
		req.MemberID = memberID
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = memberID
		req.Members = append(req.Members, m)
		req.RequestWith(lctx, d.group)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// joinAndSync joins the group (retrying MEMBER_ID_REQUIRED), computes the assignment if this
// worker leads, and returns this worker's assignment and the generation.
func (d *Distributed) joinAndSync(ctx context.Context, memberID *string) (*assignment, int32, error) {
	meta := workerMetadata{URL: d.url, ConfigOffset: d.configLog.position()}
	for {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = d.cfg.GroupID
		req.SessionTimeoutMillis = int32(d.cfg.SessionTimeout.Milliseconds())
		req.RebalanceTimeoutMillis = int32(d.cfg.RebalanceTimeout.Milliseconds())
		req.MemberID = *memberID
		req.ProtocolType = connectProtocolType
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = connectProtocolName, meta.encode()
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, d.group)
		if err != nil {
			return nil, 0, err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			switch {
			case errors.Is(err, kerr.MemberIDRequired):
				*memberID = resp.MemberID
				continue
			case errors.Is(err, kerr.UnknownMemberID):
				*memberID = ""
			}
			return nil, 0, err
		}
		*memberID = resp.MemberID
		var assignments []kmsg.SyncGroupRequestGroupAssignment
		if resp.LeaderID == resp.MemberID {
			if assignments, err = d.assign(ctx, resp); err != nil {
				return nil, 0, err
			}
		}
		sreq := kmsg.NewPtrSyncGroupRequest()
		sreq.Group, sreq.Generation, sreq.MemberID = d.cfg.GroupID, resp.Generation, resp.MemberID
		sreq.ProtocolType, sreq.Protocol = kmsg.StringPtr(connectProtocolType), kmsg.StringPtr(connectProtocolName)
		sreq.GroupAssignment = assignments
		sresp, err := sreq.RequestWith(ctx, d.group)
		if err != nil {
			return nil, 0, err
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			return nil, 0, err
		}
		a, err := decodeAssignment(sresp.MemberAssignment)
		if err != nil {
			return nil, 0, err
		}
		return a, resp.Generation, nil
	}
}

// assign is the leader's assignment: the connectors, each with all its tasks, round robin
// over the members ordered by member id.
func (d *Distributed) assign(ctx context.Context, resp *kmsg.JoinGroupResponse) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.configLog.readToEnd(rctx); err != nil {
		return nil, err
	}
	members := slices.Clone(resp.Members)
	slices.SortFunc(members, func(a, b kmsg.JoinGroupResponseMember) int { return strings.Compare(a.MemberID, b.MemberID) })
	leaderURL := d.url
	for _, m := range members {
		if m.MemberID == resp.LeaderID {
			if md, err := decodeWorkerMetadata(m.ProtocolMetadata); err == nil {
				leaderURL = md.URL
			}
		}
	}
	d.mu.Lock()
	names := slices.Sorted(maps.Keys(d.configs))
	tasks := make(map[string]int, len(names))
	for _, n := range names {
		tasks[n] = len(d.taskConfigs[n])
	}
	d.mu.Unlock()
	per := make([]*assignment, len(members))
	for i := range per {
		per[i] = &assignment{Leader: resp.LeaderID, LeaderURL: leaderURL, ConfigOffset: d.configLog.position(), Tasks: make(map[string][]int)}
	}
	// Java's eager assignor: the connectors, then the tasks, round robin over the members.
	next := 0
	for _, n := range names {
		per[next%len(per)].Connectors = append(per[next%len(per)].Connectors, n)
		next++
	}
	for _, n := range names {
		for t := range tasks[n] {
			a := per[next%len(per)]
			a.Tasks[n] = append(a.Tasks[n], t)
			next++
		}
	}
	d.mu.Lock()
	d.assignedTasks = tasks
	d.mu.Unlock()
	out := make([]kmsg.SyncGroupRequestGroupAssignment, len(members))
	for i, m := range members {
		out[i] = kmsg.NewSyncGroupRequestGroupAssignment()
		out[i].MemberID, out[i].MemberAssignment = m.MemberID, per[i].encode()
	}
	return out, nil
}

// heartbeat keeps the membership until a rebalance is needed; between beats it applies
// config changes to the connectors running here and publishes their statuses.
func (d *Distributed) heartbeat(ctx context.Context, memberID string, gen int32) {
	tick := time.NewTicker(min(d.cfg.HeartbeatInterval, time.Second))
	defer tick.Stop()
	lastBeat := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.rejoin:
			return
		case <-d.changed:
			d.reconcile()
		case <-tick.C:
		}
		d.publishStatuses(gen)
		if time.Since(lastBeat) < d.cfg.HeartbeatInterval {
			continue
		}
		lastBeat = time.Now()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.Generation, req.MemberID = d.cfg.GroupID, gen, memberID
		hctx, cancel := context.WithTimeout(ctx, d.cfg.SessionTimeout)
		resp, err := req.RequestWith(hctx, d.group)
		cancel()
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			if !errors.Is(err, kerr.RebalanceInProgress) && ctx.Err() == nil {
				d.log.Info("connect group: rejoining", "err", err)
			}
			return
		}
	}
}

// startAssigned starts the connectors and tasks of an assignment here.
func (d *Distributed) startAssigned(a *assignment) {
	d.mu.Lock()
	d.local = make(map[string]localConnector)
	names := slices.Clone(a.Connectors)
	for n := range a.Tasks {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var runs []localConnector
	var runNames []string
	for _, n := range names {
		c, ok := d.configs[n]
		if !ok {
			continue
		}
		l := localConnector{config: c, target: d.targets[n], taskConfigs: d.taskConfigs[n],
			connector: slices.Contains(a.Connectors, n), tasks: a.Tasks[n]}
		d.local[n] = l
		runs, runNames = append(runs, l), append(runNames, n)
	}
	d.mu.Unlock()
	for i, l := range runs {
		d.run(runNames[i], l)
	}
}

// run (re)starts what of a connector is assigned here.
func (d *Distributed) run(name string, l localConnector) {
	var tasks []int
	for _, t := range l.tasks {
		if t < len(l.taskConfigs) {
			tasks = append(tasks, t)
		}
	}
	if err := d.inner.runAssigned(name, l.config, l.target, l.taskConfigs, l.connector, tasks); err != nil {
		d.log.Error("starting an assigned connector", "connector", name, "err", err)
	}
}

// reconcile applies config changes (configs, target states, task configurations, deletions)
// to what runs here; the leader rebalances when a connector's task count changed.
func (d *Distributed) reconcile() {
	d.mu.Lock()
	var gone []string
	var reruns []localConnector
	var rerunNames []string
	for n, l := range d.local {
		c, ok := d.configs[n]
		if !ok {
			gone = append(gone, n)
			delete(d.local, n)
			continue
		}
		tc := d.taskConfigs[n]
		if !maps.Equal(c, l.config) || d.targets[n] != l.target || !slices.EqualFunc(tc, l.taskConfigs, maps.Equal) {
			l.config, l.target, l.taskConfigs = c, d.targets[n], tc
			d.local[n] = l
			reruns, rerunNames = append(reruns, l), append(rerunNames, n)
		}
	}
	stale := false
	if d.isLeader {
		for n := range d.configs {
			if len(d.taskConfigs[n]) != d.assignedTasks[n] {
				stale = true
			}
		}
	}
	d.mu.Unlock()
	for _, n := range gone {
		d.inner.Delete(n)
	}
	for i, l := range reruns {
		d.run(rerunNames[i], l)
	}
	if stale {
		notify(d.rejoin)
	}
}

// stopLocal stops every connector running here.
func (d *Distributed) stopLocal() {
	for _, n := range d.inner.Connectors() {
		d.inner.Delete(n)
	}
	d.mu.Lock()
	d.local = make(map[string]localConnector)
	d.mu.Unlock()
}

// publishStatuses writes the status of what runs here to the status topic when it changed.
func (d *Distributed) publishStatuses(gen int32) {
	var recs []*kgo.Record
	for _, n := range d.inner.Connectors() {
		conn, tasks := d.inner.localStatus(n)
		put := func(key string, s State, trace string) {
			r := statusRecord{State: s, Trace: trace, WorkerID: d.cfg.WorkerID(), Generation: gen}
			if d.published[key] == r {
				return
			}
			d.published[key] = r
			var traceV any
			if trace != "" {
				traceV = trace
			}
			v, err := schemalessJSON.FromConnect("", nil, map[string]any{"state": string(s), "trace": traceV, "worker_id": r.WorkerID, "generation": int64(gen)})
			if err == nil {
				recs = append(recs, &kgo.Record{Topic: d.cfg.StatusTopic, Partition: -1, Key: []byte(key), Value: v})
			}
		}
		if conn != nil {
			put("status-connector-"+n, conn.State, conn.Trace)
		}
		for _, t := range tasks {
			put(fmt.Sprintf("status-task-%s-%d", n, t.ID), t.State, t.Trace)
		}
	}
	if len(recs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.inner.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		d.log.Warn("writing statuses", "err", err)
		for _, r := range recs {
			delete(d.published, string(r.Key))
		}
		return
	}
	for _, r := range recs {
		d.applyStatus(r)
	}
}

// writeConfig writes config topic records (value nil: a tombstone) and waits until this
// worker has read them back.
func (d *Distributed) writeConfig(kvs ...[2]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, 0, len(kvs))
	for _, kv := range kvs {
		r := &kgo.Record{Topic: d.cfg.ConfigTopic, Partition: 0, Key: []byte(kv[0].(string))}
		if kv[1] != nil {
			v, err := schemalessJSON.FromConnect("", nil, kv[1])
			if err != nil {
				return err
			}
			r.Value = v
		}
		recs = append(recs, r)
	}
	if err := d.inner.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing to the config topic %s: %w", d.cfg.ConfigTopic, err)
	}
	return d.configLog.readToEnd(ctx)
}

// propsValue is a {"properties":{…}} config record value.
func propsValue(m map[string]string) map[string]any {
	p := make(map[string]any, len(m))
	for k, v := range m {
		p[k] = v
	}
	return map[string]any{"properties": p}
}

// targetValue is a target-state record value; Java writes "PAUSED" under "state" for STOPPED
// so that older workers pause.
func targetValue(t TargetState) map[string]any {
	v1 := string(t)
	if t == TargetStopped {
		v1 = string(TargetPaused)
	}
	return map[string]any{"state": v1, "state.v2": string(t)}
}

// writeTaskConfigs computes a connector's task configurations with a transient instance and
// writes them with their commit record (none for a stopped connector).
func (d *Distributed) writeTaskConfigs(name string, config map[string]string, target TargetState) error {
	var configs []map[string]string
	if target != TargetStopped {
		p, ok := Lookup(config["connector.class"])
		if !ok {
			return unknownPlugin(config["connector.class"])
		}
		cs := &connectorState{name: name, plugin: p}
		inst := p.NewConnector()
		if err := inst.Start(&connectorContext{h: d.inner, name: name}, config); err != nil {
			return fmt.Errorf("starting connector %s to compute its tasks: %w", name, err)
		}
		var err error
		configs, err = d.inner.taskConfigsOf(cs, inst, config)
		inst.Stop()
		if err != nil {
			return err
		}
	}
	return d.writeTasks(name, configs)
}

// writeTasks writes a connector's task configurations and their commit record.
func (d *Distributed) writeTasks(name string, configs []map[string]string) error {
	var kvs [][2]any
	for i, c := range configs {
		kvs = append(kvs, [2]any{fmt.Sprintf("task-%s-%d", name, i), propsValue(c)})
	}
	kvs = append(kvs, [2]any{"commit-" + name, map[string]any{"tasks": int32(len(configs))}})
	return d.writeConfig(kvs...)
}

// PutTaskConfigs writes task configurations a connector recomputed (Java's internal
// POST /connectors/{name}/tasks, sent by the worker running the connector); leader only.
func (d *Distributed) PutTaskConfigs(name string, configs []map[string]string) error {
	if err := d.leaderOnly(); err != nil {
		return err
	}
	d.mu.Lock()
	_, ok := d.configs[name]
	d.mu.Unlock()
	if !ok {
		return notFound("Connector %s not found", name)
	}
	return d.writeTasks(name, configs)
}

// publishTasks hands recomputed task configurations to the leader (itself, or over REST),
// retrying with back-off while there is no leader or it refuses (a rebalance), as Java's
// worker does, until it succeeds, the worker stops, or a minute passes.
func (d *Distributed) publishTasks(name string, configs []map[string]string) error {
	body, err := json.Marshal(configs)
	if err != nil {
		return err
	}
	backoff := 250 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		d.mu.Lock()
		leader, base := d.isLeader, d.leaderURL
		d.mu.Unlock()
		switch {
		case leader:
			err = d.PutTaskConfigs(name, configs)
		case base == "":
			err = errors.New("no known leader: a rebalance is underway")
		default:
			err = postTasks(d.inner.ctx, base, name, body)
		}
		if err == nil || d.inner.ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		d.log.Warn("task reconfiguration: retrying", "connector", name, "err", err)
		select {
		case <-d.inner.ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// postTasks sends task configurations to the leader at base.
func postTasks(ctx context.Context, base, name string, body []byte) error {
	return callLeader(ctx, http.MethodPost, base, "/connectors/"+url.PathEscape(name)+"/tasks", body)
}

// callLeader sends an internal request to the leader at base, marked as forwarded (served
// where it arrives) plus the given header names set to "1"; any answer but 2xx is an error.
func callLeader(ctx context.Context, method, base, path string, body []byte, headers ...string) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(forwardedHeader, "1")
	for _, h := range headers {
		req.Header.Set(h, "1")
	}
	resp, err := forwardClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("the leader at %s answered %s: %s", base, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// leaderOnly refuses an operation on a worker that is not (or no longer) the leader.
func (d *Distributed) leaderOnly() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.isLeader {
		return conflict("Cannot complete request because of a conflicting operation (e.g. worker rebalance)")
	}
	return nil
}

// ClusterID is the Kafka cluster's id.
func (d *Distributed) ClusterID() string { return d.inner.ClusterID() }

// WorkerID is this worker's id.
func (d *Distributed) WorkerID() string { return d.cfg.WorkerID() }

// MetricsHandler serves the worker's Prometheus metrics.
func (d *Distributed) MetricsHandler() http.Handler { return d.inner.MetricsHandler() }

// Connectors lists the cluster's connectors.
func (d *Distributed) Connectors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := slices.Sorted(maps.Keys(d.configs))
	if names == nil {
		names = []string{}
	}
	return names
}

// Info returns a connector's config, tasks and type from the config topic.
func (d *Distributed) Info(name string) (*ConnectorInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.configs[name]
	if !ok {
		return nil, notFound("Connector %s not found", name)
	}
	info := &ConnectorInfo{Name: name, Config: maps.Clone(c), Tasks: []TaskID{}}
	if p, ok := Lookup(c["connector.class"]); ok {
		info.Type = p.Kind
	}
	for i := range d.taskConfigs[name] {
		info.Tasks = append(info.Tasks, TaskID{name, i})
	}
	return info, nil
}

// Config returns a connector's configuration.
func (d *Distributed) Config(name string) (map[string]string, error) {
	info, err := d.Info(name)
	if err != nil {
		return nil, err
	}
	return info.Config, nil
}

// Tasks returns a connector's task configurations.
func (d *Distributed) Tasks(name string) ([]TaskInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.configs[name]; !ok {
		return nil, notFound("Connector %s not found", name)
	}
	out := []TaskInfo{}
	for i, c := range d.taskConfigs[name] {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: maps.Clone(c)})
	}
	return out, nil
}

// Status returns a connector's status from the status topic.
func (d *Distributed) Status(name string) (*ConnectorStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.configs[name]
	cst, ok2 := d.statuses["status-connector-"+name]
	if !ok || !ok2 {
		return nil, notFound("No status found for connector %s", name)
	}
	p, _ := Lookup(c["connector.class"])
	st := &ConnectorStatus{Name: name, Connector: StateInfo{State: cst.State, WorkerID: cst.WorkerID, Trace: cst.Trace}, Tasks: []TaskStatus{}}
	if p != nil {
		st.Type, st.Connector.Version = p.Kind, p.Version
	}
	for i := range d.taskConfigs[name] {
		ts, ok := d.statuses[fmt.Sprintf("status-task-%s-%d", name, i)]
		if !ok {
			continue
		}
		t := TaskStatus{ID: i, State: ts.State, WorkerID: ts.WorkerID, Trace: ts.Trace}
		if p != nil {
			t.Version = p.Version
		}
		st.Tasks = append(st.Tasks, t)
	}
	return st, nil
}

// TaskStatus returns one task's status.
func (d *Distributed) TaskStatus(name string, task int) (*TaskStatus, error) {
	st, err := d.Status(name)
	if err == nil {
		for _, t := range st.Tasks {
			if t.ID == task {
				return &t, nil
			}
		}
	}
	return nil, notFound("No status found for task %s-%d", name, task)
}

// Topics and ResetTopics are answered by the worker running the connector (see ForwardTarget).
func (d *Distributed) Topics(name string) ([]string, error) { return d.inner.Topics(name) }

// ResetTopics forgets a connector's active topics on the worker running it.
func (d *Distributed) ResetTopics(name string) error { return d.inner.ResetTopics(name) }

// PutConfig writes a connector's configuration (leader only) and its task configurations;
// the leader then rebalances if the connector is new.
func (d *Distributed) PutConfig(name string, config map[string]string, allowReplace bool, initial TargetState) (*ConnectorInfo, bool, error) {
	if err := d.leaderOnly(); err != nil {
		return nil, false, err
	}
	config = maps.Clone(config)
	if got, ok := config["name"]; ok && got != name {
		return nil, false, badRequest("Connector name configuration (%s) doesn't match connector name in the URL (%s)", got, name)
	}
	if name == "" {
		return nil, false, badRequest("Connector name must not be empty or contain control characters")
	}
	config["name"] = name
	if _, err := d.inner.validateForPut(config); err != nil {
		return nil, false, err
	}
	d.mu.Lock()
	_, exists := d.configs[name]
	target := d.targets[name]
	d.mu.Unlock()
	if exists && !allowReplace {
		return nil, false, conflict("Connector %s already exists", name)
	}
	if !exists {
		target = initial
		if target == "" {
			target = TargetStarted
		}
	}
	kvs := [][2]any{}
	if !exists && target != TargetStarted {
		kvs = append(kvs, [2]any{"target-state-" + name, targetValue(target)})
	}
	kvs = append(kvs, [2]any{"connector-" + name, propsValue(config)})
	if err := d.writeConfig(kvs...); err != nil {
		return nil, false, err
	}
	if err := d.writeTaskConfigs(name, config, target); err != nil {
		return nil, false, err
	}
	if !exists {
		notify(d.rejoin)
	}
	info, err := d.Info(name)
	return info, !exists, err
}

// PatchConfig merges patch into a connector's configuration.
func (d *Distributed) PatchConfig(name string, patch map[string]*string) (*ConnectorInfo, error) {
	cur, err := d.Config(name)
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
	info, _, err := d.PutConfig(name, cur, true, "")
	return info, err
}

// Delete removes a connector from the config topic; the leader rebalances.
func (d *Distributed) Delete(name string) error {
	if err := d.leaderOnly(); err != nil {
		return err
	}
	d.mu.Lock()
	_, ok := d.configs[name]
	n := len(d.taskConfigs[name])
	d.mu.Unlock()
	if !ok {
		return notFound("Connector %s not found", name)
	}
	if err := d.writeConfig([2]any{"connector-" + name, nil}, [2]any{"target-state-" + name, nil}); err != nil {
		return err
	}
	recs := []*kgo.Record{{Topic: d.cfg.StatusTopic, Partition: -1, Key: []byte("status-connector-" + name)}}
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: d.cfg.StatusTopic, Partition: -1, Key: []byte(fmt.Sprintf("status-task-%s-%d", name, i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.inner.producer.ProduceSync(ctx, recs...)
	notify(d.rejoin)
	return nil
}

// SetTarget writes a connector's target state; stopping also removes its task configurations
// and resuming a stopped connector recomputes them.
func (d *Distributed) SetTarget(name string, target TargetState) error {
	if err := d.leaderOnly(); err != nil {
		return err
	}
	d.mu.Lock()
	config, ok := d.configs[name]
	prev := d.targets[name]
	d.mu.Unlock()
	if !ok {
		return notFound("Connector %s not found", name)
	}
	if err := d.writeConfig([2]any{"target-state-" + name, targetValue(target)}); err != nil {
		return err
	}
	if target == TargetStopped || prev == TargetStopped {
		return d.writeTaskConfigs(name, config, target)
	}
	return nil
}

// RestartConnector, Restart and RestartTask run on the worker running the connector.
func (d *Distributed) RestartConnector(name string) error { return d.inner.RestartConnector(name) }

// Restart restarts a connector running here and, as asked, its tasks.
func (d *Distributed) Restart(name string, includeTasks, onlyFailed bool) (*ConnectorStatus, error) {
	return d.inner.Restart(name, includeTasks, onlyFailed)
}

// RestartTask restarts a task running here.
func (d *Distributed) RestartTask(name string, task int) error {
	return d.inner.RestartTask(name, task)
}

// Offsets returns a connector's committed offsets.
func (d *Distributed) Offsets(ctx context.Context, name string) (*ConnectorOffsets, error) {
	kind, _, err := d.offsetsOf(name)
	if err != nil {
		return nil, err
	}
	return d.inner.readOffsets(ctx, name, kind)
}

func (d *Distributed) offsetsOf(name string) (Kind, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.configs[name]
	if !ok {
		return "", false, notFound("Connector %s not found", name)
	}
	p, ok := Lookup(c["connector.class"])
	if !ok {
		return "", false, unknownPlugin(c["connector.class"])
	}
	return p.Kind, d.targets[name] == TargetStopped && len(d.taskConfigs[name]) == 0, nil
}

// AlterOffsets changes a stopped connector's offsets (leader only).
func (d *Distributed) AlterOffsets(ctx context.Context, name string, offsets []ConnectorOffset) (*Message, error) {
	if len(offsets) == 0 {
		return nil, badRequest("Partitions / offsets need to be provided for an alter offsets request")
	}
	if err := d.modifyOffsets(ctx, name, offsets, false); err != nil {
		return nil, err
	}
	return &Message{"The offsets for this connector have been altered successfully"}, nil
}

// ResetOffsets removes a stopped connector's offsets (leader only).
func (d *Distributed) ResetOffsets(ctx context.Context, name string) (*Message, error) {
	if err := d.modifyOffsets(ctx, name, nil, true); err != nil {
		return nil, err
	}
	return &Message{"The offsets for this connector have been reset successfully"}, nil
}

func (d *Distributed) modifyOffsets(ctx context.Context, name string, offsets []ConnectorOffset, reset bool) error {
	if err := d.leaderOnly(); err != nil {
		return err
	}
	kind, stopped, err := d.offsetsOf(name)
	if err != nil {
		return err
	}
	if !stopped {
		return errNotStopped(name)
	}
	return d.inner.writeOffsets(ctx, name, kind, offsets, reset)
}

// Validate checks a connector configuration.
func (d *Distributed) Validate(class string, config map[string]string) (*ConfigInfos, error) {
	return d.inner.Validate(class, config)
}

// forwardedHeader marks a request one worker forwarded to another: it is served where it
// arrives, never forwarded again.
const forwardedHeader = "X-Logd-Connect-Forwarded"

// ForwardTarget sends config changes to the leader and connector operations (restarts,
// active topics) to the worker running the connector.
func (d *Distributed) ForwardTarget(req *http.Request) (string, error) {
	if req.Header.Get(forwardedHeader) != "" {
		return "", nil
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] != "connectors" {
		return "", nil
	}
	owner := false
	switch {
	case req.Method == http.MethodGet && len(parts) == 3 && parts[2] == "topics":
		owner = true
	case req.Method == http.MethodGet:
		return "", nil
	case req.Method == http.MethodPost && len(parts) >= 3 && parts[len(parts)-1] == "restart",
		req.Method == http.MethodPut && len(parts) == 4 && parts[2] == "topics":
		owner = true
	}
	if owner {
		st, err := d.Status(parts[1])
		if err != nil {
			return "", err
		}
		worker := st.Connector.WorkerID
		if len(parts) == 5 && parts[2] == "tasks" { // a task's restart: the task's worker
			id, _ := strconv.Atoi(parts[3])
			for _, t := range st.Tasks {
				if t.ID == id {
					worker = t.WorkerID
				}
			}
		}
		if worker == d.cfg.WorkerID() {
			return "", nil
		}
		return "http://" + worker, nil
	}
	d.mu.Lock()
	leader, url := d.isLeader, d.leaderURL
	d.mu.Unlock()
	switch {
	case leader:
		return "", nil
	case url == "":
		return "", conflict("Cannot complete request momentarily due to no known leader URL, likely because a rebalance is underway.")
	}
	return url, nil
}
