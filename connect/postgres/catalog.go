package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// errorf returns an error whose text starts with the package's name.
func errorf(format string, args ...any) error {
	return fmt.Errorf("postgres: "+format, args...)
}

// pgURL builds a libpq connection URL. Sessions use UTC so that timestamptz values come out
// in one zone in both the snapshot and pgoutput's text.
func pgURL(host string, port int, user, password, db string) string {
	u := url.URL{Scheme: "postgres", Host: host + ":" + strconv.Itoa(port), Path: "/" + db}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	q := url.Values{}
	q.Set("timezone", "UTC")
	q.Set("application_name", "logd-connect")
	u.RawQuery = q.Encode()
	return u.String()
}

// tableRef names a table of the database.
type tableRef struct {
	oid          uint32
	schema, name string
}

func (r tableRef) quoted() string { return pgx.Identifier{r.schema, r.name}.Sanitize() }

// listTables returns the ordinary and partitioned tables of the database outside the system
// schemas that the include/exclude lists select, ordered by schema and name.
func (c *sourceConfig) listTables(ctx context.Context, q querier) ([]tableRef, error) {
	rows, err := q.Query(ctx, `SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, errorf("listing tables: %w", err)
	}
	var out []tableRef
	for rows.Next() {
		var r tableRef
		if err := rows.Scan(&r.oid, &r.schema, &r.name); err != nil {
			return nil, err
		}
		if c.captured(r.schema, r.name) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// querier is what catalog lookups need: a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// tableColumns reads a table's live columns from the catalog: type, NOT NULL, primary key.
func tableColumns(ctx context.Context, q querier, oid uint32) ([]column, error) {
	rows, err := q.Query(ctx, `SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull,
			coalesce(a.attnum = ANY(i.indkey), false)
		FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, oid)
	if err != nil {
		return nil, errorf("reading the columns of table oid %d: %w", oid, err)
	}
	var out []column
	for rows.Next() {
		var col column
		if err := rows.Scan(&col.name, &col.oid, &col.typmod, &col.notNull, &col.key); err != nil {
			return nil, err
		}
		out = append(out, col)
	}
	return out, rows.Err()
}

// ensurePublication creates or checks the publication as publication.autocreate.mode says:
// all_tables creates it FOR ALL TABLES if missing; filtered creates it for the captured tables
// or sets its tables to them; disabled requires it to exist.
func (c *sourceConfig) ensurePublication(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, c.publication).Scan(&exists); err != nil {
		return errorf("checking publication %s: %w", c.publication, err)
	}
	pub := pgx.Identifier{c.publication}.Sanitize()
	switch c.pubMode {
	case "disabled":
		if !exists {
			return errorf("publication %q does not exist and publication.autocreate.mode=disabled: create it (CREATE PUBLICATION %s FOR ...) or change the mode", c.publication, pub)
		}
		return nil
	case "all_tables":
		if exists {
			return nil
		}
		if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR ALL TABLES"); err != nil {
			return errorf("creating publication %s: %w", c.publication, err)
		}
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tables, err := c.listTables(ctx, tx)
	if err != nil {
		return err
	}
	if len(tables) == 0 {
		return errorf("publication.autocreate.mode=filtered but no table matches table.include.list/table.exclude.list")
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.quoted()
	}
	sql := "CREATE PUBLICATION " + pub + " FOR TABLE " + strings.Join(names, ", ")
	if exists {
		sql = "ALTER PUBLICATION " + pub + " SET TABLE " + strings.Join(names, ", ")
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return errorf("setting the tables of publication %s: %w", c.publication, err)
	}
	return tx.Commit(ctx)
}

// slotState is a replication slot as pg_replication_slots shows it.
type slotState struct {
	exists    bool
	plugin    string
	database  string
	confirmed string // confirmed_flush_lsn
}

func readSlot(ctx context.Context, conn *pgx.Conn, name string) (slotState, error) {
	var s slotState
	var confirmed *string
	err := conn.QueryRow(ctx, `SELECT plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, name).
		Scan(&s.plugin, &s.database, &confirmed)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, errorf("reading replication slot %s: %w", name, err)
	}
	s.exists = true
	if confirmed != nil {
		s.confirmed = *confirmed
	}
	return s, nil
}
