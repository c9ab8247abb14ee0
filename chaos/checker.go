package chaos

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// maxExamples bounds the examples kept per anomaly class.
const maxExamples = 5

// Report counts what Check found. The anomaly fields are Jepsen's classes for Kafka; zero of
// each is the bar.
type Report struct {
	Acked         int // writes acknowledged
	Indeterminate int // writes whose fate the client does not know
	Definite      int // writes that definitely failed
	Polled        int // records received by consumers (the final read included)

	Lost         int // acknowledged writes absent from the final log
	Duplicates   int // values at more than one offset of the final log (one per extra copy)
	WrongOffset  int // acknowledged writes found in the final log at another partition or offset
	NonMonotonic int // polls at an offset ≤ one the same consumer session already saw
	Skipped      int // polls past a record of the final log the same consumer session never got
	Divergent    int // polls whose (partition, offset, value) the final log does not hold

	Resets   int // consumer sessions restarted after OFFSET_OUT_OF_RANGE
	DataLoss int // truncations reported to consumers by the client

	Unavailable time.Duration // the longest time within the window without an acknowledgement
	// PartitionUnavailable is, per partition written to, the longest time within the window
	// without an acknowledgement from that partition.
	PartitionUnavailable map[int32]time.Duration

	Examples map[string][]string // a few instances per anomaly class, by the class's name
}

// Anomalies is the sum of the anomaly counts.
func (r *Report) Anomalies() int {
	return r.Lost + r.Duplicates + r.WrongOffset + r.NonMonotonic + r.Skipped + r.Divergent
}

func (r *Report) example(class, format string, args ...any) {
	if len(r.Examples[class]) < maxExamples {
		r.Examples[class] = append(r.Examples[class], fmt.Sprintf(format, args...))
	}
}

type location struct {
	partition int32
	offset    int64
}

// Check finds the anomalies of h.
func Check(h *History) *Report {
	r := &Report{Acked: len(h.Acks), Polled: len(h.Polls), Resets: h.Resets, DataLoss: h.DataLoss,
		Examples: map[string][]string{}}
	for _, f := range h.Failures {
		if f.Definite {
			r.Definite++
		} else {
			r.Indeterminate++
		}
	}
	found := checkFinal(h, r)
	for _, a := range h.Acks {
		locs := found[a.Value]
		switch {
		case len(locs) == 0:
			r.Lost++
			r.example("lost", "%q acked at %d/%d", a.Value, a.Partition, a.Offset)
		case !slices.Contains(locs, location{a.Partition, a.Offset}):
			r.WrongOffset++
			r.example("wrong-offset", "%q acked at %d/%d, found at %v", a.Value, a.Partition, a.Offset, locs)
		}
	}
	checkPolls(h, r)
	r.Unavailable = longestGap(h.Start, h.End, h.Acks)
	r.PartitionUnavailable = map[int32]time.Duration{}
	byPartition := map[int32][]Ack{}
	for _, a := range h.Acks {
		byPartition[a.Partition] = append(byPartition[a.Partition], a)
	}
	for p := range h.Final {
		r.PartitionUnavailable[p] = longestGap(h.Start, h.End, byPartition[p])
	}
	return r
}

// checkFinal indexes the final log by value and counts duplicates in it.
func checkFinal(h *History, r *Report) map[string][]location {
	found := map[string][]location{}
	for p, recs := range h.Final {
		for _, rec := range recs {
			if prev := found[rec.Value]; len(prev) > 0 {
				r.Duplicates++
				r.example("duplicate", "%q at %d/%d and %v", rec.Value, p, rec.Offset, prev)
			}
			found[rec.Value] = append(found[rec.Value], location{p, rec.Offset})
		}
	}
	return found
}

// checkPolls walks every consumer session's polls per partition in order.
func checkPolls(h *History, r *Report) {
	type stream struct {
		consumer, session int
		partition         int32
	}
	last := map[stream]int64{}
	final := map[location]string{}
	for p, recs := range h.Final {
		for _, rec := range recs {
			final[location{p, rec.Offset}] = rec.Value
		}
	}
	for _, pl := range h.Polls {
		s := stream{pl.Consumer, pl.Session, pl.Partition}
		prev, seen := last[s]
		if !seen {
			prev = h.LogStart[pl.Partition] - 1
		}
		switch {
		case pl.Offset <= prev:
			r.NonMonotonic++
			r.example("non-monotonic", "consumer %d session %d partition %d: %d after %d", pl.Consumer, pl.Session, pl.Partition, pl.Offset, prev)
		case skipsRecord(h.Final[pl.Partition], prev, pl.Offset):
			r.Skipped++
			r.example("skipped", "consumer %d session %d partition %d: %d after %d", pl.Consumer, pl.Session, pl.Partition, pl.Offset, prev)
		}
		last[s] = max(prev, pl.Offset)
		if v, ok := final[location{pl.Partition, pl.Offset}]; !ok || v != pl.Value {
			r.Divergent++
			r.example("divergent", "consumer %d polled %q at %d/%d, final log has %q", pl.Consumer, pl.Value, pl.Partition, pl.Offset, v)
		}
	}
}

// skipsRecord reports whether a consumer that read prev and then offset jumped over a record
// the final log holds. Every offset of a log without transactions holds a record; under
// read_committed, control batches and aborted records leave offsets nobody returns.
func skipsRecord(final []Record, prev, offset int64) bool {
	i, _ := slices.BinarySearchFunc(final, prev+1, func(r Record, o int64) int { return cmp.Compare(r.Offset, o) })
	return i < len(final) && final[i].Offset < offset
}

// longestGap is the longest stretch of [start, end] without one of acks.
func longestGap(start, end time.Time, acks []Ack) time.Duration {
	times := []time.Time{start, end}
	for _, a := range acks {
		times = append(times, a.At)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		if times[i].After(end) {
			break
		}
		gap = max(gap, times[i].Sub(times[i-1]))
	}
	return gap
}

// rows are the lines of a report's table, in order: name and value.
func (r *Report) rows() [][2]string {
	n := func(v int) string { return fmt.Sprint(v) }
	return [][2]string{
		{"acked", n(r.Acked)},
		{"indeterminate", n(r.Indeterminate)},
		{"definite failures", n(r.Definite)},
		{"polled", n(r.Polled)},
		{"lost", n(r.Lost)},
		{"duplicates", n(r.Duplicates)},
		{"wrong offset", n(r.WrongOffset)},
		{"non-monotonic polls", n(r.NonMonotonic)},
		{"skipped polls", n(r.Skipped)},
		{"divergent polls", n(r.Divergent)},
		{"consumer resets", n(r.Resets)},
		{"data-loss reports", n(r.DataLoss)},
		{"longest without ack", r.Unavailable.Round(time.Millisecond).String()},
		{"… per partition", r.partitionGaps()},
	}
}

// partitionGaps is PartitionUnavailable in one cell: "p0 1.2s p1 80ms …".
func (r *Report) partitionGaps() string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(r.PartitionUnavailable)) {
		parts = append(parts, fmt.Sprintf("p%d %v", p, r.PartitionUnavailable[p].Round(time.Millisecond)))
	}
	return strings.Join(parts, " ")
}

// WriteTable prints the report of one scenario as a two-column table, then its examples.
func (r *Report) WriteTable(w io.Writer, scenario string) {
	writeTable(w, scenario, r.rows(), map[string]map[string][]string{"": r.Examples})
}

// writeTable prints rows as a two-column table under the scenario's name, then the examples
// of each class, each set's class names prefixed by its key.
func writeTable(w io.Writer, scenario string, rows [][2]string, examples map[string]map[string][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s\n", scenario)
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	tw.Flush()
	for _, prefix := range slices.Sorted(maps.Keys(examples)) {
		for _, c := range slices.Sorted(maps.Keys(examples[prefix])) {
			fmt.Fprintf(w, "  %s%s: %s\n", prefix, c, strings.Join(examples[prefix][c], "; "))
		}
	}
}

// WriteSummary prints one line per scenario, one column per count.
func WriteSummary(w io.Writer, scenarios []string, reports []*Report) {
	rows := make([][][2]string, len(reports))
	for i, r := range reports {
		rows[i] = r.rows()
	}
	writeSummary(w, scenarios, (&Report{}).rows(), rows)
}

// writeSummary prints a header line of the names of header's rows, then one line per
// scenario of the values of its rows.
func writeSummary(w io.Writer, scenarios []string, header [][2]string, rows [][][2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := []string{"scenario"}
	for _, row := range header {
		line = append(line, row[0])
	}
	fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	for i, scenario := range scenarios {
		line = []string{scenario}
		for _, row := range rows[i] {
			line = append(line, row[1])
		}
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	tw.Flush()
}
