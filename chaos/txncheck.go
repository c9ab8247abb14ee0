package chaos

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// TxnReport counts what CheckTxn found. The anomaly fields are Jepsen's transaction classes
// for Kafka; zero of each is the bar.
type TxnReport struct {
	Committed, Aborted, Unknown int // transactions by outcome
	// AbortedInLog is how many records of aborted transactions the read_uncommitted read
	// holds: the aborted writes a read_committed reader had to skip.
	AbortedInLog int
	Drained      bool // the workers consumed the whole input (else LostInputs is not counted)

	AbortedReads int // G1a: records of aborted transactions returned by read_committed
	PreCommitted int // records a read_committed poll returned before their commit was asked for
	Torn         int // committed or unknown transactions only partly in the final read
	LostTxns     int // committed transactions absent from the final read
	LostInputs   int // input values no transaction of the final read carries
	DupInputs    int // input values carried by more than one record of the final read
	Unexpected   int // records nobody wrote: garbled, unknown transaction, wrong count or partition

	// Output is Check on the output topic (read_committed): duplicate records and its polls'
	// non-monotonic, skipped and divergent reads. Input is Check on the input topic.
	Output, Input *Report

	Examples map[string][]string // a few instances per anomaly class, by the class's name
}

// Anomalies is the sum of the anomaly counts, the input's and the output's included.
func (r *TxnReport) Anomalies() int {
	return r.AbortedReads + r.PreCommitted + r.Torn + r.LostTxns + r.LostInputs + r.DupInputs +
		r.Unexpected + r.Output.Anomalies() + r.Input.Anomalies()
}

func (r *TxnReport) example(class, format string, args ...any) {
	if len(r.Examples[class]) < maxExamples {
		r.Examples[class] = append(r.Examples[class], fmt.Sprintf(format, args...))
	}
}

// CheckTxn finds the transaction anomalies of h.
func CheckTxn(h *TxnHistory) *TxnReport {
	r := &TxnReport{Drained: h.Drained, Output: Check(h.Output), Input: Check(h.Input), Examples: map[string][]string{}}
	txns := map[string]*Txn{}
	for i := range h.Txns {
		t := &h.Txns[i]
		txns[t.ID] = t
		switch t.Outcome {
		case TxnCommitted:
			r.Committed++
		case TxnAborted:
			r.Aborted++
		default:
			r.Unknown++
		}
	}
	for p, recs := range h.Uncommitted {
		for _, rec := range recs {
			if t, _, _ := r.identify(txns, p, rec.Value, ""); t != nil && t.Outcome == TxnAborted {
				r.AbortedInLog++
			}
		}
	}
	visible := map[string]map[int]bool{} // transaction id → its records in the final read
	carriers := map[string][]string{}    // input value → the records of the final read carrying it
	for p, recs := range h.Output.Final {
		for _, rec := range recs {
			t, k, payload := r.identify(txns, p, rec.Value, "final read")
			if t == nil {
				continue
			}
			if t.Outcome == TxnAborted {
				r.AbortedReads++
				r.example("aborted-read", "final read: %q at %d/%d (%s)", rec.Value, p, rec.Offset, t.Err)
			}
			if visible[t.ID] == nil {
				visible[t.ID] = map[int]bool{}
			}
			visible[t.ID][k] = true
			if isWorker(t.ID) {
				carriers[payload] = append(carriers[payload], rec.Value)
			}
		}
	}
	r.checkPolls(h, txns)
	for i := range h.Txns {
		t := &h.Txns[i]
		seen := len(visible[t.ID])
		switch {
		case t.Outcome == TxnCommitted && seen == 0 && len(t.Records) > 0:
			r.LostTxns++
			r.example("lost-txn", "%s committed %d records, none visible: %s", t.ID, len(t.Records), missing(t, visible[t.ID], h.Uncommitted))
		case t.Outcome != TxnAborted && seen > 0 && seen < len(t.Records):
			r.Torn++
			r.example("torn", "%s (%s): %d of %d records visible; missing %s", t.ID, t.Outcome, seen, len(t.Records),
				missing(t, visible[t.ID], h.Uncommitted))
		}
	}
	r.checkInputs(h, carriers)
	return r
}

// missing describes the records of t not in visible: where each was acknowledged and whether
// the read_uncommitted read holds it there.
func missing(t *Txn, visible map[int]bool, uncommitted map[int32][]Record) string {
	var parts []string
	for k, rec := range t.Records {
		if visible[k] {
			continue
		}
		at := "never acknowledged"
		if rec.Offset >= 0 {
			at = fmt.Sprintf("acknowledged at %d/%d", rec.Partition, rec.Offset)
			recs := uncommitted[rec.Partition]
			i, ok := slices.BinarySearchFunc(recs, rec.Offset, func(r Record, o int64) int { return cmp.Compare(r.Offset, o) })
			switch {
			case !ok:
				at += ", not in the read_uncommitted read"
			case recs[i].Value != rec.Value:
				at += fmt.Sprintf(", where read_uncommitted has %q", recs[i].Value)
			default:
				at += ", in the read_uncommitted read"
			}
		}
		parts = append(parts, fmt.Sprintf("%d (%s)", k, at))
	}
	return strings.Join(parts, ", ")
}

// checkPolls checks the read_committed polls of the run (the final read is checked as the
// final log) for aborted and pre-committed reads.
func (r *TxnReport) checkPolls(h *TxnHistory, txns map[string]*Txn) {
	for _, pl := range h.Output.Polls {
		if pl.Consumer < 0 {
			continue
		}
		t, _, _ := r.identify(txns, pl.Partition, pl.Value, fmt.Sprintf("consumer %d", pl.Consumer))
		switch {
		case t == nil:
		case t.Outcome == TxnAborted:
			r.AbortedReads++
			r.example("aborted-read", "consumer %d: %q at %d/%d (%s)", pl.Consumer, pl.Value, pl.Partition, pl.Offset, t.Err)
		case pl.At.Before(t.CommitAt):
			r.PreCommitted++
			r.example("pre-committed", "consumer %d: %q at %d/%d %v before its commit", pl.Consumer, pl.Value,
				pl.Partition, pl.Offset, t.CommitAt.Sub(pl.At))
		}
	}
}

// checkInputs requires every value of the input's final read in the output exactly once
// (once only, if the workers did not drain the input) and nothing else.
func (r *TxnReport) checkInputs(h *TxnHistory, carriers map[string][]string) {
	inputs := map[string]bool{}
	for _, recs := range h.Input.Final {
		for _, rec := range recs {
			inputs[rec.Value] = true
		}
	}
	for _, v := range slices.Sorted(maps.Keys(inputs)) {
		switch c := carriers[v]; {
		case len(c) > 1:
			r.DupInputs++
			r.example("duplicate-input", "%q carried by %v", v, c)
		case len(c) == 0 && h.Drained:
			r.LostInputs++
			r.example("lost-input", "%q in the input, in no output record", v)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(carriers)) {
		if !inputs[v] {
			r.Unexpected++
			r.example("unexpected", "%v carry %q, which is not in the input", carriers[v], v)
		}
	}
}

// isWorker reports whether a transaction id is a consume-transform-produce worker's.
func isWorker(id string) bool { return strings.HasPrefix(id, workerPrefix) }

// identify finds the transaction and place of a record read at partition p. A record that
// belongs to no transaction of h counts as unexpected if where is not empty (where says who
// read it); sentinels belong to none and are expected.
func (r *TxnReport) identify(txns map[string]*Txn, p int32, v, where string) (*Txn, int, string) {
	if strings.HasPrefix(v, sentinelPrefix) {
		return nil, 0, ""
	}
	id, k, n, payload, err := parseTxnValue(v)
	var t *Txn
	switch {
	case err != nil:
	case txns[id] == nil:
		err = fmt.Errorf("%q: no transaction %s", v, id)
	case n != len(txns[id].Records):
		err = fmt.Errorf("%q: transaction %s has %d records", v, id, len(txns[id].Records))
	case txns[id].Records[k].Partition != p || txns[id].Records[k].Value != v:
		err = fmt.Errorf("%q at partition %d: written to %d as %q", v, p, txns[id].Records[k].Partition, txns[id].Records[k].Value)
	default:
		t = txns[id]
	}
	if err != nil && where != "" {
		r.Unexpected++
		r.example("unexpected", "%s: %v", where, err)
	}
	return t, k, payload
}

// rows are the lines of a report's table, in order: name and value.
func (r *TxnReport) rows() [][2]string {
	n := func(v int) string { return fmt.Sprint(v) }
	return [][2]string{
		{"txns committed", n(r.Committed)},
		{"txns aborted", n(r.Aborted)},
		{"txns unknown", n(r.Unknown)},
		{"aborted records in log", n(r.AbortedInLog)},
		{"inputs acked", n(r.Input.Acked)},
		{"drained", fmt.Sprint(r.Drained)},
		{"read_committed polled", n(r.Output.Polled)},
		{"aborted reads (G1a)", n(r.AbortedReads)},
		{"pre-committed reads", n(r.PreCommitted)},
		{"torn txns", n(r.Torn)},
		{"lost txns", n(r.LostTxns)},
		{"lost inputs", n(r.LostInputs)},
		{"duplicate inputs", n(r.DupInputs)},
		{"duplicate records", n(r.Output.Duplicates)},
		{"non-monotonic polls", n(r.Output.NonMonotonic)},
		{"skipped polls", n(r.Output.Skipped)},
		{"divergent polls", n(r.Output.Divergent)},
		{"unexpected records", n(r.Unexpected)},
		{"consumer resets", n(r.Output.Resets)},
		{"input anomalies", n(r.Input.Anomalies())},
	}
}

// WriteTable prints the report of one scenario as a two-column table, then its examples and
// those of the output and input checks.
func (r *TxnReport) WriteTable(w io.Writer, scenario string) {
	writeTable(w, scenario, r.rows(), map[string]map[string][]string{"": r.Examples, "output ": r.Output.Examples,
		"input ": r.Input.Examples})
}

// WriteTxnSummary prints one line per scenario, one column per count.
func WriteTxnSummary(w io.Writer, scenarios []string, reports []*TxnReport) {
	rows := make([][][2]string, len(reports))
	for i, r := range reports {
		rows[i] = r.rows()
	}
	writeSummary(w, scenarios, (&TxnReport{Output: &Report{}, Input: &Report{}}).rows(), rows)
}
