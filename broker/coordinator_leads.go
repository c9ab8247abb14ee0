package broker

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/replication"
)

// coordinatorLeads keeps one coordinator (C) per partition of an internal topic this broker
// leads: the group coordinators of __consumer_offsets (groups.go) and the transaction
// coordinators of __transaction_state (txns.go). Lead, Follow and Resign of a partition of
// the topic poke it (leadershipChanged); run then closes the coordinator of every lead that
// ended and loads one for every new LeaderPartition, replaying that partition's local log (as
// leader it holds every committed record). A key (group, transactional id) lives in
// partition group.PartitionFor(key): a request for a key whose partition is not led here
// gets NOT_COORDINATOR, one whose leader has not loaded it yet COORDINATOR_LOAD_IN_PROGRESS.
type coordinatorLeads[C any] struct {
	topic  string
	what   string // what the coordinators hold, for logs
	load   func(p, partitions int32, lp *replication.LeaderPartition) (C, error)
	unload func(C)
	kick   chan struct{}
	// onLoad, if set, is called with the partitions whose coordinators a pass of run has
	// just published (outside mu).
	onLoad func(ps []int32)

	// mu serializes loading and closing the coordinators; lock order: mu, then admin.
	mu     sync.Mutex
	closed bool // guarded by mu
	// lead is the loaded coordinators by partition, published under mu whole, never
	// modified.
	lead atomic.Pointer[map[int32]*coordinatorLead[C]]
}

// coordinatorLead is the coordinator loaded for one lead of one partition.
type coordinatorLead[C any] struct {
	parts int32 // the topic's partition count it maps keys with
	lp    *replication.LeaderPartition
	coord C
}

func newCoordinatorLeads[C any](topic, what string, load func(p, partitions int32, lp *replication.LeaderPartition) (C, error), unload func(C)) *coordinatorLeads[C] {
	return &coordinatorLeads[C]{topic: topic, what: what, load: load, unload: unload, kick: make(chan struct{}, 1)}
}

// internalTopic reports whether name is a coordinator's topic (__consumer_offsets,
// __transaction_state): listed as internal, and never deleted or grown by clients (keys map
// to partitions by hash modulo the partition count, which must never change).
func internalTopic(name string) bool {
	return name == offsetsTopic || name == txnTopic || name == shareStateTopic
}

// openLeadJournal replays partition p of a coordinator topic and opens a journal that
// appends through lp (acks=all): the one partition a coordinator lead holds.
func (b *Broker) openLeadJournal(topic string, p, partitions int32, lp *replication.LeaderPartition) (*group.LogJournal, *group.Replay, error) {
	part, err := b.partition(topic, p)
	if err != nil {
		return nil, nil, err
	}
	logs := make([]*engine.Log, partitions) // only p's: the journal holds no other partition
	logs[p] = part.log
	return group.OpenLogJournal(logs, group.JournalConfig{Append: replicatedAppend(lp, part.log, acksAll(lp))})
}

// leadsResync is how often the coordinators check the leadership without a kick.
const leadsResync = 500 * time.Millisecond

// poke asks run for a pass.
func (s *coordinatorLeads[C]) poke() {
	select {
	case s.kick <- struct{}{}:
	default: // a pass is due anyway
	}
}

// get is the coordinator of key: that of its partition while this broker leads it.
func (s *coordinatorLeads[C]) get(b *Broker, key string) (C, *kerr.Error) {
	var none C
	t, ok := b.cluster.Topic(s.topic)
	if !ok {
		return none, kerr.NotCoordinator
	}
	p := group.PartitionFor(key, t.Partitions)
	lp := b.Leading(s.topic, p)
	if lp == nil {
		if pa, ok := b.cluster.Partition(s.topic, p); ok && pa.Leader == b.cfg.NodeID {
			// Named leader, the metadata listener has not taken it yet: retry shortly.
			return none, kerr.CoordinatorLoadInProgress
		}
		return none, kerr.NotCoordinator
	}
	if m := s.lead.Load(); m != nil {
		if l := (*m)[p]; l != nil && l.lp == lp && l.parts == t.Partitions {
			return l.coord, nil
		}
	}
	s.poke()
	return none, kerr.CoordinatorLoadInProgress
}

// all is every coordinator of this broker, one per partition it leads (ListGroups,
// ListTransactions); COORDINATOR_LOAD_IN_PROGRESS while a partition it leads is not loaded
// yet.
func (s *coordinatorLeads[C]) all(b *Broker) ([]C, *kerr.Error) {
	t, ok := b.cluster.Topic(s.topic)
	if !ok {
		return nil, nil
	}
	m := s.lead.Load()
	var out []C
	for p := int32(0); p < t.Partitions; p++ {
		lp := b.Leading(s.topic, p)
		if lp == nil {
			continue
		}
		var l *coordinatorLead[C]
		if m != nil {
			l = (*m)[p]
		}
		if l == nil || l.lp != lp || l.parts != t.Partitions {
			s.poke()
			return nil, kerr.CoordinatorLoadInProgress
		}
		out = append(out, l.coord)
	}
	return out, nil
}

// ofPartition is the coordinator loaded for partition p while lp (this broker's current lead
// of it) holds it.
func (s *coordinatorLeads[C]) ofPartition(p int32, lp *replication.LeaderPartition) (C, bool) {
	var none C
	if m := s.lead.Load(); m != nil {
		if l := (*m)[p]; l != nil && l.lp == lp {
			return l.coord, true
		}
	}
	return none, false
}

// loaded is every coordinator already loaded.
func (s *coordinatorLeads[C]) loaded() []C {
	var out []C
	if m := s.lead.Load(); m != nil {
		for _, l := range *m {
			out = append(out, l.coord)
		}
	}
	return out
}

// run keeps the coordinators in line with the leadership until the broker closes.
func (s *coordinatorLeads[C]) run(b *Broker) {
	t := time.NewTicker(leadsResync)
	defer t.Stop()
	for {
		select {
		case <-b.closing:
			return
		case <-s.kick:
		case <-t.C:
		}
		if ps := s.sync(b); len(ps) > 0 && s.onLoad != nil {
			s.onLoad(ps)
		}
	}
}

// sync closes the coordinators of leads that ended and loads one for each new lead,
// returning the partitions it loaded.
func (s *coordinatorLeads[C]) sync(b *Broker) (loaded []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	t, exists := b.cluster.Topic(s.topic)
	next := map[int32]*coordinatorLead[C]{}
	var ended []*coordinatorLead[C]
	if m := s.lead.Load(); m != nil {
		for p, l := range *m {
			if !exists || l.parts != t.Partitions || b.Leading(s.topic, p) != l.lp {
				ended = append(ended, l)
				b.log.Info("closing a coordinator of "+s.what+": no longer leading its partition", "partition", s.topic+"-"+strconv.Itoa(int(p)))
				continue
			}
			next[p] = l
		}
	}
	if len(ended) > 0 {
		s.lead.Store(&next) // unpublished before closed
		for _, l := range ended {
			s.unload(l.coord)
		}
	}
	if !exists {
		return nil
	}
	for p := int32(0); p < t.Partitions; p++ {
		lp := b.Leading(s.topic, p)
		if next[p] != nil || lp == nil {
			continue
		}
		c, err := s.load(p, t.Partitions, lp)
		if err != nil {
			b.log.Warn("cannot load a partition's "+s.what+"; retrying", "partition", s.topic+"-"+strconv.Itoa(int(p)), "err", err)
			continue
		}
		cur := make(map[int32]*coordinatorLead[C], len(next)+1)
		for q, l := range next {
			cur[q] = l
		}
		cur[p] = &coordinatorLead[C]{parts: t.Partitions, lp: lp, coord: c}
		next = cur
		s.lead.Store(&next)
		loaded = append(loaded, p)
	}
	return loaded
}

// close closes every coordinator (waiting for a load in progress); none is loaded after it.
// Called by Close before the engine closes.
func (s *coordinatorLeads[C]) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if m := s.lead.Swap(nil); m != nil {
		for _, l := range *m {
			s.unload(l.coord)
		}
	}
}
