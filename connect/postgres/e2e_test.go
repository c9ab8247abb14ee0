//go:build compat

package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/connect/postgres/pgtest"
)

// e2eTables are the captured tables: their source name and primary key.
var e2eTables = []struct{ name, key string }{
	{"public.orders", "id"},
	{"public.items", "order_id, line"},
	{"inventory.stock", "sku"},
}

// TestEndToEnd runs change capture from one database through logd into a second database
// with the JDBC sink, while the workload changes several tables, the source task is killed
// and restarted mid-stream, a column is added, and PostgreSQL itself restarts; at the end the
// two databases must hold the same rows.
func TestEndToEnd(t *testing.T) {
	s := needPostgres(t)
	brokers := needBroker(t)
	src, conn := newDB(t, s)
	dst, dconn := newDB(t, s)
	createE2ETables(t, conn)
	prefix := "e2e" + src
	srcCfg := sourceConfigFor(s, src, prefix, "table.exclude.list", `public\.ignored`, "heartbeat.interval.ms", "200")
	sinkCfg := e2eSinkConfig(s, dst)
	// Kafka Connect's producers let the broker create topics (allow.auto.create.topics).
	cl := newClient(t, kgo.AllowAutoTopicCreation())
	store := &offsetStore{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	run := func(ctx context.Context, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				errs <- err
			}
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	srcCtx, killSource := context.WithCancel(ctx)
	defer killSource()
	run(srcCtx, func(ctx context.Context) error { return runSource(ctx, cl, srcCfg, store) })
	run(ctx, func(ctx context.Context) error { return runSink(ctx, brokers, "^"+prefix+`\..*`, sinkCfg) })

	rng := rand.New(rand.NewPCG(1, 2))
	workload := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			conn = workTx(t, s, src, conn, rng)
			checkErrs(t, errs)
		}
	}
	workload(60)
	waitProgress(t, store, prefix, nil, errs)

	// Kill the source mid-stream (nothing more is acknowledged) and start a new task.
	killSource()
	workload(20)
	before, _ := store.Offset(map[string]any{"server": prefix})
	run(ctx, func(ctx context.Context) error { return runSource(ctx, cl, srcCfg, store) })
	workload(20)
	waitProgress(t, store, prefix, before, errs)

	execSQL(t, conn, `ALTER TABLE orders ADD COLUMN priority int`)
	workload(30)

	// Restart PostgreSQL under both connectors.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn = reconnect(t, s, src)
	dconn = reconnect(t, s, dst)
	workload(60)

	deadline := time.Now().Add(60 * time.Second)
	for {
		checkErrs(t, errs)
		diff := compareDBs(t, conn, dconn, prefix)
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("databases differ after the workload: %s", diff)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Everything was acknowledged: heartbeats bring the slot up to the WAL written so far.
	var cur string
	if err := conn.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&cur); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(cur)
	if err != nil {
		t.Fatal(err)
	}
	waitSlotPast(t, conn, srcCfg["slot.name"], lsn-1)

	var ignored bool
	if err := dconn.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, fmt.Sprintf(`"%s_public_ignored"`, prefix)).Scan(&ignored); err != nil || ignored {
		t.Errorf("excluded table reached the sink (exists=%v, err=%v)", ignored, err)
	}
}

// createE2ETables creates the captured tables (and one excluded table) with rows that come
// through the snapshot.
func createE2ETables(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	execSQL(t, conn,
		`CREATE SCHEMA inventory`,
		`CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), placed timestamptz, tags text[], note text)`,
		`CREATE TABLE items (order_id int, line int, sku uuid, qty smallint, price double precision, PRIMARY KEY (order_id, line))`,
		`ALTER TABLE items REPLICA IDENTITY FULL`,
		`CREATE TABLE inventory.stock (sku text PRIMARY KEY, count bigint NOT NULL, updated date, data jsonb, blob bytea)`,
		`CREATE TABLE ignored (id int PRIMARY KEY)`,
		// Rows before the connector starts: they come through the snapshot.
		`INSERT INTO orders SELECT g, 'c' || g, g * 1.25, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', ARRAY['a', 'b' || g], NULL FROM generate_series(1, 50) g`,
		`INSERT INTO items SELECT g % 50 + 1, g, gen_random_uuid(), g % 7, g / 3.0 FROM generate_series(1, 80) g`,
		`INSERT INTO inventory.stock SELECT 'sku' || g, g * 10, '2024-03-01'::date + g, jsonb_build_object('g', g), decode(lpad(to_hex(g), 4, '0'), 'hex') FROM generate_series(1, 30) g`,
		`INSERT INTO ignored SELECT generate_series(1, 5)`,
	)
}

// e2eSinkConfig returns the JDBC sink's configuration of the end-to-end tests (upserts,
// deletes, tables created and evolved from the records), writing into database dst.
func e2eSinkConfig(s *pgtest.Server, dst string) map[string]string {
	return sinkConfigFor(s, dst, "connector.class", SinkClass, "insert.mode", "upsert", "primary.key.mode", "record_key",
		"delete.enabled", "true", "schema.evolution", "basic", "batch.size", "100")
}

// waitProgress waits until the stored source offset is a streaming one different from prev.
func waitProgress(t *testing.T, store *offsetStore, prefix string, prev map[string]any, errs chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		checkErrs(t, errs)
		off, _ := store.Offset(map[string]any{"server": prefix})
		if off != nil && off["snapshot"] == nil && fmt.Sprint(off) != fmt.Sprint(prev) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no source progress past %v", prev)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkErrs(t *testing.T, errs chan error) {
	t.Helper()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// workTx runs one random transaction of inserts, updates and deletes on the captured tables.
func workTx(t *testing.T, s *pgtest.Server, db string, conn *pgx.Conn, rng *rand.Rand) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	var stmts []string
	for range 1 + rng.IntN(4) {
		id := 1 + rng.IntN(120)
		switch rng.IntN(9) {
		case 0, 1:
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO orders (id, customer, amount, placed, tags, note) VALUES (%d, 'n%d', %d.%02d, now(), ARRAY['x', NULL, 'q"%d'], 'it''s') ON CONFLICT (id) DO UPDATE SET customer = EXCLUDED.customer`, id, rng.IntN(1000), rng.IntN(10000), rng.IntN(100), id))
		case 2:
			stmts = append(stmts, fmt.Sprintf(`UPDATE orders SET amount = amount + 1, note = repeat('z', %d) WHERE id = %d`, rng.IntN(20), id))
		case 3:
			stmts = append(stmts, fmt.Sprintf(`DELETE FROM orders WHERE id = %d`, id))
		case 4:
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO items VALUES (%d, %d, gen_random_uuid(), %d, %f) ON CONFLICT DO NOTHING`, id, rng.IntN(5), rng.IntN(100), rng.Float64()*100))
		case 5:
			stmts = append(stmts, fmt.Sprintf(`UPDATE items SET qty = qty + 1, line = line + 100 WHERE order_id = %d`, id))
		case 6:
			stmts = append(stmts, fmt.Sprintf(`DELETE FROM items WHERE order_id = %d`, id))
		case 7:
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO inventory.stock VALUES ('sku%d', %d, current_date, '{"k": %d}', '\x%02x') ON CONFLICT (sku) DO UPDATE SET count = inventory.stock.count + 1, data = EXCLUDED.data`, id, rng.IntN(500), id, id%256))
		case 8:
			stmts = append(stmts, fmt.Sprintf(`DELETE FROM inventory.stock WHERE sku = 'sku%d'`, id))
		}
	}
	for attempt := 0; ; attempt++ {
		tx, err := conn.Begin(ctx)
		if err == nil {
			for _, st := range stmts {
				if _, err = tx.Exec(ctx, st); err != nil {
					break
				}
			}
			if err == nil {
				err = tx.Commit(ctx)
			} else {
				tx.Rollback(ctx)
			}
		}
		if err == nil {
			return conn
		}
		if !conn.IsClosed() || attempt > 50 {
			t.Fatalf("workload: %v in %v", err, stmts)
		}
		time.Sleep(100 * time.Millisecond) // the server is restarting
		if c, cerr := pgx.Connect(ctx, s.URL(db)); cerr == nil {
			conn = c
			t.Cleanup(func() { c.Close(context.Background()) })
		}
	}
}

// compareDBs returns "" when every captured table of the source database has the same rows
// as its sink table, else a description of the first difference.
func compareDBs(t *testing.T, srcConn, dstConn *pgx.Conn, prefix string) string {
	t.Helper()
	ctx := context.Background()
	for _, tbl := range e2eTables {
		schema, name, _ := strings.Cut(tbl.name, ".")
		rows, err := srcConn.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, tbl.name)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = "coalesce(" + c + "::text, '<null>')"
		}
		q := "SELECT " + strings.Join(sel, " || '|' || ") + " FROM %s ORDER BY " + tbl.key
		want := readRows(t, srcConn, fmt.Sprintf(q, tbl.name))
		got, err := tryRows(dstConn, fmt.Sprintf(q, pgx.Identifier{prefix + "_" + schema + "_" + name}.Sanitize()))
		if err != nil {
			return fmt.Sprintf("%s: %v", tbl.name, err)
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("%s: %d rows in the sink, %d in the source; first difference: %s", tbl.name, len(got), len(want), firstDiff(got, want))
		}
	}
	return ""
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("sink %q, source %q", got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra sink row %q", got[len(want)])
	}
	if len(want) > len(got) {
		return fmt.Sprintf("missing row %q", want[len(got)])
	}
	return ""
}
