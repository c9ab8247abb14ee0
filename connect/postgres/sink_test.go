package postgres

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"testing"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/connect/postgres/pgtest"
)

func sinkConfigFor(s *pgtest.Server, db string, extra ...string) map[string]string {
	cfg := map[string]string{
		"connection.url":      fmt.Sprintf("jdbc:postgresql://127.0.0.1:%d/%s", s.Port, db),
		"connection.username": pgtest.Superuser,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return cfg
}

func startSink(t *testing.T, cfg map[string]string) *SinkTask {
	t.Helper()
	task := &SinkTask{}
	if err := task.Start(nil, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func rowsOf(t *testing.T, s *pgtest.Server, db, query string) string {
	t.Helper()
	conn := reconnect(t, s, db)
	return strings.Join(readRows(t, conn, query), "; ")
}

// TestSinkFlatRecords writes flat (non-envelope) records keyed by value fields into a table
// the sink creates, then adds a column, and checks that replaying the same records changes
// nothing (upsert).
func TestSinkFlatRecords(t *testing.T) {
	s := needPostgres(t)
	db, _ := newDB(t, s)
	task := startSink(t, sinkConfigFor(s, db, "insert.mode", "upsert", "primary.key.mode", "record_value",
		"primary.key.fields", "id", "schema.evolution", "basic", "table.name.format", "public.${topic}_copy", "batch.size", "2"))
	v1 := &connect.Schema{Type: connect.Struct, Name: "v1", Fields: []connect.Field{
		{Name: "id", Schema: &connect.Schema{Type: connect.Int64}},
		{Name: "name", Schema: &connect.Schema{Type: connect.String, Optional: true}},
		{Name: "price", Schema: &connect.Schema{Type: connect.Bytes, Name: nameDecimal, Version: 1, Optional: true,
			Parameters: map[string]string{"scale": "2", "connect.decimal.precision": "8"}}},
		{Name: "day", Schema: &connect.Schema{Type: connect.Int32, Name: nameDate, Optional: true}},
	}}
	rec := func(s *connect.Schema, vals ...any) connect.SinkRecord {
		v := connect.NewStruct(s)
		copy(v.Values, vals)
		return connect.SinkRecord{Topic: "shop.items", ValueSchema: s, Value: v}
	}
	batch := []connect.SinkRecord{
		rec(v1, int64(1), "pen", connect.DecimalBytes(big.NewInt(150)), int32(19782)),
		rec(v1, int64(2), nil, connect.DecimalBytes(big.NewInt(-5)), nil),
		rec(v1, int64(1), "pencil", connect.DecimalBytes(big.NewInt(175)), int32(0)),
	}
	for range 2 { // the second round replays the same records
		if err := task.Put(batch); err != nil {
			t.Fatal(err)
		}
		if err := task.Flush(nil); err != nil {
			t.Fatal(err)
		}
	}
	q := `SELECT id || ',' || coalesce(name, '-') || ',' || price || ',' || coalesce(day::text, '-') FROM shop_items_copy ORDER BY id`
	if got, want := rowsOf(t, s, db, q), "1,pencil,1.75,1970-01-01; 2,-,-0.05,-"; got != want {
		t.Fatalf("rows %q, want %q", got, want)
	}
	v2 := &connect.Schema{Type: connect.Struct, Name: "v2", Fields: append(append([]connect.Field(nil), v1.Fields...),
		connect.Field{Name: "tags", Schema: &connect.Schema{Type: connect.Array, Optional: true, Items: &connect.Schema{Type: connect.String, Optional: true}}})}
	if err := task.Put([]connect.SinkRecord{rec(v2, int64(3), "ink", nil, nil, []any{"a b", nil, `q"`})}); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if got, want := rowsOf(t, s, db, `SELECT tags::text FROM shop_items_copy WHERE id = 3`), `{"a b",NULL,"q\""}`; got != want {
		t.Fatalf("added array column: %q, want %q", got, want)
	}
}

// TestSinkMissingTable checks the error without schema evolution, and that tombstones are
// skipped unless delete.enabled.
func TestSinkMissingTable(t *testing.T) {
	s := needPostgres(t)
	db, _ := newDB(t, s)
	task := startSink(t, sinkConfigFor(s, db))
	schema := &connect.Schema{Type: connect.Struct, Fields: []connect.Field{{Name: "id", Schema: &connect.Schema{Type: connect.Int32}}}}
	v := connect.NewStruct(schema)
	v.Values[0] = int32(1)
	if err := task.Put([]connect.SinkRecord{{Topic: "t", Key: "k"}}); err != nil {
		t.Fatalf("tombstone without delete.enabled: %v", err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatalf("flush of nothing: %v", err)
	}
	if err := task.Put([]connect.SinkRecord{{Topic: "missing", ValueSchema: schema, Value: v}}); err != nil {
		t.Fatal(err)
	}
	err := task.Flush(nil)
	if err == nil || !strings.Contains(err.Error(), `table "missing" does not exist`) || !strings.Contains(err.Error(), "schema.evolution=basic") {
		t.Fatalf("flush into a missing table: %v", err)
	}
}

// TestSourceHeartbeatMovesIdleSlot checks that heartbeats move an idle slot's confirmed position past
// WAL written by tables the connector does not capture.
func TestSourceHeartbeatMovesIdleSlot(t *testing.T) {
	s := needPostgres(t)
	db, conn := newDB(t, s)
	execSQL(t, conn, `CREATE TABLE captured (id int PRIMARY KEY)`, `CREATE TABLE other (id int PRIMARY KEY)`)
	cfg := sourceConfigFor(s, db, "hb", "snapshot.mode", "no_data", "table.include.list", `public\.captured`,
		"publication.autocreate.mode", "filtered", "heartbeat.interval.ms", "100")
	store := &offsetStore{}
	task := startSource(t, cfg, store)
	before := slotLSN(t, conn, cfg["slot.name"])
	execSQL(t, conn, `INSERT INTO other SELECT generate_series(1, 100)`)
	var target string
	if err := conn.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	var hb connect.SourceRecord
	deadline := time.Now().Add(20 * time.Second)
	for hb.Topic == "" {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat within 20s")
		}
		for _, r := range pollOnce(t, task) {
			hb = r
		}
	}
	if hb.Topic != "__debezium-heartbeat.hb" || hb.KeySchema.Name != "io.debezium.connector.common.ServerNameKey" {
		t.Fatalf("heartbeat record %+v", hb)
	}
	if got := slotLSN(t, conn, cfg["slot.name"]); got != before {
		t.Fatalf("slot moved to %s before the heartbeat was committed", got)
	}
	store.put(hb.SourcePartition, hb.SourceOffset)
	stored, _ := store.Offset(hb.SourcePartition)
	if err := task.Commit(map[string]map[string]any{"hb": stored}); err != nil {
		t.Fatal(err)
	}
	want, err := pglogrepl.ParseLSN(target)
	if err != nil {
		t.Fatal(err)
	}
	waitSlotPast(t, conn, cfg["slot.name"], want-1)
}

// TestSinkDebeziumEnvelopes feeds the sink the source's own event shapes (create, update,
// delete, tombstone, a key change) and checks the rows it leaves.
func TestSinkDebeziumEnvelopes(t *testing.T) {
	s := needPostgres(t)
	db, _ := newDB(t, s)
	task := startSink(t, sinkConfigFor(s, db, "insert.mode", "upsert", "primary.key.mode", "record_key",
		"delete.enabled", "true", "schema.evolution", "basic", "table.name.format", "${source.table}"))
	src := &sourceConfig{prefix: "srv", dbname: "d", decimalMode: "precise", timeMode: "adaptive"}
	tbl := src.newTable("public", "accounts", []column{
		{name: "id", oid: oidInt4, notNull: true, key: true},
		{name: "owner", oid: oidText, notNull: true},
		{name: "balance", oid: oidNumeric, typmod: 4 + (12<<16 | 2)},
	})
	row := func(vals ...string) *connect.StructValue {
		texts := make([]*string, len(vals))
		for i := range vals {
			texts[i] = &vals[i]
		}
		r, err := tbl.row(texts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	event := func(op string, before, after *connect.StructValue) connect.SinkRecord {
		keyRow := after
		if op == "d" {
			keyRow = before
		}
		return connect.SinkRecord{Topic: tbl.topic, KeySchema: tbl.key, Key: tbl.keyOf(keyRow), ValueSchema: tbl.envelope,
			Value: src.envelopeValue(tbl, op, before, after, sourceInfo{snapshot: "false"}, 0)}
	}
	tomb := func(r *connect.StructValue) connect.SinkRecord {
		return connect.SinkRecord{Topic: tbl.topic, KeySchema: tbl.key, Key: tbl.keyOf(r)}
	}
	a, b, c := row("1", "ann", "10.50"), row("2", "bob", "-3.25"), row("3", "cy", "0.00")
	b2 := row("2", "bob", "99.99")
	a9 := row("9", "ann", "10.50")
	recs := []connect.SinkRecord{
		event("r", nil, a), event("c", nil, b), event("c", nil, c),
		event("u", nil, b2),
		event("d", c, nil), tomb(c),
		event("d", a, nil), tomb(a), event("c", nil, a9), // a primary key change
	}
	if err := task.Put(recs); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if got, want := rowsOf(t, s, db, `SELECT id || ',' || owner || ',' || balance FROM accounts ORDER BY id`), "2,bob,99.99; 9,ann,10.50"; got != want {
		t.Fatalf("rows %q, want %q", got, want)
	}
}
