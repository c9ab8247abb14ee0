package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logd/logd/connect/postgres/pgtest"
)

// One PostgreSQL per package test run, started on first use.
var (
	pgServer *pgtest.Server
	pgErr    error // why PostgreSQL could not start
	tmpDir   string
	cleanups []func() // run after the tests
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "logd-connect-postgres-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tmpDir = dir
	code := m.Run()
	if pgServer != nil {
		if err := pgServer.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping PostgreSQL:", err)
		}
	}
	for _, f := range cleanups {
		f()
	}
	return code
}

// needPostgres returns the shared server, skipping (default suite) or failing (compat) the
// test when PostgreSQL is not installed.
func needPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	if pgServer == nil && pgErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pgServer, pgErr = pgtest.Start(ctx)
	}
	if errors.Is(pgErr, pgtest.ErrNoBinaries) && !requirePostgres {
		t.Skip(pgErr.Error())
	}
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pgServer
}

var dbSeq atomic.Int64

// newDB creates a fresh database on the shared server and returns its name and a connection
// closed at the end of the test.
func newDB(t *testing.T, s *pgtest.Server) (string, *pgx.Conn) {
	t.Helper()
	name := fmt.Sprintf("db%d_%d", dbSeq.Add(1), time.Now().UnixNano()%1e6)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return name, conn
}

// exec runs statements on conn, failing the test on error.
func execSQL(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// sourceConfigFor returns a source configuration for database db.
func sourceConfigFor(s *pgtest.Server, db, prefix string, extra ...string) map[string]string {
	cfg := map[string]string{
		"connector.class":   SourceClass,
		"database.hostname": "127.0.0.1",
		"database.port":     fmt.Sprint(s.Port),
		"database.user":     pgtest.Superuser,
		"database.dbname":   db,
		"topic.prefix":      prefix,
		"slot.name":         "slot_" + db,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return cfg
}

// offsetStore keeps source offsets as JSON, as Kafka Connect's offsets topic does.
type offsetStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *offsetStore) key(p map[string]any) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// Offset returns the stored offset of a partition (numbers come back as float64).
func (s *offsetStore) Offset(p map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[s.key(p)]
	if !ok {
		return nil, nil
	}
	var off map[string]any
	err := json.Unmarshal(b, &off)
	return off, err
}

func (s *offsetStore) put(p, off map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	b, _ := json.Marshal(off)
	s.m[s.key(p)] = b
}

// reconnect opens a new connection to db (after a server restart).
func reconnect(t *testing.T, s *pgtest.Server, db string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), s.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func readRows(t *testing.T, c *pgx.Conn, q string) []string {
	t.Helper()
	r, err := tryRows(c, q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tryRows(c *pgx.Conn, q string) ([]string, error) {
	rows, err := c.Query(context.Background(), q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
