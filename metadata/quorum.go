package metadata

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/logd/logd/internal/vfs"
)

// ErrNotController is returned by Propose on a node that is not the Raft leader.
var ErrNotController = errors.New("not the active controller")

// Voter is one voter of the metadata quorum (controller.quorum.voters: ID@HOST:PORT).
type Voter struct {
	ID   int32
	Addr string
}

// ParseVoters parses "1@host:9093,2@host:9093,…". An empty string is no voters.
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	seen := map[int32]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("voter %q is not ID@HOST:PORT", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("voter %q: %v", part, err)
		}
		if seen[int32(n)] {
			return nil, fmt.Errorf("voter id %d listed twice", n)
		}
		seen[int32(n)] = true
		out = append(out, Voter{ID: int32(n), Addr: addr})
	}
	return out, nil
}

// QuorumConfig configures a metadata quorum member.
type QuorumConfig struct {
	// NodeID is this node's id; with Voters given it must be one of them.
	NodeID int32
	// Listen is the controller listener (bind address, HOST:PORT; port 0 picks one). Empty
	// without Voters: a one-voter quorum talks to no one, so its Raft transport is in memory
	// and it opens no port.
	Listen string
	// Security secures Raft between the voters as the controller listener's protocol says
	// (raftstream.go); the zero value is PLAINTEXT.
	Security RaftSecurity
	// Voters is the whole quorum. Empty: a one-voter quorum of this node (single-node
	// logd), bootstrapped on first start — unless Join.
	Voters []Voter
	// Join starts a node with no voter set of its own that joins an existing quorum
	// (quorum_membership.go): without Raft state it bootstraps nothing and waits for the
	// leader to add it as an observer, then as a voter. It needs Listen (a concrete address:
	// the one the leader dials) and no Voters.
	Join bool
	// ClusterID names the cluster when its first controller finds it unnamed (a data
	// directory of an older release keeps its id); empty means a random id.
	ClusterID string
	// Dir holds the Raft log (LogStore) and snapshots.
	Dir string
	// FS is the filesystem of the Raft log; nil means the operating system's. Snapshots go
	// through the operating system's filesystem (hashicorp/raft's file snapshot store).
	FS vfs.FS
	// Logger receives Raft's logs; nil means slog.Default().
	Logger *slog.Logger
	// SnapshotThreshold and SnapshotInterval: a snapshot is taken when this many entries
	// were applied since the last one, checked every interval; TrailingLogs entries stay in
	// the log after it (for followers slightly behind). Zero means 1024, 30 s and 1024.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// HeartbeatTimeout and ElectionTimeout are Raft's; zero means 500 ms each. A quorum of
	// one voter uses oneVoterTimeout as its heartbeat timeout instead (see OpenQuorum).
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// OnLeaderChange, if set, is called (on one goroutine, in order) each time this node
	// becomes the Raft leader (true) or stops being it (false). It must not block for long.
	OnLeaderChange func(leader bool)
}

// Quorum is one member of the Raft metadata quorum: the replicated ClusterState, the Raft
// node and its transport. The leader is the active controller: only it accepts proposals.
type Quorum struct {
	cfg       QuorumConfig
	log       *slog.Logger
	fsm       *fsm
	store     *LogStore
	transport raft.Transport
	progress  *voterProgress // what the leader hears from the other voters (quorum_status.go)
	members   membership     // serializes voter changes (quorum_membership.go)
	closeTr   func() error   // closes transport
	raft      *raft.Raft
	done      chan struct{}
	wg        sync.WaitGroup
}

// OpenQuorum starts this node's Raft member, bootstrapping the quorum if its log is empty.
func OpenQuorum(cfg QuorumConfig) (*Quorum, error) {
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 1024
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = 30 * time.Second
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 1024
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 500 * time.Millisecond
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = 500 * time.Millisecond
	}
	if cfg.Join && (len(cfg.Voters) > 0 || cfg.Listen == "") {
		return nil, fmt.Errorf("node %d: joining a quorum takes a controller listener and no voter set of its own", cfg.NodeID)
	}
	voters := slices.Clone(cfg.Voters)
	if len(voters) == 0 && !cfg.Join {
		voters = []Voter{{ID: cfg.NodeID, Addr: cfg.Listen}}
	}
	// A lone voter without a listener can never have another (voters are added over the
	// controller listener): it may start as fast as Raft allows (see below). One with a
	// listener may grow, and keeps timeouts a quorum of several can live with.
	alone := len(voters) == 1 && cfg.Listen == ""
	sw := &slogWriter{log: cfg.Logger}
	if len(voters) == 1 {
		sw.routine = "heartbeat timeout reached, starting election" // how a lone voter starts
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, DisableTime: true, Output: sw})
	self := slices.IndexFunc(voters, func(v Voter) bool { return v.ID == cfg.NodeID })
	if self < 0 && !cfg.Join {
		return nil, fmt.Errorf("node %d is not among the quorum voters %v", cfg.NodeID, voters)
	}
	if err := cfg.Security.check(); err != nil {
		return nil, err
	}
	progress := &voterProgress{byID: map[raft.ServerID]heardFrom{}}
	transport, closeTr, err := openTransport(cfg, voters, self, hlog, progress)
	if err != nil {
		return nil, err
	}
	if self >= 0 {
		voters[self].Addr = string(transport.LocalAddr())
	}

	store, err := OpenLogStore(cfg.FS, filepath.Join(cfg.Dir, "raft"))
	if err != nil {
		closeTr()
		return nil, err
	}
	snapDir := filepath.Join(cfg.Dir, "snapshots")
	if err := os.MkdirAll(snapDir, 0o755); err != nil {
		store.Close()
		closeTr()
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(snapDir, 2, hlog)
	if err != nil {
		store.Close()
		closeTr()
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	rc.Logger = hlog
	rc.SnapshotThreshold, rc.SnapshotInterval, rc.TrailingLogs = cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs
	rc.HeartbeatTimeout, rc.ElectionTimeout = cfg.HeartbeatTimeout, cfg.ElectionTimeout
	if alone {
		// hashicorp/raft starts every node as a follower that waits a heartbeat timeout
		// (randomized up to twice that) for a leader before it runs for election, even when
		// it is the only voter: 0.5-1 s before a single node could serve. Alone it has no
		// leader to wait for and no follower to lease from. The election timeout stays: the
		// lone candidate wins as soon as its vote is on disk, and a timeout shorter than
		// that fsync would only restart the election.
		rc.HeartbeatTimeout = oneVoterTimeout
	}
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, rc.HeartbeatTimeout)
	rc.CommitTimeout = 5 * time.Millisecond

	exists, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.Close()
		closeTr()
		return nil, err
	}
	if !exists && !cfg.Join {
		var servers []raft.Server
		for _, v := range voters {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(v.ID))), Address: raft.ServerAddress(v.Addr)})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, transport, raft.Configuration{Servers: servers}); err != nil {
			store.Close()
			closeTr()
			return nil, fmt.Errorf("bootstrap the metadata quorum: %w", err)
		}
	}
	f := &fsm{state: NewClusterState(""), changed: make(chan struct{})}
	r, err := raft.NewRaft(rc, f, store, store, snaps, transport)
	if err != nil {
		store.Close()
		closeTr()
		return nil, err
	}
	progress.node.Store(r)
	q := &Quorum{cfg: cfg, log: cfg.Logger, fsm: f, store: store, transport: transport, progress: progress, closeTr: closeTr, raft: r, done: make(chan struct{})}
	q.wg.Add(1)
	go q.watchLeadership()
	return q, nil
}

// oneVoterTimeout is Raft's heartbeat and leader lease timeout in a quorum of one voter:
// hashicorp/raft's minimum, 5 ms. The election starts 5-10 ms after the start; the leader
// re-checks its lease every 10 ms (a timer, nothing sent).
const oneVoterTimeout = 5 * time.Millisecond

// openTransport opens the quorum's Raft transport: TCP on cfg.Listen (secured as
// cfg.Security says: a secureStream under hashicorp/raft's network transport), or — for a
// quorum of one voter without a listener — hashicorp/raft's in-memory transport, which
// nothing else can reach (the voter never sends itself a message). Its address is a fixed
// name, so the one voter's address in the Raft configuration stays the same across restarts.
// The TCP transport records the other voters' replies in progress (quorum_status.go).
func openTransport(cfg QuorumConfig, voters []Voter, self int, hlog hclog.Logger, progress *voterProgress) (raft.Transport, func() error, error) {
	if cfg.Listen == "" {
		if len(voters) != 1 {
			return nil, nil, fmt.Errorf("node %d: a quorum of %d voters needs a controller listener", cfg.NodeID, len(voters))
		}
		_, tr := raft.NewInmemTransport(raft.ServerAddress("inmem:node-" + strconv.Itoa(int(cfg.NodeID))))
		return tr, tr.Close, nil
	}
	// Other voters reach this one at its address in the voter list; a single voter needs no
	// one to reach it and advertises what it bound.
	var advertise net.Addr
	if len(cfg.Voters) > 0 {
		a, err := net.ResolveTCPAddr("tcp", voters[self].Addr)
		if err != nil {
			return nil, nil, fmt.Errorf("voter %d address %q: %w", cfg.NodeID, voters[self].Addr, err)
		}
		advertise = a
	}
	if !cfg.Security.plaintext() {
		stream, err := newSecureStream(cfg.Listen, advertise, cfg.Security, cfg.Logger)
		if err != nil {
			return nil, nil, fmt.Errorf("controller listener %s: %w", cfg.Listen, err)
		}
		tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog})
		return &progressTransport{NetworkTransport: tr, progress: progress}, tr.Close, nil
	}
	tr, err := raft.NewTCPTransportWithLogger(cfg.Listen, advertise, 3, 10*time.Second, hlog)
	if err != nil {
		return nil, nil, fmt.Errorf("controller listener %s: %w", cfg.Listen, err)
	}
	return &progressTransport{NetworkTransport: tr, progress: progress}, tr.Close, nil
}

// watchLeadership tells OnLeaderChange about leadership changes, corrects this node's own
// address in the Raft configuration when it leads (updateOwnAddress) and names the cluster
// when this node first leads a quorum that has no name.
func (q *Quorum) watchLeadership() {
	defer q.wg.Done()
	for {
		select {
		case <-q.done:
			return
		case leader := <-q.raft.LeaderCh():
			if q.cfg.OnLeaderChange != nil {
				q.cfg.OnLeaderChange(leader)
			}
			if leader {
				q.updateOwnAddress()
			}
			if !leader || q.State().ClusterID != "" {
				continue
			}
			name := q.cfg.ClusterID
			if name == "" {
				var id TopicID
				rand.Read(id[:])
				name = id.String()
			}
			if _, err := q.Propose(&InitCluster{ClusterID: name}, 5*time.Second); err != nil {
				q.log.Warn("could not name the cluster; the next leader will", "err", err)
			}
		}
	}
}

// Propose replicates a command and returns its result once a quorum has committed it and
// this node has applied it. A refusal by the state machine comes back as the error.
func (q *Quorum) Propose(cmd any, timeout time.Duration) (any, error) {
	data, err := EncodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	fut := q.raft.Apply(data, timeout)
	if err := fut.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: %v", ErrNotController, err)
		}
		return nil, err
	}
	res := fut.Response().(applyResult)
	return res.value, res.err
}

// State returns a copy of the cluster state as this node has applied it (followers lag the
// controller by a little).
func (q *Quorum) State() *ClusterState {
	q.fsm.mu.RLock()
	defer q.fsm.mu.RUnlock()
	return q.fsm.state.Clone()
}

// Watch returns a copy of the applied state and a channel closed at the next change of it,
// so a caller can follow every change without missing one:
//
//	for st, ch := q.Watch(); ; st, ch = q.Watch() { use(st); <-ch }
func (q *Quorum) Watch() (*ClusterState, <-chan struct{}) {
	q.fsm.mu.RLock()
	defer q.fsm.mu.RUnlock()
	return q.fsm.state.Clone(), q.fsm.changed
}

// Broker returns a copy of a broker's registration as this node has applied it.
func (q *Quorum) Broker(id int32) (BrokerRegistration, bool) {
	q.fsm.mu.RLock()
	defer q.fsm.mu.RUnlock()
	b, ok := q.fsm.state.Brokers[id]
	if !ok {
		return BrokerRegistration{}, false
	}
	return *b, true
}

// Unfenced returns the unfenced brokers as this node has applied them, sorted by id.
func (q *Quorum) Unfenced() []BrokerRegistration {
	q.fsm.mu.RLock()
	defer q.fsm.mu.RUnlock()
	return q.fsm.state.Unfenced()
}

// IsController reports whether this node is the Raft leader.
func (q *Quorum) IsController() bool { return q.raft.State() == raft.Leader }

// Controller returns the current leader's node id, or -1 when there is none.
func (q *Quorum) Controller() int32 {
	_, id := q.raft.LeaderWithID()
	n, err := strconv.Atoi(string(id))
	if err != nil {
		return -1
	}
	return int32(n)
}

// Addr is the controller listener's bound address (a name, for an in-memory transport).
func (q *Quorum) Addr() string { return string(q.transport.LocalAddr()) }

// Barrier waits until this node has applied everything committed before the call (a leader
// calls it after taking over, before trusting its state).
func (q *Quorum) Barrier(timeout time.Duration) error { return q.raft.Barrier(timeout).Error() }

// TransferLeadership hands the Raft leadership to another voter (before a clean shutdown,
// so the quorum does not wait out an election timeout).
func (q *Quorum) TransferLeadership() error { return q.raft.LeadershipTransfer().Error() }

// Snapshot takes a snapshot now and compacts the log behind it.
func (q *Quorum) Snapshot() error { return q.raft.Snapshot().Error() }

// Close stops the Raft member, its listener and its log store.
func (q *Quorum) Close() error {
	close(q.done)
	err := q.raft.Shutdown().Error()
	q.wg.Wait()
	if cerr := q.closeTr(); err == nil {
		err = cerr
	}
	if cerr := q.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsm adapts ClusterState to raft.FSM: Apply runs on Raft's goroutine; mu lets readers copy
// the state meanwhile.
type fsm struct {
	mu      sync.RWMutex
	state   *ClusterState // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced at every change of state
}

// changedLocked wakes the watchers of the state. REQUIRES: f.mu held for writing.
func (f *fsm) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

type applyResult struct {
	value any
	err   error
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	cmd, err := DecodeCommand(l.Data)
	if err != nil {
		// A command this version cannot read: refuse it on every voter alike.
		return applyResult{err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.state.Apply(l.Index, cmd)
	f.changedLocked()
	return applyResult{value: v, err: err}
}

// Snapshot implements raft.FSM: a copy now, encoded later off Raft's goroutine.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{state: f.state.Clone()}, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st := NewClusterState("")
	if err := json.NewDecoder(rc).Decode(st); err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	if st.Brokers == nil {
		st.Brokers = map[int32]*BrokerRegistration{}
	}
	if st.Topics == nil {
		st.Topics = map[string]*TopicState{}
	}
	f.mu.Lock()
	f.state = st
	f.changedLocked()
	f.mu.Unlock()
	return nil
}

type fsmSnapshot struct{ state *ClusterState }

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriter(sink)
	if err := json.NewEncoder(w).Encode(s.state); err != nil {
		sink.Cancel()
		return err
	}
	if err := w.Flush(); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

// slogWriter turns hclog's lines ("[LEVEL]  raft: message: k=v") into slog records. A
// warning containing routine, if set, is logged as information.
type slogWriter struct {
	log     *slog.Logger
	routine string
}

func (w *slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[ERROR]": slog.LevelError, "[WARN]": slog.LevelWarn, "[DEBUG]": slog.LevelDebug, "[TRACE]": slog.LevelDebug, "[INFO]": slog.LevelInfo} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			level, line = l, strings.TrimSpace(rest)
			break
		}
	}
	if level == slog.LevelWarn && w.routine != "" && strings.Contains(line, w.routine) {
		level = slog.LevelInfo
	}
	w.log.Log(context.Background(), level, line, "component", "metadata-quorum")
	return len(p), nil
}
