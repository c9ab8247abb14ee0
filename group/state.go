package group

import "strings"

// State is a group's state (Kafka's GroupState names, classic and consumer).
type State int8

// The classic group states.
//
//	        join                 all joined / timeout        leader's SyncGroup
//	Empty ───────► PreparingRebalance ─────────────► CompletingRebalance ─────────► Stable
//	  ▲                 ▲    │ no member left              │  member joins, leaves,  │
//	  └─────────────────┼────┘                             │  expires or changes     │
//	                    └──────────────────────────────────┴─────────────────────────┘
//	Empty ──(DeleteGroups, or offsets expired)──► Dead (removed)
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
	// Assigning and Reconciling are consumer-protocol (KIP-848) group states: the group
	// epoch is ahead of the target assignment, or some member has not reached the target
	// assignment yet. Such a group is Empty, Assigning, Reconciling or Stable.
	Assigning
	Reconciling
	// NotReady is a streams group (KIP-1071) whose topology is not configured yet: source
	// or internal topics are missing or incorrectly partitioned.
	NotReady
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Assigning", "Reconciling", "NotReady"}

// String returns Kafka's name of the state, as DescribeGroups and ListGroups report it.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

// ParseState parses a state name case-insensitively, as Kafka does for ListGroups filters.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, name) {
			return State(i), true
		}
	}
	return 0, false
}
