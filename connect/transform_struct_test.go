package connect

import (
	"strings"
	"testing"
	"time"
)

// render converts a record's key and value with a schemas-enabled JsonConverter, to compare
// transformed structs as Java would print them.
func render(t *testing.T, r *Record) string {
	t.Helper()
	c := &jsonConverter{schemas: true, replaceNull: true}
	k, err := c.FromConnect("", r.KeySchema, r.Key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.FromConnect("", r.ValueSchema, r.Value)
	if err != nil {
		t.Fatal(err)
	}
	return r.Topic + " " + string(k) + " " + string(v)
}

func TestStructTransforms(t *testing.T) {
	row := &Schema{Type: Struct, Name: "Row", Fields: []Field{{"id", &Schema{Type: Int32}}, {"name", &Schema{Type: String, Optional: true}}, {"pw", &Schema{Type: String}}}}
	rec := func() *Record {
		return &Record{Topic: "db.users", Partition: 2, Offset: 9, Timestamp: time.UnixMilli(1700000000000).UTC(),
			ValueSchema: row, Value: &StructValue{Schema: row, Values: []any{int32(7), "ann", "secret"}}}
	}
	for _, tc := range []struct {
		name   string
		config map[string]string
		want   string
	}{
		{"insert", map[string]string{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.InsertField$Value",
			"transforms.x.topic.field": "t!", "transforms.x.partition.field": "p", "transforms.x.static.field": "s", "transforms.x.static.value": "v"},
			`db.users  {"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"string","optional":false,"field":"pw"},{"type":"string","optional":false,"field":"t"},{"type":"int32","optional":true,"field":"p"},{"type":"string","optional":true,"field":"s"}],"optional":false,"name":"Row"},"payload":{"id":7,"name":"ann","pw":"secret","t":"db.users","p":2,"s":"v"}}`},
		{"replace", map[string]string{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
			"transforms.x.exclude": "pw", "transforms.x.renames": "name:full_name"},
			`db.users  {"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"full_name"}],"optional":false,"name":"Row"},"payload":{"id":7,"full_name":"ann"}}`},
		{"key and extract", map[string]string{"transforms": "k,e", "transforms.k.type": "org.apache.kafka.connect.transforms.ValueToKey",
			"transforms.k.fields": "id", "transforms.e.type": "org.apache.kafka.connect.transforms.ExtractField$Key", "transforms.e.field": "id"},
			`db.users {"schema":{"type":"int32","optional":false},"payload":7} {"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"string","optional":false,"field":"pw"}],"optional":false,"name":"Row"},"payload":{"id":7,"name":"ann","pw":"secret"}}`},
		{"timestamp router", map[string]string{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.TimestampRouter",
			"transforms.x.topic.format": "${topic}_${timestamp}", "transforms.x.timestamp.format": "yyyy-MM-dd"},
			`db.users_2023-11-14 `},
		{"negated predicate skips", map[string]string{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.Filter",
			"transforms.x.predicate": "p", "transforms.x.negate": "true", "predicates": "p",
			"predicates.p.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches", "predicates.p.pattern": "db\\..*"},
			`db.users  {"schema"`},
		{"predicate filters", map[string]string{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.Filter",
			"transforms.x.predicate": "p", "predicates": "p",
			"predicates.p.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches", "predicates.p.pattern": "db\\..*"},
			"dropped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := newTransformChain(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			out, err := chain.apply(rec())
			if err != nil {
				t.Fatal(err)
			}
			got := "dropped"
			if out != nil {
				got = render(t, out)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestTransformConfigErrors(t *testing.T) {
	for _, c := range []map[string]string{
		{"transforms": "x", "transforms.x.type": "com.example.Nope"},
		{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.InsertField$Sideways", "transforms.x.topic.field": "t"},
		{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.InsertField$Value"},
		{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.RegexRouter", "transforms.x.regex": "(", "transforms.x.replacement": ""},
		{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.Filter", "transforms.x.predicate": "missing"},
		{"transforms": "x", "transforms.x.type": "org.apache.kafka.connect.transforms.Filter", "transforms.x.negate": "true"},
		{"predicates": "p", "predicates.p.type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"},
	} {
		if _, err := newTransformChain(c); err == nil {
			t.Errorf("%v: no error", c)
		}
	}
}
