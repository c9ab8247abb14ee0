package streams_test

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/streams"
)

// summer is a processor keeping a running sum per key in a store: it forwards each new
// sum with the input record's offset, deletes a key on "reset", snapshots the store
// every 10 s of stream time and forwards one wall-clock "tick" before cancelling that
// punctuation.
type summer struct {
	sums *streams.KeyValueStore[string, int64]
	tick *streams.Punctuation
}

func (s *summer) Init(ctx *streams.ProcessorContext[string, string]) error {
	if _, err := ctx.Schedule(10*time.Second, streams.StreamTime, func(ts int64) error {
		var parts []string
		if err := s.sums.Range(ctx, nil, nil, func(k string, v int64) bool {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
			return true
		}); err != nil {
			return err
		}
		return ctx.Forward("snapshot", fmt.Sprintf("t=%d:%s", (ts-procT0)/1000, strings.Join(parts, ",")))
	}); err != nil {
		return err
	}
	var err error
	s.tick, err = ctx.Schedule(50*time.Millisecond, streams.WallClockTime, func(int64) error {
		s.tick.Cancel()
		return ctx.Forward("tick", "tick")
	})
	return err
}

func (s *summer) Process(ctx *streams.ProcessorContext[string, string], k, v string) error {
	if v == "reset" {
		return s.sums.Delete(ctx, k)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return err
	}
	sum, _, err := s.sums.Get(ctx, k)
	if err != nil {
		return err
	}
	sum += n
	if err := s.sums.Put(ctx, k, sum); err != nil {
		return err
	}
	md, ok := ctx.Metadata()
	if !ok {
		return fmt.Errorf("no record metadata in Process")
	}
	return ctx.Forward(k, fmt.Sprintf("%d@%d", sum, md.Offset))
}

func (s *summer) Close() error { return nil }

const procT0 = 1_700_000_000_000

// TestProcessorAPI runs a custom processor with a state store, record metadata, a
// stream-time and a cancelled wall-clock punctuation; then deletes the state directory
// and checks the store came back from its changelog.
func TestProcessorAPI(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, out := p+"-in", p+"-out"
	createTopic(t, in, 1)
	createTopic(t, out, 1)
	b := streams.NewBuilder()
	sums := streams.AddKeyValueStore(b, "sums", streams.String(), streams.Int64())
	streams.Process(streams.From(b, in, streams.String(), streams.String()), "summer",
		func() streams.Processor[string, string, string, string] { return &summer{sums: sums} }).
		To(out, streams.String(), streams.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	at := func(key, value string, sec int64) rec { return rec{Key: key, Value: value, TS: procT0 + sec*1000} }
	state := t.TempDir()
	cfg := streams.Config{ApplicationID: p, StateDir: state}
	r := start(t, topo, cfg)
	produce(t, in, at("a", "1", 0), at("b", "2", 1), at("a", "3", 5), at("c", "4", 12), at("a", "reset", 13), at("b", "1", 35))
	waitProcessed(t, r.app, 6)
	consume(t, out, 9) // five sums, three snapshots and the tick are out
	r.stop(t)
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	r = start(t, topo, cfg)
	produce(t, in, at("a", "10", 40), at("b", "5", 41))
	waitProcessed(t, r.app, 2)

	var got []string
	for _, rec := range consume(t, out, 13) {
		got = append(got, string(rec.Key)+" "+string(rec.Value))
	}
	want := []string{
		"a 1@0",
		"snapshot t=0:a=1", // stream-time punctuation at the first record
		"b 2@1", "a 4@2",
		"c 4@3", "snapshot t=12:a=4,b=2,c=4",
		"b 3@5", "snapshot t=35:b=3,c=4", // 20 and 30 skipped: one call for the jump
		"a 10@6", "snapshot t=40:a=10,b=3,c=4", // restored; a new task's first record
		"b 8@7",
	}
	var ticks int
	var rest []string
	for _, g := range got {
		if g == "tick tick" {
			ticks++
			continue
		}
		rest = append(rest, g)
	}
	if !reflect.DeepEqual(rest, want) {
		t.Errorf("processor output:\n got %q\nwant %q", rest, want)
	}
	if ticks != 2 {
		t.Errorf("%d wall-clock ticks, want 2 (one per task opening, then cancelled)", ticks)
	}

	// The second instance's lag and latency metrics, as Prometheus exports them.
	ms := gather(t, r.app, p)
	lag := ms["logd_streams_records_lag"].GetGauge().GetValue()
	timed := ms["logd_streams_process_latency_seconds"].GetHistogram().GetSampleCount()
	if lag != 0 || timed != 2 {
		t.Errorf("records_lag %v and process_latency_seconds count %d, want 0 (caught up) and 2", lag, timed)
	}
}
