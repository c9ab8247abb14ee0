package streams_test

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/logd/logd/streams"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStreamStreamJoin joins two streams in ±10 s windows with 5 s of grace, inner,
// left and outer, in phases (the two topics' records are otherwise processed in no
// fixed order): pairs within the window join whichever side comes second; a record
// that joined nothing is emitted alone only once its window closed; a record too old
// for the buffers joins nothing and, outer, is emitted alone at once. Halfway the state
// directory is deleted: the buffers and the unjoined records come back from the
// changelogs, among them two records of one key and timestamp, each kept under its own
// seqnum (Kafka's duplicate-retaining join stores) and each joined after the restore.
func TestStreamStreamJoin(t *testing.T) {
	t.Parallel()
	p := names(t)
	left, right, inner, leftOut, outer := p+"-left", p+"-right", p+"-inner", p+"-left-out", p+"-outer"
	for _, topic := range []string{left, right, inner, leftOut, outer} {
		createTopic(t, topic, 1)
	}
	b := streams.NewBuilder()
	l := streams.From(b, left, streams.String(), streams.String())
	r := streams.From(b, right, streams.String(), streams.String())
	w := streams.JoinWindow(10*time.Second, 5*time.Second)
	joined := func(name string) streams.StreamJoined[string, string, string] {
		return streams.StreamJoined[string, string, string]{Name: name, Keys: streams.String(), Values: streams.String(), OtherValues: streams.String()}
	}
	streams.JoinStreams(l, r, w, joined("inner"), func(_, v, vo string) string { return v + "+" + vo }).
		To(inner, streams.String(), streams.String())
	streams.LeftJoinStreams(l, r, w, joined("left"), func(_, v string, vo *string) string { return v + "+" + orNull(vo) }).
		To(leftOut, streams.String(), streams.String())
	streams.OuterJoinStreams(l, r, w, joined("outer"), func(_ string, v, vo *string) string { return orNull(v) + "+" + orNull(vo) }).
		To(outer, streams.String(), streams.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	// Near now: the join buffers' changelogs have retention.ms, and Apache Kafka deletes
	// records older than it (rolling the active segment), which would empty the restore.
	t0 := time.Now().Truncate(time.Minute).UnixMilli()
	at := func(key, value string, sec int64) rec { return rec{Key: key, Value: value, TS: t0 + sec*1000} }
	state := t.TempDir()
	cfg := streams.Config{ApplicationID: p, StateDir: state}
	app := start(t, topo, cfg)
	processed := int64(0)
	phase := func(l, r []rec) {
		t.Helper()
		produce(t, left, l...)
		produce(t, right, r...)
		processed += int64(len(l) + len(r))
		waitProcessed(t, app.app, processed)
	}
	phase([]rec{at("a", "a1", 100), at("b", "b1", 100)}, []rec{at("a", "A1", 105), at("c", "C1", 100)})
	// a2 joins A1 (7 s apart); d1 takes stream time to 200, closing b1's and C1's windows.
	phase([]rec{at("a", "a2", 112), at("d", "d1", 200), at("e", "e1", 198), at("f", "f1", 190), at("f", "f2", 190)}, nil)

	app.stop(t)
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	app = start(t, topo, cfg)
	processed = 0
	// B1 is older than the buffers keep (200 − 25 s): it joins nothing, and the outer
	// join emits it at once. D1 joins the restored d1.
	phase(nil, []rec{at("b", "B1", 101), at("d", "D1", 203), at("f", "F1", 195)})
	// z1 closes e1's window: e1, restored as unjoined, is emitted alone.
	phase([]rec{at("z", "z1", 1000)}, nil)

	render := func(rs []*kgo.Record) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = fmt.Sprintf("%s=%s@%d", r.Key, r.Value, (r.Timestamp.UnixMilli()-t0)/1000)
		}
		sort.Strings(out)
		return out
	}
	if got, want := render(consume(t, inner, 5)), []string{"a=a1+A1@105", "a=a2+A1@112", "d=d1+D1@203", "f=f1+F1@195", "f=f2+F1@195"}; !reflect.DeepEqual(got, want) {
		t.Errorf("inner join: got %v, want %v", got, want)
	}
	if got, want := render(consume(t, leftOut, 7)), []string{"a=a1+A1@105", "a=a2+A1@112", "b=b1+null@100", "d=d1+D1@203", "e=e1+null@198", "f=f1+F1@195", "f=f2+F1@195"}; !reflect.DeepEqual(got, want) {
		t.Errorf("left join: got %v, want %v", got, want)
	}
	if got, want := render(consume(t, outer, 9)), []string{"a=a1+A1@105", "a=a2+A1@112", "b=b1+null@100", "b=null+B1@101", "c=null+C1@100", "d=d1+D1@203", "e=e1+null@198", "f=f1+F1@195", "f=f2+F1@195"}; !reflect.DeepEqual(got, want) {
		t.Errorf("outer join: got %v, want %v", got, want)
	}
	if app.app.Metrics().RestoredRecords.Load() == 0 {
		t.Error("nothing restored after the state directory was deleted")
	}
	// The buffer's changelog keys are Kafka's key ‖ timestamp ‖ seqnum; f1 and f2 differ
	// only in their seqnums.
	seqs := map[uint32]bool{}
	for _, rec := range consume(t, p+"-inner-this-join-store-changelog", 7) {
		key, ts, seq, ok := splitKafkaWindowKey(rec.Key)
		if !ok {
			t.Fatalf("join store changelog key %x: shorter than a timestamp and a seqnum", rec.Key)
		}
		if key == "f" && ts == t0+190_000 && rec.Value != nil {
			seqs[seq] = true
		}
	}
	if len(seqs) != 2 {
		t.Errorf("join store changelog: f at 190 s under seqnums %v, want two distinct", seqs)
	}
	if got := topicConfig(t, p+"-outer-outer-shared-join-store-changelog", "cleanup.policy"); got != "compact,delete" {
		t.Errorf("outer join store changelog cleanup.policy %q, want compact,delete", got)
	}
}
