package metadata

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// # Growing and shrinking the quorum (KIP-853: AddRaftVoter, RemoveRaftVoter)
//
// The voter set is hashicorp/raft's configuration, kept in the Raft log itself, so a change
// survives every restart of every node. A new controller starts with an empty log and no
// voter set (QuorumConfig.Join): it bootstraps nothing and waits for the leader. The leader
// adds it as a nonvoter (AddObserver, raft.AddNonvoter: it replicates the log but neither
// votes nor counts for commits, Kafka's observer), then AddVoter promotes it once its log
// has reached the leader's commit index. RemoveVoter takes a voter out: a running one stays
// an observer (raft.DemoteVoter), a dead one leaves the configuration (raft.RemoveServer); a
// leader asked to remove itself hands leadership to another voter first, so the quorum never
// waits out an election timeout.
//
// Observers come and go as in Kafka, where an observer is no member of the voter set and the
// leader forgets one that stopped fetching (LeaderState's observer session, 5 minutes): the
// leader's ObserverExpiry takes a nonvoter out of the configuration once it has not answered
// for ObserverSessionTimeout, or for aliveWithin once its broker is fenced or unregistered, so
// a stopped observer is neither listed by DescribeQuorum nor replicated to for ever. One that
// comes back announces itself again (ControllerRegistration) and AddObserver adds it anew.
//
// One change at a time: a second change while one runs is refused at once
// (ErrVoterChangeInProgress), as Kafka's leader refuses it with REQUEST_TIMED_OUT. Each voter's
// directory id (the metadata directory's meta.properties directory.id, KIP-858) is replicated
// in the cluster state (SetVoterDirectory) so DescribeQuorum can show it and RemoveVoter can
// refuse a stale one; voters of the bootstrap voter set have none (zero), as a Kafka static
// quorum's.

// Errors of voter changes.
var (
	// ErrDuplicateVoter: the node is already a voter (Kafka's DUPLICATE_VOTER).
	ErrDuplicateVoter = errors.New("already a voter")
	// ErrVoterNotFound: no voter with that id and directory id (Kafka's VOTER_NOT_FOUND).
	ErrVoterNotFound = errors.New("not a voter")
	// ErrVoterChangeInProgress: another voter change has not finished (Kafka answers
	// REQUEST_TIMED_OUT).
	ErrVoterChangeInProgress = errors.New("another voter change is in progress")
	// ErrVoterNotCaughtUp: the new voter did not reach the leader's log in time (Kafka answers
	// REQUEST_TIMED_OUT).
	ErrVoterNotCaughtUp = errors.New("the new voter has not caught up with the leader")
	// ErrLastVoter: removing the only voter would leave no quorum.
	ErrLastVoter = errors.New("the last voter cannot be removed")
)

// SetVoterDirectory records a voter's directory id (a Kafka Uuid, the TopicID type's
// encoding), or forgets it (Remove). The leader proposes it after each voter change.
type SetVoterDirectory struct {
	ID        int32   `json:"id"`
	Directory TopicID `json:"directory"`
	Remove    bool    `json:"remove,omitempty"`
}

// setVoterDirectory applies SetVoterDirectory.
func (s *ClusterState) setVoterDirectory(c *SetVoterDirectory) {
	if c.Remove {
		delete(s.VoterDirs, c.ID)
		return
	}
	if s.VoterDirs == nil {
		s.VoterDirs = map[int32]TopicID{}
	}
	s.VoterDirs[c.ID] = c.Directory
}

// membership serializes voter changes on the leader: a token, not a lock — a change that
// finds it taken is refused, never waits.
type membership struct {
	changing atomic.Bool // set for the whole of one change
}

// begin takes the token, or returns ErrVoterChangeInProgress; end gives it back.
func (m *membership) begin() error {
	if !m.changing.CompareAndSwap(false, true) {
		return ErrVoterChangeInProgress
	}
	return nil
}

func (m *membership) end() { m.changing.Store(false) }

// serverID is the Raft server id of node id.
func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// server returns node id's entry in the latest Raft configuration.
func (q *Quorum) server(id int32) (raft.Server, bool, error) {
	cf := q.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return raft.Server{}, false, err
	}
	for _, s := range cf.Configuration().Servers {
		if s.ID == serverID(id) {
			return s, true, nil
		}
	}
	return raft.Server{}, false, nil
}

// leaderOnly returns ErrNotController unless this node leads the quorum.
func (q *Quorum) leaderOnly() error {
	if q.raft.State() != raft.Leader {
		return fmt.Errorf("%w: node %d does not lead the metadata quorum (the leader is %d)", ErrNotController, q.cfg.NodeID, q.Controller())
	}
	return nil
}

// raftErr turns a failed configuration change into the package's errors.
func raftErr(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w: %v", ErrNotController, err)
	}
	if errors.Is(err, raft.ErrEnqueueTimeout) {
		return fmt.Errorf("%w: %v", ErrVoterChangeInProgress, err)
	}
	return err
}

// AddObserver makes node id (its controller listener at addr) a nonvoter that replicates the
// log: Kafka's observer. Known nodes keep their place (a voter stays a voter); a known
// observer at a new address is moved there.
func (q *Quorum) AddObserver(id int32, addr string, timeout time.Duration) error {
	if err := q.leaderOnly(); err != nil {
		return err
	}
	s, ok, err := q.server(id)
	if err != nil {
		return err
	}
	if ok && (s.Suffrage == raft.Voter || string(s.Address) == addr) {
		return nil
	}
	return raftErr(q.raft.AddNonvoter(serverID(id), raft.ServerAddress(addr), 0, timeout).Error())
}

// AddVoter adds node id as a voter (AddRaftVoter): as an observer at addr first unless it is
// one, then — once its log has reached the leader's commit index, waiting at most timeout —
// as a voter, and records its directory id. Only the leader can (ErrNotController).
func (q *Quorum) AddVoter(id int32, dir TopicID, addr string, timeout time.Duration) error {
	if err := q.leaderOnly(); err != nil {
		return err
	}
	if err := q.members.begin(); err != nil {
		return err
	}
	defer q.members.end()
	deadline := time.Now().Add(timeout)
	s, ok, err := q.server(id)
	if err != nil {
		return err
	}
	if ok && s.Suffrage == raft.Voter {
		return fmt.Errorf("%w: node %d is a voter of the metadata quorum", ErrDuplicateVoter, id)
	}
	if !ok || string(s.Address) != addr {
		if err := raftErr(q.raft.AddNonvoter(serverID(id), raft.ServerAddress(addr), 0, time.Until(deadline)).Error()); err != nil {
			return err
		}
	}
	if err := q.waitCaughtUp(id, deadline); err != nil {
		if !ok {
			// Added by this call and not there: leave the configuration as it was.
			q.raft.RemoveServer(serverID(id), 0, ProposeTimeout)
		}
		return err
	}
	if err := raftErr(q.raft.AddVoter(serverID(id), raft.ServerAddress(addr), 0, time.Until(deadline)).Error()); err != nil {
		return err
	}
	_, err = q.Propose(&SetVoterDirectory{ID: id, Directory: dir}, max(time.Until(deadline), time.Second))
	return err
}

// waitCaughtUp waits until node id has answered the leader with a log reaching the commit
// index the leader had when the wait began.
func (q *Quorum) waitCaughtUp(id int32, deadline time.Time) error {
	target := q.raft.CommitIndex()
	for {
		q.progress.mu.Lock()
		h, heard := q.progress.byID[serverID(id)]
		q.progress.mu.Unlock()
		if heard && h.lastIndex >= target {
			return nil
		}
		if time.Now().After(deadline) {
			last := "nothing"
			if heard {
				last = "index " + strconv.FormatUint(h.lastIndex, 10)
			}
			return fmt.Errorf("%w: node %d replicated %s of the leader's %d", ErrVoterNotCaughtUp, id, last, target)
		}
		if err := q.leaderOnly(); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RemoveVoter removes voter id from the voters (RemoveRaftVoter): a voter that is running
// (its broker is registered and unfenced, or it answers the leader: answers) becomes an
// observer (raft.DemoteVoter), one that is not leaves the configuration (raft.RemoveServer)
// and its directory id is forgotten. A zero dir
// matches any directory; another must be the voter's recorded one (ErrVoterNotFound
// otherwise). The leader removing itself hands leadership to another voter first and answers
// ErrNotController: the new leader removes it when the request comes again. Only the leader
// can (ErrNotController).
func (q *Quorum) RemoveVoter(id int32, dir TopicID, timeout time.Duration) error {
	if err := q.leaderOnly(); err != nil {
		return err
	}
	if err := q.members.begin(); err != nil {
		return err
	}
	defer q.members.end()
	s, ok, err := q.server(id)
	if err != nil {
		return err
	}
	if !ok || s.Suffrage != raft.Voter {
		return fmt.Errorf("%w: node %d is not a voter of the metadata quorum", ErrVoterNotFound, id)
	}
	if have, known := q.State().VoterDirs[id]; dir != (TopicID{}) && known && have != dir {
		return fmt.Errorf("%w: voter %d has directory id %s, not %s", ErrVoterNotFound, id, have, dir)
	}
	cf := q.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	voters := 0
	for _, sv := range cf.Configuration().Servers {
		if sv.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters == 1 {
		return fmt.Errorf("%w: node %d is the metadata quorum's only voter", ErrLastVoter, id)
	}
	if id == q.cfg.NodeID {
		if err := q.raft.LeadershipTransfer().Error(); err != nil {
			return fmt.Errorf("hand the leadership over before removing node %d: %w", id, err)
		}
		return fmt.Errorf("%w: node %d handed the leadership over to remove itself; ask the new leader (%d)", ErrNotController, id, q.Controller())
	}
	b, registered := q.Broker(id)
	if (registered && !b.Fenced) || q.answers(id, 2*q.cfg.HeartbeatTimeout) {
		// Running: it stays an observer, as a removed Kafka voter keeps fetching.
		return raftErr(q.raft.DemoteVoter(serverID(id), 0, timeout).Error())
	}
	if err := raftErr(q.raft.RemoveServer(serverID(id), 0, timeout).Error()); err != nil {
		return err
	}
	q.progress.mu.Lock()
	delete(q.progress.byID, serverID(id))
	q.progress.mu.Unlock()
	_, err = q.Propose(&SetVoterDirectory{ID: id, Remove: true}, max(timeout, time.Second))
	return err
}

// aliveWithin: a voter that answered the leader this recently is running (RemoveVoter).
const aliveWithin = 5 * time.Second

// answers reports whether node id answered this leader within aliveWithin, waiting up to
// wait for a first answer: a leader elected a moment ago has not heard from every node yet
// (it sends heartbeats every tenth of the heartbeat timeout).
func (q *Quorum) answers(id int32, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		q.progress.mu.Lock()
		h, heard := q.progress.byID[serverID(id)]
		q.progress.mu.Unlock()
		if heard || time.Now().After(deadline) {
			return heard && time.Since(h.lastReply) < aliveWithin
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ObserverSessionTimeout is how long the leader keeps an observer that has stopped answering
// it in the Raft configuration: Kafka's LeaderState.OBSERVER_SESSION_TIMEOUT_MS, after which a
// Kafka leader forgets an observer that stopped fetching.
const ObserverSessionTimeout = 5 * time.Minute

// ObserverExpiry takes the observers that stopped out of the Raft configuration, on the
// leader: in Kafka an observer is no member of the voter set, only a fetcher the leader
// remembers while it fetches; here it is a hashicorp/raft nonvoter, which the leader would
// keep in the configuration — and keep replicating to — forever. One per term of leadership;
// not safe for concurrent use (the controller's term calls Expire from one goroutine).
type ObserverExpiry struct {
	q       *Quorum
	session time.Duration
	since   time.Time           // when this term began: every observer's contact counts from then at the earliest
	seen    map[int32]time.Time // when this term first saw each observer in the configuration
}

// NewObserverExpiry starts expiring observers that have not answered this leader within
// session (ObserverSessionTimeout in production), counting from now at the earliest.
func (q *Quorum) NewObserverExpiry(session time.Duration, now time.Time) *ObserverExpiry {
	return &ObserverExpiry{q: q, session: session, since: now, seen: map[int32]time.Time{}}
}

// Expire removes from the Raft configuration (raft.RemoveServer) each observer that has not
// answered this leader within the session — or within aliveWithin when its broker is fenced or
// not registered (the controller has seen it stop, or it never got as far as registering) —
// counting from the later of its last answer, the start of the term and when this term first
// saw it, and forgets its directory id. It returns the ids removed. A removed observer that
// comes back announces itself again (ControllerRegistration) and is added anew. A voter change
// in progress defers the expiry to the next call; only the leader expires
// (ErrNotController).
func (e *ObserverExpiry) Expire(now time.Time) ([]int32, error) {
	q := e.q
	if err := q.leaderOnly(); err != nil {
		return nil, err
	}
	if q.members.begin() != nil {
		return nil, nil
	}
	defer q.members.end()
	cf := q.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, err
	}
	var removed []int32
	present := map[int32]bool{}
	for _, s := range cf.Configuration().Servers {
		id64, err := strconv.ParseInt(string(s.ID), 10, 32)
		if s.Suffrage == raft.Voter || err != nil {
			continue
		}
		id := int32(id64)
		present[id] = true
		last := e.since
		if first, ok := e.seen[id]; !ok {
			e.seen[id] = now
			last = now
		} else if first.After(last) {
			last = first
		}
		q.progress.mu.Lock()
		if h, ok := q.progress.byID[s.ID]; ok && h.lastReply.After(last) {
			last = h.lastReply
		}
		q.progress.mu.Unlock()
		quiet := now.Sub(last)
		b, registered := q.Broker(id)
		if quiet <= e.session && (quiet <= aliveWithin || registered && !b.Fenced) {
			continue
		}
		if err := raftErr(q.raft.RemoveServer(s.ID, 0, ProposeTimeout).Error()); err != nil {
			return removed, fmt.Errorf("remove observer %d, silent for %s: %w", id, quiet.Round(time.Millisecond), err)
		}
		q.log.Warn("observer left the metadata quorum: it stopped answering the leader", "node", id,
			"silent", quiet.Round(time.Millisecond).String(), "broker_registered", registered, "broker_fenced", b.Fenced)
		removed = append(removed, id)
		delete(present, id)
		q.progress.mu.Lock()
		delete(q.progress.byID, s.ID)
		q.progress.mu.Unlock()
		if _, ok := q.State().VoterDirs[id]; ok { // a demoted voter's
			if _, err := q.Propose(&SetVoterDirectory{ID: id, Remove: true}, ProposeTimeout); err != nil {
				return removed, err
			}
		}
	}
	for id := range e.seen {
		if !present[id] {
			delete(e.seen, id)
		}
	}
	return removed, nil
}

// LeaderContact is when this node last heard from a Raft leader (hashicorp/raft's
// LastContact); zero if never since it started, now on the leader itself.
func (q *Quorum) LeaderContact() time.Time {
	if q.raft.State() == raft.Leader {
		return time.Now()
	}
	return q.raft.LastContact()
}

// Member reports this node's place in the Raft configuration: voter, observer (nonvoter),
// or neither (a joining node the leader has not added yet).
func (q *Quorum) Member() (voter, observer bool) {
	s, ok, err := q.server(q.cfg.NodeID)
	if err != nil || !ok {
		return false, false
	}
	return s.Suffrage == raft.Voter, s.Suffrage != raft.Voter
}

// updateOwnAddress puts this leader's controller listener address in the Raft configuration
// when it is not the one there: a node first started without a listener is in it under its
// in-memory name, one started without a voter list under the address it bound then (its
// port may have changed since); voters added later could not reach either. An address from
// a voter list (perhaps a host name) stays as it is.
func (q *Quorum) updateOwnAddress() {
	if _, inmem := q.transport.(*raft.InmemTransport); inmem {
		return
	}
	s, ok, err := q.server(q.cfg.NodeID)
	addr := q.transport.LocalAddr()
	fromList := len(q.cfg.Voters) > 0 && !strings.HasPrefix(string(s.Address), "inmem:")
	if err != nil || !ok || s.Suffrage != raft.Voter || s.Address == addr || fromList {
		return
	}
	if err := q.raft.AddVoter(s.ID, addr, 0, ProposeTimeout).Error(); err != nil {
		q.log.Warn("could not update this node's address in the metadata quorum", "from", s.Address, "to", addr, "err", err)
		return
	}
	q.log.Info("updated this node's address in the metadata quorum", "from", s.Address, "to", addr)
}
