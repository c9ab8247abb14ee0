package metadata

import (
	"slices"
	"time"
)

// Heartbeats is the controller's view of broker liveness (KRaft's BrokerHeartbeatManager).
// It lives only in the active controller's memory, never in the Raft log: a heartbeat every
// couple of seconds per broker would fill the log with nothing. What the log records are its
// decisions (FenceBroker, UnfenceBroker). A controller that takes over gives every broker a
// full session from the takeover, since it cannot know when they last heartbeat its
// predecessor. Not safe for concurrent use; it takes the time as an argument, never reads a
// clock.
type Heartbeats struct {
	session time.Duration
	last    map[int32]time.Time
	since   time.Time // when this controller took over
}

// NewHeartbeats tracks brokers with a session timeout (broker.session.timeout.ms) from now.
func NewHeartbeats(session time.Duration, now time.Time) *Heartbeats {
	return &Heartbeats{session: session, last: map[int32]time.Time{}, since: now}
}

// Beat records a heartbeat from broker id.
func (h *Heartbeats) Beat(id int32, now time.Time) {
	if now.After(h.last[id]) {
		h.last[id] = now
	}
}

// Expired returns, sorted, the brokers of unfenced whose session has run out: no heartbeat
// (nor takeover) within the session timeout. The controller proposes FenceBroker for each.
func (h *Heartbeats) Expired(unfenced []int32, now time.Time) []int32 {
	var out []int32
	for _, id := range unfenced {
		last := h.last[id]
		if last.Before(h.since) {
			last = h.since
		}
		if now.Sub(last) > h.session {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Unfenced returns copies of the unfenced brokers' registrations, sorted by id.
func (s *ClusterState) Unfenced() []BrokerRegistration {
	var out []BrokerRegistration
	for _, b := range s.Brokers {
		if !b.Fenced {
			out = append(out, *b)
		}
	}
	slices.SortFunc(out, func(a, b BrokerRegistration) int { return int(a.ID) - int(b.ID) })
	return out
}
