package chaos

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clean is a history with no anomaly: two partitions, three acked writes, one indeterminate
// write that made it, and a consumer that saw everything in order.
func clean() *History {
	return &History{
		Start: t0, End: t0.Add(10 * time.Second),
		Acks: []Ack{
			{Partition: 0, Offset: 0, Value: "a", At: t0.Add(time.Second)},
			{Partition: 1, Offset: 0, Value: "b", At: t0.Add(2 * time.Second)},
			{Partition: 0, Offset: 1, Value: "c", At: t0.Add(9 * time.Second)},
		},
		Failures: []Failure{{Partition: 1, Value: "d", Err: "timeout"}},
		Polls: []Poll{
			{Consumer: 0, Partition: 0, Offset: 0, Value: "a"},
			{Consumer: 0, Partition: 1, Offset: 0, Value: "b"},
			{Consumer: 0, Partition: 0, Offset: 1, Value: "c"},
			{Consumer: 0, Partition: 1, Offset: 1, Value: "d"},
		},
		Final: map[int32][]Record{
			0: {{0, "a"}, {1, "c"}},
			1: {{0, "b"}, {1, "d"}},
		},
	}
}

func TestCheckClean(t *testing.T) {
	r := Check(clean())
	if r.Anomalies() != 0 {
		t.Fatalf("anomalies in a clean history: %+v", r)
	}
	if r.Acked != 3 || r.Indeterminate != 1 || r.Definite != 0 || r.Polled != 4 {
		t.Fatalf("counts: %+v", r)
	}
	if r.Unavailable != 7*time.Second {
		t.Fatalf("longest without ack %v, want 7s", r.Unavailable)
	}
	if r.PartitionUnavailable[0] != 8*time.Second || r.PartitionUnavailable[1] != 8*time.Second {
		t.Fatalf("per partition %v, want 8s each", r.PartitionUnavailable)
	}
}

// anomalyCase breaks a clean history H and expects count of the checker's report R to be want.
type anomalyCase[H, R any] struct {
	name   string
	break_ func(h H)
	count  func(r R) int
	want   int
}

// runAnomalyCases checks each case against a fresh clean history; a case that wants an anomaly
// also needs the report's total to show it.
func runAnomalyCases[H any, R interface{ Anomalies() int }](t *testing.T, clean func() H, check func(H) R, cases []anomalyCase[H, R]) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := clean()
			c.break_(h)
			r := check(h)
			if got := c.count(r); got != c.want {
				t.Fatalf("got %d, want %d: %+v", got, c.want, r)
			}
			if c.want > 0 && r.Anomalies() == 0 {
				t.Fatalf("Anomalies() misses the class: %+v", r)
			}
		})
	}
}

func TestCheckAnomalies(t *testing.T) {
	runAnomalyCases(t, clean, Check, []anomalyCase[*History, *Report]{
		{"lost", func(h *History) { h.Final[0] = h.Final[0][:1] }, func(r *Report) int { return r.Lost }, 1},
		{"duplicate", func(h *History) { h.Final[1] = append(h.Final[1], Record{2, "a"}) },
			func(r *Report) int { return r.Duplicates }, 1},
		{"wrong offset", func(h *History) { h.Acks[1].Offset = 5 }, func(r *Report) int { return r.WrongOffset }, 1},
		{"non-monotonic", func(h *History) { h.Polls = append(h.Polls, Poll{Partition: 0, Offset: 1, Value: "c"}) },
			func(r *Report) int { return r.NonMonotonic }, 1},
		{"new session may repeat", func(h *History) {
			h.Polls = append(h.Polls, Poll{Session: 1, Partition: 0, Offset: 0, Value: "a"})
		}, func(r *Report) int { return r.Anomalies() }, 0},
		{"skipped", func(h *History) {
			h.Final[0] = append(h.Final[0], Record{2, "e"})
			h.Polls = append(h.Polls[:2], Poll{Partition: 0, Offset: 2, Value: "e"}, h.Polls[3])
		}, func(r *Report) int { return r.Skipped }, 1},
		{"skipped first", func(h *History) { h.Polls = h.Polls[1:] }, func(r *Report) int { return r.Skipped }, 1},
		{"divergent", func(h *History) { h.Polls[3].Value = "x" }, func(r *Report) int { return r.Divergent }, 1},
		{"log start", func(h *History) {
			h.LogStart = map[int32]int64{0: 1}
			h.Polls = h.Polls[1:]
		}, func(r *Report) int { return r.Anomalies() }, 0},
	})
}

func TestTables(t *testing.T) {
	h := clean()
	h.Final[0] = h.Final[0][:1]
	r := Check(h)
	var b bytes.Buffer
	r.WriteTable(&b, "lossy")
	WriteSummary(&b, []string{"lossy"}, []*Report{r})
	out := b.String()
	for _, want := range []string{"lossy", "skipped polls", "lost                 1", `lost: "c" acked at 0/1`, "longest without ack"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
