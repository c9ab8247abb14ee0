package connect_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// captured holds what the capture sinks were given, by connector name.
var captured = struct {
	mu      sync.Mutex
	records map[string][]connect.SinkRecord
}{records: make(map[string][]connect.SinkRecord)}

// captureSink is a real sink task that keeps its records in captured, for the tests to read
// what the runtime delivered after conversion and transforms.
type captureSink struct{ name string }

func (c *captureSink) Start(_ connect.SinkTaskContext, config map[string]string) error {
	c.name = config["name"]
	return nil
}

func (c *captureSink) Put(records []connect.SinkRecord) error {
	captured.mu.Lock()
	defer captured.mu.Unlock()
	captured.records[c.name] = append(captured.records[c.name], records...)
	return nil
}

func (c *captureSink) Flush(map[connect.TopicPartition]int64) error { return nil }
func (c *captureSink) Stop() error                                  { return nil }

type captureConnector struct{ config map[string]string }

func (c *captureConnector) Validate(map[string]string) []connect.ConfigError { return nil }
func (c *captureConnector) Start(_ connect.ConnectorContext, config map[string]string) error {
	c.config = config
	return nil
}
func (c *captureConnector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{maps.Clone(c.config)}, nil
}
func (c *captureConnector) Stop() error { return nil }

func init() {
	connect.Register(&connect.Plugin{Class: "test.CaptureSinkConnector", Kind: connect.Sink, Version: "test",
		NewConnector: func() connect.Connector { return &captureConnector{} },
		NewSinkTask:  func() connect.SinkTask { return &captureSink{} }})
}

// TestSinkTransformsAndDeadLetterQueue consumes JSON values through a chain of transforms
// (Filter on a predicate, ReplaceField, InsertField) with errors.tolerance=all: the record
// that is not JSON goes to the dead letter queue with Kafka Connect's context headers, the
// tombstone is filtered, the rest arrive transformed.
func TestSinkTransformsAndDeadLetterQueue(t *testing.T) {
	t.Parallel()
	p := names(t)
	topic, dlq, name := p+"-in", p+"-dlq", p+"-capture"
	createTopic(t, topic, 1)
	createTopic(t, dlq, 1)
	cl := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []string{`{"id":1,"name":"a","secret":"s1"}`, `not json`, "", `{"id":2,"name":"b","secret":"s2"}`} {
		r := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(v)}
		if v == "" {
			r.Value = nil
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w := startWorker(t, t.TempDir(), nil)
	expect(t, w, "POST", "/connectors", map[string]any{"name": name, "config": map[string]string{
		"connector.class":                               "test.CaptureSinkConnector",
		"topics":                                        topic,
		"value.converter":                               connect.JSONConverterClass,
		"value.converter.schemas.enable":                "false",
		"transforms":                                    "dropTombstones,rf,ins",
		"transforms.dropTombstones.type":                "org.apache.kafka.connect.transforms.Filter",
		"transforms.dropTombstones.predicate":           "tomb",
		"transforms.rf.type":                            "org.apache.kafka.connect.transforms.ReplaceField$Value",
		"transforms.rf.exclude":                         "secret",
		"transforms.rf.renames":                         "name:title",
		"transforms.ins.type":                           "org.apache.kafka.connect.transforms.InsertField$Value",
		"transforms.ins.topic.field":                    "src_topic",
		"transforms.ins.offset.field":                   "src_offset",
		"predicates":                                    "tomb",
		"predicates.tomb.type":                          "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
		"errors.tolerance":                              "all",
		"errors.deadletterqueue.topic.name":             dlq,
		"errors.deadletterqueue.context.headers.enable": "true",
	}}, 201, "")
	var got []connect.SinkRecord
	waitFor(t, defaultWait, "two records delivered", func() (bool, string) {
		captured.mu.Lock()
		defer captured.mu.Unlock()
		got = slices.Clone(captured.records[name])
		return len(got) >= 2, pretty(got)
	})
	want := []map[string]any{
		{"id": int64(1), "title": "a", "src_topic": topic, "src_offset": int64(0)},
		{"id": int64(2), "title": "b", "src_topic": topic, "src_offset": int64(3)},
	}
	if len(got) != 2 || !maps.Equal(got[0].Value.(map[string]any), want[0]) || !maps.Equal(got[1].Value.(map[string]any), want[1]) {
		t.Fatalf("delivered %s, want %s", pretty(got), pretty(want))
	}
	dl := client(t, kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fetches := dl.PollRecords(ctx, 10)
	if err := fetches.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fetches.Records()
	if len(recs) != 1 || string(recs[0].Value) != "not json" {
		t.Fatalf("dead letter queue: %s", pretty(recs))
	}
	headers := map[string]string{}
	for _, h := range recs[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	for k, v := range map[string]string{"__connect.errors.topic": topic, "__connect.errors.partition": "0", "__connect.errors.offset": "1",
		"__connect.errors.connector.name": name, "__connect.errors.task.id": "0", "__connect.errors.stage": "VALUE_CONVERTER"} {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	if !strings.Contains(headers["__connect.errors.exception.message"], "converting the value") {
		t.Errorf("exception message header: %q", headers["__connect.errors.exception.message"])
	}
	expect(t, w, "GET", "/connectors/"+name+"/status", nil, 200, `"tasks":[{"id":0,"state":"RUNNING"`)
}

// TestSourceRegexRouter routes a file source's records to another topic with RegexRouter.
func TestSourceRegexRouter(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, 0, 3)
	createTopic(t, p+"-routed", 1)
	w := startWorker(t, dir, nil)
	expect(t, w, "POST", "/connectors", map[string]any{"name": p, "config": map[string]string{
		"connector.class": "FileStreamSource", "file": in, "topic": p + "-raw",
		"transforms": "route", "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex": "(.*)-raw", "transforms.route.replacement": "$1-routed",
	}}, 201, "")
	cl := client(t, kgo.ConsumeTopics(p+"-routed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	var values []string
	for len(values) < 3 {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			t.Fatalf("after %v: %v", values, err)
		}
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if !slices.Equal(values, []string{"line 0", "line 1", "line 2"}) {
		t.Fatalf("routed values %q", values)
	}
	expect(t, w, "GET", "/connectors/"+p+"/topics", nil, 200, `{"`+p+`":{"topics":["`+p+`-routed"]}}`)
}
