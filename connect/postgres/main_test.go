package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/connect/postgres/pgtest"
	"github.com/logd/logd/internal/testcluster"
)

// One PostgreSQL and one `logd serve` per package test run, started on first use.
var (
	pgServer   *pgtest.Server
	pgErr      error // why PostgreSQL could not start
	brokers    []string
	brokerErr  error
	startOnce  atomic.Bool
	tmpDir     string
	logdCancel func()
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
	if logdCancel != nil {
		logdCancel()
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

// needBroker returns the addresses of the shared `logd serve`, building and starting it once.
func needBroker(t *testing.T) []string {
	t.Helper()
	if !startOnce.Swap(true) {
		brokerErr = startBroker()
	}
	if brokerErr != nil {
		t.Fatal(brokerErr)
	}
	return brokers
}

func startBroker() error {
	bin := filepath.Join(tmpDir, "logd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/logd").CombinedOutput(); err != nil {
		return fmt.Errorf("building logd: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.Config{Binary: bin, Nodes: 1, Dir: tmpDir, Log: io.Discard})
	if err != nil {
		return fmt.Errorf("starting logd: %w", err)
	}
	brokers = c.Bootstrap()
	logdCancel = func() { c.Close() }
	return nil
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

// newClient returns a franz-go client of the shared broker closed at the end of the test.
func newClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(needBroker(t)...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
