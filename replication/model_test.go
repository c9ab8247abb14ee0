package replication

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for TestRandomClusterHistories (0: time-based)")

// TestRandomClusterHistories drives the scenario simulator with random histories: produces
// with both acks, fetches (some of whose responses are lost), follower restarts, replicas going
// down and up, clock ticks, ISR changes committed or rejected, and clean leader elections
// (a live member of the committed ISR). After every step the simulator's invariants hold, and:
//   - no acknowledged offset is ever missing from a new leader (clean elections lose nothing);
//   - a follower that has finished truncating holds a prefix of the leader's log.
func TestRandomClusterHistories(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -args -seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	for history := 0; history < 200; history++ {
		s := &sim{t: t}
		var log []string
		run := func(cmd string) string {
			log = append(log, cmd)
			out := s.run(cmd)
			if err := s.checkInvariants(); err != nil {
				t.Fatalf("seed %d history %d: %v\nhistory:\n%s", seed, history, err, strings.Join(log, "\n"))
			}
			if strings.Contains(out, "LOST") {
				t.Fatalf("seed %d history %d: clean election lost data: %s\nhistory:\n%s", seed, history, out, strings.Join(log, "\n"))
			}
			return out
		}
		run(fmt.Sprintf("cluster replicas=1,2,3 lag=%d min-isr=%d", 100+rng.IntN(400), 1+rng.IntN(2)))
		run("elect leader=1 isr=1,2,3")
		for step := 0; step < 150; step++ {
			id := 1 + rng.IntN(3)
			switch k := rng.IntN(100); {
			case k < 25:
				acks := "all"
				if rng.IntN(3) == 0 {
					acks = "1"
				}
				run(fmt.Sprintf("produce n=%d acks=%s timeout=%d", 1+rng.IntN(3), acks, 50+rng.IntN(500)))
			case k < 55:
				if int32(id) != s.leader.ID() {
					if rng.IntN(8) == 0 {
						if !s.replica(int32(id)).down {
							run(fmt.Sprintf("fetch replica=%d lost-response", id))
						}
					} else {
						run(fmt.Sprintf("fetch replica=%d max=%d", id, 1+rng.IntN(4)))
					}
				}
			case k < 65:
				run(fmt.Sprintf("tick ms=%d", rng.IntN(200)))
			case k < 75:
				if rng.IntN(4) == 0 {
					run("alter-isr reject")
				} else {
					run("alter-isr commit")
				}
			case k < 82:
				if int32(id) != s.leader.ID() {
					run(fmt.Sprintf("restart replica=%d", id))
				}
			case k < 90:
				if int32(id) != s.leader.ID() {
					if s.replica(int32(id)).down {
						run(fmt.Sprintf("up replica=%d", id))
					} else {
						run(fmt.Sprintf("down replica=%d", id))
					}
				}
			default:
				// A clean election: the old leader is gone; a live member of the committed
				// ISR takes over, and the ISR keeps its members (the controller would fence the
				// dead broker out of it later).
				var live []int32
				for _, m := range s.state.ISR {
					if m != s.leader.ID() && !s.replica(m).down {
						live = append(live, m)
					}
				}
				if len(live) == 0 {
					continue
				}
				old := s.leader.ID()
				run(fmt.Sprintf("down replica=%d", old))
				next := live[rng.IntN(len(live))]
				isr := slices.Clone(s.state.ISR)
				run(fmt.Sprintf("elect leader=%d isr=%s", next, joinIDs(isr)))
				run(fmt.Sprintf("up replica=%d", old))
				run(fmt.Sprintf("restart replica=%d", old))
			}
			ldr := s.replica(s.leader.ID())
			for _, r := range s.replicas {
				if r == ldr || r.truncating {
					continue
				}
				if len(r.records) > len(ldr.records) || !slices.Equal(r.records, ldr.records[:len(r.records)]) {
					t.Fatalf("seed %d history %d: replica %d log %v is not a prefix of leader %d's %v\nhistory:\n%s",
						seed, history, r.id, r.records, ldr.id, ldr.records, strings.Join(log, "\n"))
				}
			}
		}
	}
}

func joinIDs(ids []int32) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprint(id))
	}
	return strings.Join(parts, ",")
}
