package metadata

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// # The quorum's status (DescribeQuorum, KIP-595/KIP-853)
//
// hashicorp/raft keeps each follower's replication progress to itself, so the leader learns
// it from the answers it gets: progressTransport wraps the TCP transport and records, for
// each voter, the last log index its AppendEntries (and heartbeat) replies report and when it
// last answered. A follower counts as caught up when its last index reaches the leader's as
// the reply arrives. Pipelined replication is turned off so every reply passes through
// AppendEntries (hashicorp/raft falls back to one request at a time, which the metadata log's
// traffic does not notice). Offsets are Raft log indexes: the log end offset is a voter's
// last index, the high watermark the leader's commit index.

// VoterStatus is one voter (or observer) as the leader sees it.
type VoterStatus struct {
	ID int32
	// Directory is the voter's metadata directory id (SetVoterDirectory); zero if unknown.
	Directory TopicID
	// Addr is the voter's Raft (controller listener) address; empty for a lone voter
	// without a listener.
	Addr string
	// LogEnd is the voter's last log index, -1 if the leader has not heard from it.
	LogEnd int64
	// LastFetch and LastCaughtUp are when the voter last answered the leader and last
	// answered with the leader's last index; zero if never.
	LastFetch, LastCaughtUp time.Time
}

// QuorumStatus is the metadata quorum as its leader describes it.
type QuorumStatus struct {
	LeaderID      int32
	LeaderEpoch   int32 // the Raft term
	HighWatermark int64 // the commit index
	Voters        []VoterStatus
	// Observers are the nonvoters replicating the log (quorum_membership.go).
	Observers []VoterStatus
}

// voterProgress is what the leader has heard from each follower. mu is a leaf lock.
type voterProgress struct {
	node atomic.Pointer[raft.Raft] // the local Raft node, once it runs
	mu   sync.Mutex
	byID map[raft.ServerID]heardFrom // guarded by mu
}

type heardFrom struct {
	lastIndex         uint64
	lastReply, caught time.Time
}

// record notes a successful AppendEntries reply of voter id.
func (p *voterProgress) record(id raft.ServerID, resp *raft.AppendEntriesResponse) {
	now := time.Now()
	var leaderLast uint64
	if r := p.node.Load(); r != nil {
		leaderLast = r.LastIndex()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.byID[id]
	h.lastIndex, h.lastReply = resp.LastLog, now
	if resp.LastLog >= leaderLast {
		h.caught = now
	}
	p.byID[id] = h
}

// progressTransport is the TCP transport with replies recorded in progress.
type progressTransport struct {
	*raft.NetworkTransport
	progress *voterProgress
}

// AppendEntries sends the request and records the reply.
func (t *progressTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success {
		t.progress.record(id, resp)
	}
	return err
}

// AppendEntriesPipeline refuses pipelining, so that every reply is recorded.
func (t *progressTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// Status describes the quorum; only its leader can (ErrNotController elsewhere).
func (q *Quorum) Status() (QuorumStatus, error) {
	if q.raft.State() != raft.Leader {
		return QuorumStatus{}, fmt.Errorf("%w: node %d does not lead the metadata quorum (the leader is %d)", ErrNotController, q.cfg.NodeID, q.Controller())
	}
	cf := q.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return QuorumStatus{}, err
	}
	st := QuorumStatus{LeaderID: q.cfg.NodeID, LeaderEpoch: int32(q.raft.CurrentTerm()), HighWatermark: int64(q.raft.CommitIndex())}
	now := time.Now()
	dirs := q.State().VoterDirs
	q.progress.mu.Lock()
	defer q.progress.mu.Unlock()
	for _, s := range cf.Configuration().Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			return QuorumStatus{}, fmt.Errorf("voter id %q in the Raft configuration: %w", s.ID, err)
		}
		v := VoterStatus{ID: int32(id), Directory: dirs[int32(id)], Addr: string(s.Address), LogEnd: -1}
		if s.Suffrage != raft.Voter {
			if h, ok := q.progress.byID[s.ID]; ok {
				v.LogEnd, v.LastFetch, v.LastCaughtUp = int64(h.lastIndex), h.lastReply, h.caught
			}
			st.Observers = append(st.Observers, v)
			continue
		}
		if id != int64(q.cfg.NodeID) {
			if h, ok := q.progress.byID[s.ID]; ok {
				v.LogEnd, v.LastFetch, v.LastCaughtUp = int64(h.lastIndex), h.lastReply, h.caught
			}
		} else {
			v.LogEnd, v.LastFetch, v.LastCaughtUp = int64(q.raft.LastIndex()), now, now
		}
		if _, inmem := q.transport.(*raft.InmemTransport); inmem {
			v.Addr = ""
		}
		st.Voters = append(st.Voters, v)
	}
	slices.SortFunc(st.Voters, func(a, b VoterStatus) int { return int(a.ID - b.ID) })
	slices.SortFunc(st.Observers, func(a, b VoterStatus) int { return int(a.ID - b.ID) })
	return st, nil
}
