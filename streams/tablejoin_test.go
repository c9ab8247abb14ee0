package streams_test

import (
	"reflect"
	"testing"

	"github.com/logd/logd/streams"
)

// TestTableTableJoin joins a table of users with a table of emails, inner, left and
// outer, through updates and deletions on both sides; each result table is written
// with Table.To, tombstones included, and its final state checked, as is the
// tombstone of a joined key whose user was deleted.
func TestTableTableJoin(t *testing.T) {
	t.Parallel()
	p := names(t)
	users, emails, inner, left, outer := p+"-users", p+"-emails", p+"-inner", p+"-left", p+"-outer"
	createTopic(t, users, 1, "cleanup.policy", "compact")
	createTopic(t, emails, 1, "cleanup.policy", "compact")
	for _, topic := range []string{inner, left, outer} {
		createTopic(t, topic, 1)
	}
	b := streams.NewBuilder()
	u := streams.TableFrom(b, users, "users", streams.String(), streams.String())
	e := streams.TableFrom(b, emails, "emails", streams.String(), streams.String())
	streams.JoinTables(u, e, "inner", func(_, name, email string) string { return name + "+" + email }, streams.String()).
		To(inner, streams.String(), streams.String())
	streams.LeftJoinTables(u, e, "left", func(_, name string, email *string) string { return name + "+" + orNull(email) }, streams.String()).
		To(left, streams.String(), streams.String())
	streams.OuterJoinTables(u, e, "outer", func(_ string, name, email *string) string { return orNull(name) + "+" + orNull(email) }, streams.String()).
		To(outer, streams.String(), streams.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
	processed := int64(0)
	phase := func(us, es []rec) {
		t.Helper()
		produce(t, users, us...)
		produce(t, emails, es...)
		processed += int64(len(us) + len(es))
		waitProcessed(t, r.app, processed)
	}
	phase([]rec{{Key: "1", Value: "ann"}, {Key: "2", Value: "bob"}, {Key: "3", Value: "cat"}},
		[]rec{{Key: "1", Value: "a@x"}, {Key: "4", Value: "d@x"}})
	phase([]rec{{Key: "2", Value: "bob2"}, {Key: "1", Tomb: true}},
		[]rec{{Key: "3", Value: "c@x"}, {Key: "4", Tomb: true}})

	// final replays a table's changes: the last value per key, tombstones removing it.
	final := func(topic string, want int) (map[string]string, map[string]bool) {
		state, tombs := map[string]string{}, map[string]bool{}
		for _, rec := range consume(t, topic, want) {
			if rec.Value == nil {
				delete(state, string(rec.Key))
				tombs[string(rec.Key)] = true
				continue
			}
			state[string(rec.Key)] = string(rec.Value)
		}
		return state, tombs
	}
	state, tombs := final(inner, 3)
	if want := map[string]string{"3": "cat+c@x"}; !reflect.DeepEqual(state, want) {
		t.Errorf("inner join: got %v, want %v", state, want)
	}
	if !tombs["1"] {
		t.Error("inner join: no tombstone for key 1 after its user was deleted")
	}
	if state, _ := final(left, 6); !reflect.DeepEqual(state, map[string]string{"2": "bob2+null", "3": "cat+c@x"}) {
		t.Errorf("left join: got %v", state)
	}
	if state, _ := final(outer, 8); !reflect.DeepEqual(state, map[string]string{"1": "null+a@x", "2": "bob2+null", "3": "cat+c@x"}) {
		t.Errorf("outer join: got %v", state)
	}
}
