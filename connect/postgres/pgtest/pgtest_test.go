//go:build compat

package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestKillRestart starts a server, writes a row, kills the server as a crash would and checks
// that the restarted server (same directory, same port) still has the row.
func TestKillRestart(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil { // under the compat tag a missing PostgreSQL is a failure
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil || level != "logical" {
		t.Fatalf("wal_level %q, %v", level, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after kill and restart: %d, %v", v, err)
	}
}
