//go:build compat

package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/connect/internal/workertest"
)

// javaClasspaths returns Kafka Connect's worker classpath and Debezium's PostgreSQL
// connector's jars, resolved from Maven Central by `make compat-postgres`.
func javaClasspaths(t *testing.T) (worker string, debezium []string) {
	t.Helper()
	read := func(pom string) string {
		p := filepath.Join("..", "..", "compat", "connect", pom, "target", "classpath.txt")
		b, err := os.ReadFile(p)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			t.Fatalf("%s missing or empty: `make compat-postgres` resolves it with Maven", p)
		}
		return string(bytes.TrimSpace(b))
	}
	// Kafka's own jars load from the worker's classpath, not from the plugin's directory.
	for _, jar := range strings.Split(read("debezium"), ":") {
		base := filepath.Base(jar)
		if !strings.HasPrefix(base, "connect-api-") && !strings.HasPrefix(base, "kafka-clients-") && !strings.HasPrefix(base, "slf4j-api-") {
			debezium = append(debezium, jar)
		}
	}
	return read("."), debezium
}

// TestDebeziumOnKafkaConnect runs Debezium's own PostgreSQL connector (3.6.1.Final) on
// Apache Kafka Connect 4.3.1's distributed worker against logd, beside logd's connector on a
// `logd connect distributed` worker, both capturing the same database: logd's JDBC sink
// consumes Debezium's events into a second database, which must end equal to the first row
// for row, and the two connectors' events for the same changes must be the same (keys, key
// and value schemas, before/after/op and the source block apart from timing and the names
// that differ by configuration).
func TestDebeziumOnKafkaConnect(t *testing.T) {
	s := needPostgres(t)
	brokers := needBroker(t)
	workerCP, dbzJars := javaClasspaths(t)
	src, conn := newDB(t, s)
	dst, dconn := newDB(t, s)
	createE2ETables(t, conn)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugins", "debezium-connector-postgres")
	if err := os.MkdirAll(plugin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, jar := range dbzJars {
		if err := os.Symlink(jar, filepath.Join(plugin, filepath.Base(jar))); err != nil {
			t.Fatal(err)
		}
	}
	converters := map[string]string{"key.converter": connect.JSONConverterClass, "value.converter": connect.JSONConverterClass}
	java := workertest.StartJava(t, workerCP, brokers, dir, "java"+src, 0,
		map[string]string{"plugin.path": filepath.Join(dir, "plugins"), "key.converter": connect.JSONConverterClass, "value.converter": connect.JSONConverterClass})
	logd := workertest.Start(t, filepath.Join(tmpDir, "logd"), brokers, dir, "logd"+src, 1, converters)

	dbz, own := "dbz"+src, "own"+src
	tables := "public.orders,public.items,inventory.stock"
	// The publications exist before either connector starts: a connector creating one while
	// the other streams would put a transaction in only one of the two streams.
	execSQL(t, conn, "CREATE PUBLICATION pub_"+dbz+" FOR TABLE "+tables, "CREATE PUBLICATION pub_"+own+" FOR TABLE "+tables)
	dbzCfg := sourceConfigFor(s, src, dbz, "connector.class", "io.debezium.connector.postgresql.PostgresConnector",
		"plugin.name", "pgoutput", "table.include.list", tables, "publication.name", "pub_"+dbz, "slot.name", "slot_"+dbz,
		"publication.autocreate.mode", "disabled", "topic.creation.default.replication.factor", "1", "topic.creation.default.partitions", "1")
	ownCfg := sourceConfigFor(s, src, own, "table.include.list", tables, "publication.name", "pub_"+own, "slot.name", "slot_"+own,
		"publication.autocreate.mode", "disabled")
	java.MustCall(t, "POST", "/connectors", connectorJSON(t, "debezium", dbzCfg), 201)
	logd.MustCall(t, "POST", "/connectors", connectorJSON(t, "own", ownCfg), 201)

	// Both snapshots first (each sees the rows createE2ETables wrote), then the workload.
	snapshot := map[string]int{"public.orders": 50, "public.items": 80, "inventory.stock": 30}
	for _, prefix := range []string{dbz, own} {
		for table, n := range snapshot {
			topic := prefix + "." + table
			workertest.WaitFor(t, 180*time.Second, topic+"'s snapshot", func() (bool, string) {
				got := len(readEvents(t, brokers, topic))
				return got >= n, fmt.Sprintf("%d of %d events", got, n)
			})
		}
	}
	sinkCfg := e2eSinkConfig(s, dst)
	sinkCfg["topics"] = fmt.Sprintf("%[1]s.public.orders,%[1]s.public.items,%[1]s.inventory.stock", dbz)
	logd.MustCall(t, "POST", "/connectors", connectorJSON(t, "sink", sinkCfg), 201)

	rng := rand.New(rand.NewPCG(5, 6))
	for range 120 {
		conn = workTx(t, s, src, conn, rng)
	}
	// A last transaction marks every table: once its event is in a topic, so is every earlier one.
	execSQL(t, conn, `BEGIN`,
		`INSERT INTO orders (id, customer) VALUES (100000, 'marker')`,
		`INSERT INTO items (order_id, line) VALUES (100000, 0)`,
		`INSERT INTO inventory.stock (sku, count) VALUES ('marker', 0)`,
		`COMMIT`)
	for _, prefix := range []string{dbz, own} {
		for table := range snapshot {
			topic := prefix + "." + table
			workertest.WaitFor(t, 180*time.Second, topic+"'s marker", func() (bool, string) {
				evs := readEvents(t, brokers, topic)
				for _, e := range evs {
					if bytes.Contains(e.value, []byte(`"marker"`)) || bytes.Contains(e.value, []byte(`"order_id":100000`)) {
						return true, ""
					}
				}
				return false, fmt.Sprintf("%d events", len(evs))
			})
		}
	}
	for table := range snapshot {
		a, b := readEvents(t, brokers, dbz+"."+table), readEvents(t, brokers, own+"."+table)
		if len(a) != len(b) {
			t.Errorf("%s: Debezium wrote %d events, logd's connector %d", table, len(a), len(b))
		}
		for i := range min(len(a), len(b)) {
			ka, va := comparable(t, a[i], dbz)
			kb, vb := comparable(t, b[i], own)
			if ka != kb || va != vb {
				t.Fatalf("%s event %d differs:\nDebezium key %s\nlogd's    key %s\nDebezium value %s\nlogd's    value %s", table, i, ka, kb, va, vb)
			}
		}
	}
	workertest.WaitFor(t, 120*time.Second, "the sink database equal to the source", func() (bool, string) {
		d := compareDBs(t, conn, dconn, dbz)
		return d == "", d
	})
}

// event is one record's key and value bytes.
type event struct{ key, value []byte }

// readEvents reads a topic from its start to its current end.
func readEvents(t *testing.T, brokers []string, topic string) []event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []event
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			return out // nothing within a second: at the end (or the topic does not exist yet)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, event{r.Key, r.Value}) })
	}
}

// comparable renders an event's key and value with what legitimately differs between two
// connectors capturing the same changes removed: the topic prefix (in schema names and
// source.name), the connector's version, the timing fields, and for snapshot reads the
// position (each connector snapshots at its own LSN and transaction).
func comparable(t *testing.T, e event, prefix string) (string, string) {
	t.Helper()
	norm := func(b []byte) map[string]any {
		if b == nil {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(bytes.ReplaceAll(b, []byte(prefix), []byte("PREFIX")), &m); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, b)
		}
		return m
	}
	k, v := norm(e.key), norm(e.value)
	if p, ok := v["payload"].(map[string]any); ok && p != nil {
		for _, f := range []string{"ts_ms", "ts_us", "ts_ns"} {
			delete(p, f)
		}
		if src, ok := p["source"].(map[string]any); ok {
			for _, f := range []string{"ts_ms", "ts_us", "ts_ns", "version"} {
				delete(src, f)
			}
			if p["op"] == "r" {
				for _, f := range []string{"lsn", "txId", "sequence", "xmin"} {
					delete(src, f)
				}
			}
		}
	}
	kb, _ := json.Marshal(k)
	vb, _ := json.Marshal(v)
	return string(kb), string(vb)
}
