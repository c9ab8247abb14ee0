package chaos

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// cleanTxn is a transactional history with no anomaly: a worker transaction that carried both
// input values across two partitions, a committed and an aborted direct transaction, one whose
// commit failed and did not happen, commit markers between them, and a consumer that saw every
// committed record after its commit.
func cleanTxn() *TxnHistory {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	w0 := []TxnRecord{{0, TxnValue("w0.0", 0, 2, "i0"), 0}, {1, TxnValue("w0.0", 1, 2, "i1"), 0}}
	d0 := []TxnRecord{{0, TxnValue("d0.0", 0, 2, "-"), 2}, {1, TxnValue("d0.0", 1, 2, "-"), 2}}
	d1 := []TxnRecord{{1, TxnValue("d0.1", 0, 1, "-"), 4}}
	d2 := []TxnRecord{{0, TxnValue("d0.2", 0, 2, "-"), -1}, {1, TxnValue("d0.2", 1, 2, "-"), -1}}
	end0, end1 := sentinelPrefix+"0", sentinelPrefix+"1"
	return &TxnHistory{
		Input: &History{Start: t0, End: at(10),
			Acks:  []Ack{{0, 0, "i0", at(1)}, {0, 1, "i1", at(1)}},
			Final: map[int32][]Record{0: {{0, "i0"}, {1, "i1"}}}},
		Output: &History{Start: t0, End: at(10),
			Polls: []Poll{
				{Partition: 0, Offset: 0, Value: w0[0].Value, At: at(5)},
				{Partition: 1, Offset: 0, Value: w0[1].Value, At: at(5)},
				{Partition: 0, Offset: 2, Value: d0[0].Value, At: at(5)},
				{Partition: 1, Offset: 2, Value: d0[1].Value, At: at(5)},
				{Partition: 0, Offset: 4, Value: end0, At: at(9)},
				{Partition: 1, Offset: 6, Value: end1, At: at(9)},
			},
			Final: map[int32][]Record{
				0: {{0, w0[0].Value}, {2, d0[0].Value}, {4, end0}},
				1: {{0, w0[1].Value}, {2, d0[1].Value}, {6, end1}},
			}},
		Uncommitted: map[int32][]Record{
			0: {{0, w0[0].Value}, {2, d0[0].Value}, {4, end0}},
			1: {{0, w0[1].Value}, {2, d0[1].Value}, {4, d1[0].Value}, {6, end1}},
		},
		Txns: []Txn{
			{ID: "w0.0", Records: w0, Outcome: TxnCommitted, CommitAt: at(2)},
			{ID: "d0.0", Records: d0, Outcome: TxnCommitted, CommitAt: at(3)},
			{ID: "d0.1", Records: d1, Outcome: TxnAborted, Err: "on purpose"},
			{ID: "d0.2", Records: d2, Outcome: TxnUnknown, CommitAt: at(4), Err: "timeout"},
		},
		Drained: true,
	}
}

func TestCheckTxnClean(t *testing.T) {
	r := CheckTxn(cleanTxn())
	if r.Anomalies() != 0 {
		t.Fatalf("anomalies in a clean history: %+v\noutput %+v\ninput %+v", r, r.Output, r.Input)
	}
	if r.Committed != 2 || r.Aborted != 1 || r.Unknown != 1 || r.AbortedInLog != 1 || r.Output.Polled != 6 {
		t.Fatalf("counts: %+v", r)
	}
}

func TestCheckTxnAnomalies(t *testing.T) {
	aborted := TxnValue("d0.1", 0, 1, "-")
	runAnomalyCases(t, cleanTxn, CheckTxn, []anomalyCase[*TxnHistory, *TxnReport]{
		{"aborted read in the final read", func(h *TxnHistory) {
			f := h.Output.Final[1]
			h.Output.Final[1] = append(f[:2:2], Record{4, aborted}, f[2])
		}, func(r *TxnReport) int { return r.AbortedReads }, 1},
		{"aborted read in a poll", func(h *TxnHistory) {
			h.Output.Polls = append(h.Output.Polls, Poll{Consumer: 1, Partition: 1, Offset: 4, Value: aborted, At: t0})
		}, func(r *TxnReport) int { return r.AbortedReads }, 1},
		{"pre-committed read", func(h *TxnHistory) {
			h.Output.Polls = append(h.Output.Polls, Poll{Consumer: 1, Partition: 0, Offset: 0,
				Value: h.Output.Final[0][0].Value, At: t0.Add(time.Second)})
		}, func(r *TxnReport) int { return r.PreCommitted }, 1},
		{"read after the commit was asked", func(h *TxnHistory) {
			h.Output.Polls = append(h.Output.Polls, Poll{Consumer: 1, Partition: 0, Offset: 0,
				Value: h.Output.Final[0][0].Value, At: t0.Add(2 * time.Second)})
		}, func(r *TxnReport) int { return r.Anomalies() }, 0},
		{"torn committed", func(h *TxnHistory) { h.Output.Final[1] = slicesDelete(h.Output.Final[1], 1) },
			func(r *TxnReport) int { return r.Torn }, 1},
		{"torn unknown", func(h *TxnHistory) {
			f := h.Output.Final[0]
			h.Output.Final[0] = append(f[:2:2], Record{3, TxnValue("d0.2", 0, 2, "-")}, f[2])
		}, func(r *TxnReport) int { return r.Torn }, 1},
		{"unknown visible whole", func(h *TxnHistory) {
			f0, f1 := h.Output.Final[0], h.Output.Final[1]
			h.Output.Final[0] = append(f0[:2:2], Record{3, TxnValue("d0.2", 0, 2, "-")}, f0[2])
			h.Output.Final[1] = append(f1[:2:2], Record{3, TxnValue("d0.2", 1, 2, "-")}, f1[2])
			at := t0.Add(8 * time.Second)
			h.Output.Polls = append(h.Output.Polls[:4:4], Poll{Partition: 0, Offset: 3, Value: TxnValue("d0.2", 0, 2, "-"), At: at},
				Poll{Partition: 1, Offset: 3, Value: TxnValue("d0.2", 1, 2, "-"), At: at}, h.Output.Polls[4], h.Output.Polls[5])
		}, func(r *TxnReport) int { return r.Anomalies() }, 0},
		{"lost txn", func(h *TxnHistory) {
			h.Output.Final[0] = slicesDelete(h.Output.Final[0], 1)
			h.Output.Final[1] = slicesDelete(h.Output.Final[1], 1)
		}, func(r *TxnReport) int { return r.LostTxns }, 1},
		{"lost input", func(h *TxnHistory) {
			h.Input.Final[0] = append(h.Input.Final[0], Record{2, "i2"})
		}, func(r *TxnReport) int { return r.LostInputs }, 1},
		{"not drained: input not yet carried", func(h *TxnHistory) {
			h.Input.Final[0] = append(h.Input.Final[0], Record{2, "i2"})
			h.Drained = false
		}, func(r *TxnReport) int { return r.Anomalies() }, 0},
		{"duplicate input", func(h *TxnHistory) {
			v := TxnValue("w1.0", 0, 1, "i0")
			h.Txns = append(h.Txns, Txn{ID: "w1.0", Records: []TxnRecord{{0, v, -1}}, Outcome: TxnCommitted, CommitAt: t0})
			f := h.Output.Final[0]
			h.Output.Final[0] = append(f[:2:2], Record{3, v}, f[2])
		}, func(r *TxnReport) int { return r.DupInputs }, 1},
		{"duplicate record", func(h *TxnHistory) {
			f := h.Output.Final[0]
			h.Output.Final[0] = append(f[:2:2], Record{3, f[1].Value}, f[2])
		}, func(r *TxnReport) int { return r.Output.Duplicates }, 1},
		{"non-monotonic poll", func(h *TxnHistory) {
			h.Output.Polls = append(h.Output.Polls, h.Output.Polls[0])
		}, func(r *TxnReport) int { return r.Output.NonMonotonic }, 1},
		{"skipped committed record", func(h *TxnHistory) {
			h.Output.Polls = slicesDelete(h.Output.Polls, 2)
		}, func(r *TxnReport) int { return r.Output.Skipped }, 1},
		{"garbled record", func(h *TxnHistory) {
			f := h.Output.Final[0]
			h.Output.Final[0] = append(f[:2:2], Record{3, "garbage"}, f[2])
		}, func(r *TxnReport) int { return r.Unexpected }, 1},
		{"unknown transaction", func(h *TxnHistory) {
			f := h.Output.Final[0]
			h.Output.Final[0] = append(f[:2:2], Record{3, TxnValue("d9.9", 0, 1, "-")}, f[2])
		}, func(r *TxnReport) int { return r.Unexpected }, 1},
		{"wrong partition", func(h *TxnHistory) {
			f := h.Output.Final[1]
			h.Output.Final[1] = append(f[:2:2], Record{3, h.Output.Final[0][1].Value}, f[2])
		}, func(r *TxnReport) int { return r.Unexpected }, 1},
		{"wrong count", func(h *TxnHistory) {
			f := h.Output.Final[1]
			h.Output.Final[1] = append(f[:2:2], Record{3, TxnValue("d0.0", 1, 3, "-")}, f[2])
		}, func(r *TxnReport) int { return r.Unexpected }, 1},
		{"input lost", func(h *TxnHistory) { h.Input.Final[0] = h.Input.Final[0][:1] },
			func(r *TxnReport) int { return r.Input.Lost }, 1},
	})
}

// slicesDelete returns s without its element i, in a new slice.
func slicesDelete[T any](s []T, i int) []T {
	return append(s[:i:i], s[i+1:]...)
}

func TestParseTxnValue(t *testing.T) {
	id, k, n, payload, err := parseTxnValue(TxnValue("w2.31", 4, 7, "p0-12 x"))
	if err != nil || id != "w2.31" || k != 4 || n != 7 || payload != "p0-12 x" {
		t.Fatalf("got %q %d %d %q %v", id, k, n, payload, err)
	}
	for _, bad := range []string{"", "w1", "w1 3 x", "w1 a/2 x", "w1 2/2 x", "w1 -1/2 x"} {
		if _, _, _, _, err := parseTxnValue(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestTxnTables(t *testing.T) {
	h := cleanTxn()
	h.Output.Polls = append(h.Output.Polls, Poll{Consumer: 1, Partition: 1, Offset: 4, Value: TxnValue("d0.1", 0, 1, "-"), At: t0})
	r := CheckTxn(h)
	var b bytes.Buffer
	r.WriteTable(&b, "g1a")
	WriteTxnSummary(&b, []string{"g1a"}, []*TxnReport{r})
	out := b.String()
	h = cleanTxn()
	h.Output.Final[1] = slicesDelete(h.Output.Final[1], 1)
	CheckTxn(h).WriteTable(&b, "torn")
	out = b.String()
	for _, want := range []string{"aborted reads (G1a)     1",
		"torn: d0.0 (committed): 1 of 2 records visible; missing 1 (acknowledged at 1/2, in the read_uncommitted read)", `aborted-read: consumer 1: "d0.1 0/1 -" at 1/4`,
		"output divergent:", "pre-committed reads", "drained"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
