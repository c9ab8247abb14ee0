package postgres

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/logd/logd/connect"
)

// pollUntil polls task until it has returned n records (or fails the test after a while).
func pollUntil(t *testing.T, task *SourceTask, n int) []connect.SourceRecord {
	t.Helper()
	var out []connect.SourceRecord
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d", len(out), n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		recs, err := task.Poll(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d: %v", len(out), n, out)
	}
	return out
}

// asJSON renders a record's key or value as the JSON converter with schemas would, parsed
// back into maps for comparison.
func asJSON(t *testing.T, s *connect.Schema, v any) map[string]any {
	t.Helper()
	b := encodeJSON(s, v)
	if b == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func startSource(t *testing.T, cfg map[string]string, store *offsetStore) *SourceTask {
	t.Helper()
	task := &SourceTask{}
	if err := task.Start(store, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

// TestSourceDebeziumEvents checks the events against Debezium's documented PostgreSQL
// examples (the customers table of its tutorial): key and value schemas, envelope, source.
func TestSourceDebeziumEvents(t *testing.T) {
	s := needPostgres(t)
	db, conn := newDB(t, s)
	execSQL(t, conn,
		`CREATE TABLE customers (id SERIAL, first_name VARCHAR(255) NOT NULL, last_name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL, PRIMARY KEY(id))`,
		`INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')`)
	task := startSource(t, sourceConfigFor(s, db, "PostgreSQL_server"), &offsetStore{})

	snap := pollUntil(t, task, 1)[0]
	wantKey := map[string]any{
		"schema": map[string]any{"type": "struct", "optional": false, "name": "PostgreSQL_server.public.customers.Key",
			"fields": []any{map[string]any{"type": "int32", "optional": false, "field": "id"}}},
		"payload": map[string]any{"id": float64(1)},
	}
	if got := asJSON(t, snap.KeySchema, snap.Key); !reflect.DeepEqual(got, wantKey) {
		t.Errorf("key:\n got %v\nwant %v", got, wantKey)
	}
	if snap.Topic != "PostgreSQL_server.public.customers" {
		t.Errorf("topic %q", snap.Topic)
	}
	v := asJSON(t, snap.ValueSchema, snap.Value)
	schema := v["schema"].(map[string]any)
	if schema["name"] != "PostgreSQL_server.public.customers.Envelope" || schema["version"] != float64(envelopeVersion) {
		t.Errorf("envelope schema name/version: %v %v", schema["name"], schema["version"])
	}
	var names []string
	for _, f := range schema["fields"].([]any) {
		names = append(names, f.(map[string]any)["field"].(string))
	}
	if got := strings.Join(names, ","); got != "before,after,source,transaction,op,ts_ms,ts_us,ts_ns" {
		t.Errorf("envelope fields %s", got)
	}
	after := schema["fields"].([]any)[1].(map[string]any)
	wantAfter := map[string]any{"type": "struct", "optional": true, "name": "PostgreSQL_server.public.customers.Value", "field": "after",
		"fields": []any{
			map[string]any{"type": "int32", "optional": false, "field": "id"},
			map[string]any{"type": "string", "optional": false, "field": "first_name"},
			map[string]any{"type": "string", "optional": false, "field": "last_name"},
			map[string]any{"type": "string", "optional": false, "field": "email"},
		}}
	if !reflect.DeepEqual(after, wantAfter) {
		t.Errorf("after schema:\n got %v\nwant %v", after, wantAfter)
	}
	p := v["payload"].(map[string]any)
	if p["op"] != "r" || p["before"] != nil || p["after"].(map[string]any)["email"] != "annek@noanswer.org" {
		t.Errorf("snapshot payload %v", p)
	}
	src := p["source"].(map[string]any)
	if src["snapshot"] != "last" || src["connector"] != "postgresql" || src["name"] != "PostgreSQL_server" || src["db"] != db ||
		src["schema"] != "public" || src["table"] != "customers" || src["version"] != debeziumVersion {
		t.Errorf("snapshot source %v", src)
	}
	if snap.SourceOffset["snapshot"] != true || snap.SourceOffset["last_snapshot_record"] != true {
		t.Errorf("snapshot offset %v", snap.SourceOffset)
	}

	execSQL(t, conn,
		`INSERT INTO customers (first_name, last_name, email) VALUES ('Sally', 'Thomas', 'sally.thomas@acme.com')`,
		`UPDATE customers SET first_name = 'Anne Marie' WHERE id = 1`,
		`DELETE FROM customers WHERE id = 1`)
	recs := pollUntil(t, task, 4) // c, u, d, tombstone
	ops := []string{}
	for _, r := range recs[:3] {
		ops = append(ops, asJSON(t, r.ValueSchema, r.Value)["payload"].(map[string]any)["op"].(string))
	}
	if strings.Join(ops, "") != "cud" {
		t.Fatalf("ops %v", ops)
	}
	c := asJSON(t, recs[0].ValueSchema, recs[0].Value)["payload"].(map[string]any)
	src = c["source"].(map[string]any)
	if src["snapshot"] != "false" || src["txId"] == nil || src["lsn"] == nil || src["xmin"] != nil || src["ts_ms"] == nil {
		t.Errorf("streaming source %v", src)
	}
	var seq []string
	if err := json.Unmarshal([]byte(src["sequence"].(string)), &seq); err != nil || len(seq) != 2 {
		t.Errorf("sequence %v: %v", src["sequence"], err)
	}
	u := asJSON(t, recs[1].ValueSchema, recs[1].Value)["payload"].(map[string]any)
	if u["before"] != nil || u["after"].(map[string]any)["first_name"] != "Anne Marie" {
		t.Errorf("update with REPLICA IDENTITY DEFAULT: %v", u)
	}
	d := asJSON(t, recs[2].ValueSchema, recs[2].Value)["payload"].(map[string]any)
	// REPLICA IDENTITY DEFAULT: the before image carries the key; NOT NULL columns get
	// Debezium's fallback (the type's zero) so the struct stays valid.
	if b := d["before"].(map[string]any); d["after"] != nil || b["id"] != float64(1) || b["email"] != "" {
		t.Errorf("delete: %v", d)
	}
	if recs[3].Value != nil || recs[3].ValueSchema != nil || !reflect.DeepEqual(asJSON(t, recs[3].KeySchema, recs[3].Key), asJSON(t, recs[2].KeySchema, recs[2].Key)) {
		t.Errorf("tombstone %+v", recs[3])
	}
	for _, k := range []string{"lsn_proc", "lsn_commit", "lsn", "txId", "ts_usec"} {
		if _, ok := recs[0].SourceOffset[k]; !ok {
			t.Errorf("offset lacks %s: %v", k, recs[0].SourceOffset)
		}
	}
}

// TestSourceTypes checks the type mapping of the common column types, REPLICA IDENTITY FULL
// before images and a column added by ALTER TABLE while streaming.
func TestSourceTypes(t *testing.T) {
	s := needPostgres(t)
	db, conn := newDB(t, s)
	execSQL(t, conn, `CREATE TABLE t (id bigint PRIMARY KEY, n numeric(10,2), vn numeric, f real, d double precision,
		b boolean, dt date, tm time, ts timestamp, tsm timestamp(3), tz timestamptz, u uuid, j jsonb, by bytea,
		ai int[], at text[], s smallint, c char(3))`,
		`ALTER TABLE t REPLICA IDENTITY FULL`)
	task := startSource(t, sourceConfigFor(s, db, "ty", "snapshot.mode", "no_data"), &offsetStore{})
	execSQL(t, conn, `INSERT INTO t VALUES (1, -12.34, 3.14159, 1.5, 2.25, true, '2024-02-29', '13:14:15.123456',
		'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123', '2024-02-29 13:14:15.5+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		'{"a": [1, 2]}', '\x00ff', '{1,NULL,3}', '{"x y","q\"z"}', 7, 'ab')`)
	rec := pollUntil(t, task, 1)[0]
	after := asJSON(t, rec.ValueSchema, rec.Value)["payload"].(map[string]any)["after"].(map[string]any)
	want := map[string]any{
		"id": float64(1), "n": "+y4=", // -1234: 0xfb2e
		"vn": map[string]any{"scale": float64(5), "value": "BMsv"}, // 314159: 0x04cb2f
		"f":  1.5, "d": 2.25, "b": true, "dt": float64(19782), "tm": float64(47655123456),
		"ts": float64(1709212455123456), "tsm": float64(1709212455123), "tz": "2024-02-29T11:14:15.500000Z",
		"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": `{"a": [1, 2]}`, "by": "AP8=",
		"ai": []any{float64(1), nil, float64(3)}, "at": []any{"x y", `q"z`}, "s": float64(7), "c": "ab ",
	}
	for k, w := range want {
		if !reflect.DeepEqual(after[k], w) {
			t.Errorf("%s = %#v, want %#v", k, after[k], w)
		}
	}
	fields := map[string]map[string]any{}
	for _, f := range asJSON(t, rec.ValueSchema, rec.Value)["schema"].(map[string]any)["fields"].([]any)[1].(map[string]any)["fields"].([]any) {
		fm := f.(map[string]any)
		fields[fm["field"].(string)] = fm
	}
	for col, name := range map[string]string{"n": nameDecimal, "vn": nameVarDecimal, "dt": nameDate, "tm": nameMicroTime,
		"ts": nameMicroTimestamp, "tsm": nameTimestamp, "tz": nameZonedTimestamp, "u": nameUUID, "j": nameJSON} {
		if fields[col]["name"] != name {
			t.Errorf("column %s schema name %v, want %s", col, fields[col]["name"], name)
		}
	}
	if p := fields["n"]["parameters"].(map[string]any); p["scale"] != "2" || p["connect.decimal.precision"] != "10" {
		t.Errorf("decimal parameters %v", p)
	}

	execSQL(t, conn, `UPDATE t SET s = 8 WHERE id = 1`, `ALTER TABLE t ADD COLUMN extra text`, `UPDATE t SET extra = 'new' WHERE id = 1`)
	recs := pollUntil(t, task, 2)
	u := asJSON(t, recs[0].ValueSchema, recs[0].Value)["payload"].(map[string]any)
	if before, _ := u["before"].(map[string]any); before == nil || before["s"] != float64(7) || before["n"] != "+y4=" {
		t.Errorf("REPLICA IDENTITY FULL before image: %v", u["before"])
	}
	a := asJSON(t, recs[1].ValueSchema, recs[1].Value)["payload"].(map[string]any)["after"].(map[string]any)
	if a["extra"] != "new" || a["s"] != float64(8) {
		t.Errorf("after ALTER TABLE ADD COLUMN: %v", a)
	}
}

// slotLSN reads the slot's confirmed_flush_lsn.
func slotLSN(t *testing.T, conn *pgx.Conn, slot string) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// waitSlotPast waits until the slot's confirmed_flush_lsn is past lsn.
func waitSlotPast(t *testing.T, conn *pgx.Conn, slot string, lsn pglogrepl.LSN) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for slotLSN(t, conn, slot) <= lsn {
		if time.Now().After(deadline) {
			t.Fatalf("confirmed_flush_lsn of %s still %s, want past %s", slot, slotLSN(t, conn, slot), lsn)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pollOnce polls task once (300 ms at most).
func pollOnce(t *testing.T, task *SourceTask) []connect.SourceRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	recs, err := task.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestSourceConfirmsOnlyAfterCommit checks that the slot's confirmed_flush_lsn stays put
// while records are only polled, moves once Commit says they were acknowledged, and that a
// restarted task resumes after them.
func TestSourceConfirmsOnlyAfterCommit(t *testing.T) {
	s := needPostgres(t)
	db, conn := newDB(t, s)
	execSQL(t, conn, `CREATE TABLE k (id int PRIMARY KEY, v text)`)
	cfg := sourceConfigFor(s, db, "cf", "snapshot.mode", "no_data")
	store := &offsetStore{}
	task := startSource(t, cfg, store)
	slot := cfg["slot.name"]
	initial := slotLSN(t, conn, slot)

	execSQL(t, conn, `INSERT INTO k VALUES (1, 'a'), (2, 'b')`, `INSERT INTO k VALUES (3, 'c')`)
	recs := pollUntil(t, task, 3)
	// Status updates go out while polling; none may confirm anything.
	if extra := pollOnce(t, task); len(extra) > 0 {
		t.Fatalf("unexpected records %v", extra)
	}
	if got := slotLSN(t, conn, slot); got != initial {
		t.Fatalf("confirmed_flush_lsn moved from %s to %s before any Commit", initial, got)
	}
	last := recs[2]
	store.put(last.SourcePartition, last.SourceOffset)
	stored, _ := store.Offset(last.SourcePartition)
	if err := task.Commit(map[string]map[string]any{"cf": stored}); err != nil {
		t.Fatal(err)
	}
	waitSlotPast(t, conn, slot, initial)
	if got, lsn := slotLSN(t, conn, slot), pglogrepl.LSN(int64(stored["lsn"].(float64))); got <= lsn {
		t.Errorf("confirmed_flush_lsn %s, want past the last record's change at %s (its transaction's end)", got, lsn)
	}
	task.Stop()

	// A new task resumes from the stored offset: only the new change comes.
	execSQL(t, conn, `INSERT INTO k VALUES (4, 'd')`)
	task2 := startSource(t, cfg, store)
	recs = pollUntil(t, task2, 1)
	if id := recs[0].Key.(*connect.StructValue).Get("id"); id != int32(4) {
		t.Fatalf("resumed with key %v, want 4", id)
	}
}

// TestSourceResumeInsideTransaction stores the offset of a change in the middle of a
// transaction (as after a crash while its records were being acknowledged) and checks that a
// new task delivers exactly the rest of that transaction, then an interrupted snapshot is
// taken again from the start.
func TestSourceResumeInsideTransaction(t *testing.T) {
	s := needPostgres(t)
	db, conn := newDB(t, s)
	execSQL(t, conn, `CREATE TABLE r (id int PRIMARY KEY)`, `INSERT INTO r SELECT generate_series(1, 3)`)
	cfg := sourceConfigFor(s, db, "rs")
	store := &offsetStore{}
	task := startSource(t, cfg, store)
	snap := pollUntil(t, task, 3)
	// The snapshot was interrupted after its first record: the next task takes it again.
	store.put(snap[0].SourcePartition, snap[0].SourceOffset)
	task.Stop()
	task = startSource(t, cfg, store)
	snap = pollUntil(t, task, 3)
	if snap[2].SourceOffset["last_snapshot_record"] != true {
		t.Fatalf("second snapshot's last offset %v", snap[2].SourceOffset)
	}
	store.put(snap[2].SourcePartition, snap[2].SourceOffset)

	execSQL(t, conn, `BEGIN; INSERT INTO r VALUES (10); INSERT INTO r VALUES (11); INSERT INTO r VALUES (12); COMMIT`)
	recs := pollUntil(t, task, 3)
	store.put(recs[0].SourcePartition, recs[0].SourceOffset) // only the first was acknowledged
	task.Stop()

	task = startSource(t, cfg, store)
	recs = pollUntil(t, task, 2)
	var ids []any
	for _, r := range recs {
		ids = append(ids, r.Key.(*connect.StructValue).Get("id"))
	}
	if !reflect.DeepEqual(ids, []any{int32(11), int32(12)}) {
		t.Fatalf("resumed with %v, want [11 12]", ids)
	}
}
