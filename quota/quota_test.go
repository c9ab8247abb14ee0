package quota

import (
	"net"
	"testing"
	"time"

	"github.com/logd/logd/metadata"
)

func ptr(s string) *string { return &s }

// TestPrecedence: the first quota set in Kafka's order applies.
func TestPrecedence(t *testing.T) {
	m := New(Config{})
	q := func(v float64, ent ...metadata.QuotaEntity) metadata.ClientQuota {
		return metadata.ClientQuota{Entity: ent, Values: map[string]float64{metadata.ProducerByteRate: v}}
	}
	user := func(n *string) metadata.QuotaEntity { return metadata.QuotaEntity{Type: metadata.QuotaUser, Name: n} }
	client := func(n *string) metadata.QuotaEntity {
		return metadata.QuotaEntity{Type: metadata.QuotaClientID, Name: n}
	}
	all := []metadata.ClientQuota{
		q(8, client(nil)), q(7, client(ptr("app"))), q(6, user(nil)), q(5, client(nil), user(nil)),
		q(4, client(ptr("app")), user(nil)), q(3, user(ptr("alice"))), q(2, client(nil), user(ptr("alice"))),
		q(1, client(ptr("app")), user(ptr("alice"))),
	}
	for n := len(all); n > 0; n-- {
		m.Update(uint64(len(all)-n+1), all[:n])
		v, _, ok := m.limit(Produce, "alice", "app")
		// all[:n] holds the n lowest in precedence: the highest of them, len(all)+1-n, applies.
		if want := float64(len(all) + 1 - n); !ok || v != want {
			t.Fatalf("with the %d lowest quotas: got %v %v, want %v", n, v, ok, want)
		}
	}
	if _, _, ok := m.limit(Fetch, "alice", "app"); ok {
		t.Fatal("a produce quota applied to fetches")
	}
	m.Update(100, []metadata.ClientQuota{q(6, user(nil))})
	_, a, _ := m.limit(Produce, "alice", "x")
	_, b, _ := m.limit(Produce, "bob", "x")
	if a == b {
		t.Fatal("a default user quota is shared between users")
	}
}

// TestThrottle: a sensor under its quota is not throttled; over it, the throttle is what
// brings the rate back to the quota, as Kafka computes it.
func TestThrottle(t *testing.T) {
	m := New(Config{})
	m.Update(1, []metadata.ClientQuota{{Entity: []metadata.QuotaEntity{{Type: metadata.QuotaClientID, Name: ptr("app")}},
		Values: map[string]float64{metadata.ProducerByteRate: 1000}}})
	now := time.Unix(1000, 0)
	// A new sensor measures over at least 10 windows: 9 KB in the first second is 900 B/s.
	if d := m.Record(Produce, "alice", "app", 9000, now); d != 0 {
		t.Fatalf("throttled %v within the quota", d)
	}
	// 20 KB more at 0.5 s: 29 KB over 10.5 s (0.5 s and 10 padding windows) is 2762 B/s,
	// 1.762× over the quota: throttle 1.762 × 10.5 s.
	if d := m.Record(Produce, "alice", "app", 20000, now.Add(500*time.Millisecond)); d != 18500*time.Millisecond {
		t.Fatalf("throttle %v, want 18.5s", d)
	}
	if d := m.Record(Produce, "alice", "other", 1<<20, now); d != 0 {
		t.Fatalf("a client without a quota throttled %v", d)
	}
	// After the whole span the old samples are gone.
	if d := m.Record(Produce, "alice", "app", 100, now.Add(12*time.Second)); d != 0 {
		t.Fatalf("throttled %v after the window passed", d)
	}
}

// TestMutate: the token bucket starts full (burst samples × window × rate); strict takes
// while it is not below zero and then refuses with the time to refill to zero; permissive
// always takes, throttled by that time.
func TestMutate(t *testing.T) {
	m := New(Config{Samples: 2, Window: time.Second})
	m.Update(1, []metadata.ClientQuota{{Entity: []metadata.QuotaEntity{{Type: metadata.QuotaUser, Name: ptr("alice")}},
		Values: map[string]float64{metadata.ControllerMutationRate: 2}}})
	now := time.Unix(1000, 0)
	// Burst 2 × 1 s × 2/s = 4: taking 10 leaves -6, unthrottled (strict checks before).
	if d, ok := m.Mutate("alice", "c", 10, true, now); !ok || d != 0 {
		t.Fatalf("first take: %v %v, want accepted unthrottled", d, ok)
	}
	// 1 s later: -4, 2 s to refill at 2/s.
	if d, ok := m.Mutate("alice", "c", 1, true, now.Add(time.Second)); ok || d != 2*time.Second {
		t.Fatalf("strict below zero: %v %v, want refused, 2s", d, ok)
	}
	// Permissive: taken, -5, 2.5 s.
	if d, ok := m.Mutate("alice", "c", 1, false, now.Add(time.Second)); !ok || d != 2500*time.Millisecond {
		t.Fatalf("permissive below zero: %v %v, want accepted, 2.5s", d, ok)
	}
	// Refilled past zero, capped at the burst: accepted again.
	if d, ok := m.Mutate("alice", "c", 4, true, now.Add(time.Minute)); !ok || d != 0 {
		t.Fatalf("after a refill: %v %v", d, ok)
	}
	if d, ok := m.Mutate("bob", "c", 1000, true, now); !ok || d != 0 {
		t.Fatalf("a user without a quota: %v %v", d, ok)
	}
}

// TestRecordRequest: handler time counts in percent of one worker per second, and the
// throttle is capped at one window.
func TestRecordRequest(t *testing.T) {
	m := New(Config{Samples: 11, Window: time.Second})
	m.Update(1, []metadata.ClientQuota{{Entity: []metadata.QuotaEntity{{Type: metadata.QuotaClientID, Name: nil}},
		Values: map[string]float64{metadata.RequestPercentage: 10}}})
	now := time.Unix(1000, 0)
	// 0.5 s of handler time over the first (padded) 10 s: 5% of a worker, within 10%.
	if d := m.RecordRequest("u", "c", 500*time.Millisecond, now); d != 0 {
		t.Fatalf("throttled %v within the quota", d)
	}
	// 1.5 s more: 20% over 10 s, twice the quota: (20-10)/10 × 10 s = 10 s, capped at 1 s.
	if d := m.RecordRequest("u", "c", 1500*time.Millisecond, now); d != time.Second {
		t.Fatalf("throttle %v, want the 1 s cap", d)
	}
}

// TestConnections: the listener limit, the broker limit with the inter-broker listener
// exempt, per-IP limits and overrides, and closing freeing a slot.
func TestConnections(t *testing.T) {
	m := New(Config{})
	c, err := NewConnections(ConnConfig{MaxPerIP: 2, PerIPOverrides: map[string]int{"10.0.0.9": 3}, Max: 4,
		ListenerMax: map[string]int{"EXT": 1}, InterBroker: "INT", Listeners: 3}, m)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 1} }
	steps := []struct {
		listener, ip string
		want         bool
	}{
		{"EXT", "10.0.0.1", true},
		{"EXT", "10.0.0.2", false}, // listener.name.ext.max.connections=1
		{"PLAIN", "10.0.0.1", true},
		{"PLAIN", "10.0.0.1", false}, // max.connections.per.ip=2
		{"PLAIN", "10.0.0.9", true},
		{"PLAIN", "10.0.0.9", true},  // its override is 3
		{"PLAIN", "10.0.0.9", false}, // max.connections=4 reached
		{"INT", "10.0.0.9", true},    // the inter-broker listener is exempt
		{"INT", "10.0.0.9", false},   // but not from the override of 3
	}
	for i, s := range steps {
		if got := c.Admit(s.listener, addr(s.ip)); got != s.want {
			t.Fatalf("step %d (%s from %s): admitted %v, want %v", i, s.listener, s.ip, got, s.want)
		}
	}
	c.Closed("EXT", addr("10.0.0.1"))
	c.Closed("PLAIN", addr("10.0.0.1"))
	if !c.Admit("EXT", addr("10.0.0.2")) {
		t.Fatal("the listener's and the broker's slots were not freed by Closed")
	}
	for r, want := range map[Refusal]int64{TooManyOnListener: 1, TooManyFromIP: 2, TooManyOnBroker: 1} {
		if got := c.Refused(r); got != want {
			t.Fatalf("refusal %d counted %d times, want %d", r, got, want)
		}
	}
}
