package quota

import (
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
