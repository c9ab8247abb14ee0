package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logd/logd/connect"
)

// SinkClass is the class name of Debezium's JDBC sink connector.
const SinkClass = "io.debezium.connector.jdbc.JdbcSinkConnector"

func init() {
	connect.Register(&connect.Plugin{
		Class:        SinkClass,
		Aliases:      []string{"postgres-sink", "JdbcSinkConnector"},
		Kind:         connect.Sink,
		Version:      debeziumVersion,
		NewConnector: func() connect.Connector { return &SinkConnector{} },
		NewSinkTask:  func() connect.SinkTask { return &SinkTask{} },
	})
}

// sinkConfig is the parsed configuration of the JDBC sink, with Debezium's property names.
type sinkConfig struct {
	url         string // libpq URL derived from connection.url
	insertMode  string // insert, upsert, update
	pkMode      string // none, kafka, record_key, record_value
	pkFields    []string
	deletes     bool
	evolution   string // none, basic
	tableFormat string
	batchSize   int
}

func parseSinkConfig(cfg map[string]string) (*sinkConfig, []connect.ConfigError) {
	r := &configReader{cfg: cfg}
	c := &sinkConfig{
		insertMode: r.oneOf("insert.mode", "insert", "insert", "upsert", "update"),
		pkMode:     r.oneOf("primary.key.mode", "none", "none", "kafka", "record_key", "record_value"),
		pkFields:   r.list("primary.key.fields"),
		deletes:    r.boolean("delete.enabled", false),
		evolution:  r.oneOf("schema.evolution", "none", "none", "basic"),
		batchSize:  r.integer("batch.size", 500, 1, 1<<20),
	}
	c.tableFormat = r.str("collection.name.format", r.str("table.name.format", "${topic}"))
	if raw := r.required("connection.url"); raw != "" {
		u, err := parseJDBCURL(raw, r.str("connection.username", ""), r.str("connection.password", ""))
		if err != nil {
			r.fail("connection.url", "%v", err)
		}
		c.url = u
	}
	if c.deletes && c.pkMode != "record_key" {
		r.fail("delete.enabled", "delete.enabled=true needs primary.key.mode=record_key (deletes are found by the record key)")
	}
	if c.insertMode != "insert" && c.pkMode == "none" {
		r.fail("insert.mode", "insert.mode=%s needs a primary key: set primary.key.mode to record_key, record_value or kafka", c.insertMode)
	}
	if c.pkMode == "record_value" && len(c.pkFields) == 0 {
		r.fail("primary.key.fields", "primary.key.mode=record_value needs primary.key.fields (the value fields forming the key)")
	}
	return c, r.errs
}

// parseJDBCURL turns jdbc:postgresql://host[:port]/database[?user=..&password=..] into a
// libpq URL; user and password (connection.username/password) win over the URL's.
func parseJDBCURL(raw, user, password string) (string, error) {
	rest, ok := strings.CutPrefix(raw, "jdbc:postgresql://")
	if !ok {
		return "", fmt.Errorf("connection.url=%q must look like jdbc:postgresql://host:port/database", raw)
	}
	u, err := url.Parse("postgres://" + rest)
	if err != nil {
		return "", fmt.Errorf("connection.url=%q: %v", raw, err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if u.Hostname() == "" || db == "" {
		return "", fmt.Errorf("connection.url=%q must name a host and a database: jdbc:postgresql://host:port/database", raw)
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", fmt.Errorf("connection.url=%q: bad port %q", raw, p)
		}
	}
	q := u.Query()
	if user == "" {
		user = q.Get("user")
	}
	if password == "" {
		password = q.Get("password")
	}
	if user == "" {
		return "", fmt.Errorf("no user: set connection.username (or user= in connection.url)")
	}
	return pgURL(u.Hostname(), port, user, password, db), nil
}

// SinkConnector is the JDBC sink connector; its tasks share the configuration.
type SinkConnector struct {
	config map[string]string
}

// Validate reports every problem with the configuration.
func (c *SinkConnector) Validate(config map[string]string) []connect.ConfigError {
	_, errs := parseSinkConfig(config)
	return errs
}

// Start keeps the validated configuration.
func (c *SinkConnector) Start(_ connect.ConnectorContext, config map[string]string) error {
	if _, errs := parseSinkConfig(config); len(errs) > 0 {
		return errorf("invalid configuration: %s: %s", errs[0].Name, errs[0].Message)
	}
	c.config = maps.Clone(config)
	return nil
}

// TaskConfigs gives every task the same configuration (the runtime splits the partitions).
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, max(maxTasks, 1))
	for i := range out {
		out[i] = maps.Clone(c.config)
	}
	return out, nil
}

// Stop has nothing to release.
func (c *SinkConnector) Stop() error { return nil }

// SinkTask writes records into PostgreSQL.
type SinkTask struct {
	cfg    *sinkConfig
	conn   *pgx.Conn
	buf    []sinkOp
	tables map[string]*sinkTable // by quoted name
}

// sinkOp is one row write: an upsert/insert/update of cols, or a delete by key.
type sinkOp struct {
	table  string // quoted, possibly schema-qualified
	delete bool
	cols   []sinkCol // the row (delete: the key columns)
	key    []string  // names of the primary key columns
}

type sinkCol struct {
	name   string
	schema *connect.Schema // nil: schemaless, text
	value  any             // SQL-ready: nil, bool, int64, float64, string, []byte
	skip   bool            // Debezium's unavailable-value placeholder: leave the column as it is
}

// sinkTable is what the task knows of a table it writes to.
type sinkTable struct {
	columns map[string]bool
}

// Start connects to the database.
func (t *SinkTask) Start(_ connect.SinkTaskContext, config map[string]string) error {
	cfg, errs := parseSinkConfig(config)
	if len(errs) > 0 {
		return errorf("invalid configuration: %s: %s", errs[0].Name, errs[0].Message)
	}
	t.cfg = cfg
	t.tables = map[string]*sinkTable{}
	return t.connect()
}

func (t *SinkTask) connect() error {
	cc, err := pgx.ParseConfig(t.cfg.url)
	if err != nil {
		return errorf("sink connection: %w", err)
	}
	// The simple protocol sends values as literals that PostgreSQL casts to each column's
	// type, so one value form serves numeric, date, uuid, jsonb... columns alike.
	cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if t.conn, err = pgx.ConnectConfig(ctx, cc); err != nil {
		return fmt.Errorf("%w: %w", connect.ErrRetriable, errorf("connecting the sink to %s@%s:%d/%s: %w", cc.User, cc.Host, cc.Port, cc.Database, err))
	}
	return nil
}

// Put converts the records and writes them once batch.size are buffered.
func (t *SinkTask) Put(records []connect.SinkRecord) error {
	n := len(t.buf)
	for i := range records {
		op, ok, err := t.cfg.toOp(&records[i])
		if err != nil {
			t.buf = t.buf[:n]
			return err
		}
		if ok {
			t.buf = append(t.buf, op)
		}
	}
	if len(t.buf) >= t.cfg.batchSize {
		if err := t.write(); err != nil {
			if errors.Is(err, connect.ErrRetriable) {
				t.buf = t.buf[:n] // Put is retried with the same records
			}
			return err
		}
	}
	return nil
}

// Flush writes everything buffered in one transaction.
func (t *SinkTask) Flush(map[connect.TopicPartition]int64) error {
	return t.write()
}

// Stop closes the connection; unflushed records are dropped (their offsets were not committed).
func (t *SinkTask) Stop() error {
	if t.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		t.conn.Close(ctx)
		t.conn = nil
	}
	return nil
}

// write applies the buffered operations in one transaction, batch.size statements per round
// trip, evolving tables first when schema.evolution=basic.
func (t *SinkTask) write() error {
	if len(t.buf) == 0 {
		return nil
	}
	if t.conn == nil || t.conn.IsClosed() {
		if err := t.connect(); err != nil {
			return err
		}
	}
	if err := t.writeTx(); err != nil {
		// DDL of the failed transaction was rolled back with it: forget what it created.
		t.tables = map[string]*sinkTable{}
		return err
	}
	t.buf = t.buf[:0]
	return nil
}

// writeTx is write's transaction.
func (t *SinkTask) writeTx() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		return t.dbError(err)
	}
	defer tx.Rollback(ctx)
	ops := make([]sinkOp, 0, len(t.buf))
	for _, op := range t.buf {
		exists, err := t.prepareTable(ctx, tx, op)
		if err != nil {
			return t.dbError(err)
		}
		if exists { // a delete from a table never created has nothing to do
			ops = append(ops, op)
		}
	}
	for start := 0; start < len(ops); start += t.cfg.batchSize {
		b := &pgx.Batch{}
		for _, op := range ops[start:min(start+t.cfg.batchSize, len(ops))] {
			sql, args := t.cfg.statement(op)
			b.Queue(sql, args...)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return t.dbError(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return t.dbError(err)
	}
	return nil
}

// dbError marks errors of a lost connection retriable; others (constraint violations, bad
// values) fail the task.
func (t *SinkTask) dbError(err error) error {
	if t.conn == nil || t.conn.IsClosed() {
		return fmt.Errorf("%w: %w", connect.ErrRetriable, errorf("sink: %w", err))
	}
	return errorf("sink: %w", err)
}

// toOp turns a record into a row operation; ok is false for records the configuration says
// to skip (tombstones and deletes without delete.enabled).
func (c *sinkConfig) toOp(r *connect.SinkRecord) (sinkOp, bool, error) {
	op := sinkOp{table: c.tableName(r)}
	value, _ := r.Value.(*connect.StructValue)
	if r.Value != nil && value == nil {
		return op, false, errorf("sink: record %s/%d@%d: value is %T, not a struct (use a converter with schemas)", r.Topic, r.Partition, r.Offset, r.Value)
	}
	if value != nil && isEnvelope(value.Schema) {
		switch value.Get("op") {
		case "d":
			value = nil
		default:
			after, _ := value.Get("after").(*connect.StructValue)
			if after == nil {
				return op, false, errorf("sink: record %s/%d@%d: envelope with op %v has no after", r.Topic, r.Partition, r.Offset, value.Get("op"))
			}
			value = after
		}
	}
	key, err := c.keyColumns(r, value)
	if err != nil {
		return op, false, err
	}
	for _, k := range key {
		op.key = append(op.key, k.name)
	}
	if value == nil {
		if !c.deletes {
			return op, false, nil
		}
		op.delete, op.cols = true, key
		return op, true, nil
	}
	op.cols = key
	for i, f := range value.Schema.Fields {
		if slices.Contains(op.key, f.Name) {
			continue
		}
		col, err := sqlValue(f.Name, f.Schema, value.Values[i])
		if err != nil {
			return op, false, errorf("sink: record %s/%d@%d field %s: %w", r.Topic, r.Partition, r.Offset, f.Name, err)
		}
		op.cols = append(op.cols, col)
	}
	return op, true, nil
}

// keyColumns returns the primary key columns of a record as primary.key.mode says.
func (c *sinkConfig) keyColumns(r *connect.SinkRecord, value *connect.StructValue) ([]sinkCol, error) {
	switch c.pkMode {
	case "kafka":
		return []sinkCol{
			{name: "__connect_topic", schema: &connect.Schema{Type: connect.String}, value: r.Topic},
			{name: "__connect_partition", schema: &connect.Schema{Type: connect.Int32}, value: int64(r.Partition)},
			{name: "__connect_offset", schema: &connect.Schema{Type: connect.Int64}, value: r.Offset},
		}, nil
	case "record_key":
		if ks, ok := r.Key.(*connect.StructValue); ok {
			return structColumns(ks, c.pkFields)
		}
		if r.Key == nil {
			return nil, errorf("sink: record %s/%d@%d has no key but primary.key.mode=record_key", r.Topic, r.Partition, r.Offset)
		}
		if len(c.pkFields) != 1 {
			return nil, errorf("sink: record %s/%d@%d has a primitive key: name its column in primary.key.fields", r.Topic, r.Partition, r.Offset)
		}
		col, err := sqlValue(c.pkFields[0], r.KeySchema, r.Key)
		return []sinkCol{col}, err
	case "record_value":
		if value == nil {
			return nil, nil
		}
		return structColumns(value, c.pkFields)
	}
	return nil, nil
}

// structColumns returns the fields of s (only those named in fields, when given) as columns.
func structColumns(s *connect.StructValue, fields []string) ([]sinkCol, error) {
	var out []sinkCol
	for i, f := range s.Schema.Fields {
		if len(fields) > 0 && !slices.Contains(fields, f.Name) {
			continue
		}
		col, err := sqlValue(f.Name, f.Schema, s.Values[i])
		if err != nil {
			return nil, errorf("sink: key field %s: %w", f.Name, err)
		}
		out = append(out, col)
	}
	if len(out) == 0 {
		return nil, errorf("sink: none of the key fields %v is in the record", fields)
	}
	return out, nil
}

// isEnvelope reports whether a value schema is a Debezium change event envelope.
func isEnvelope(s *connect.Schema) bool {
	if s == nil || s.Type != connect.Struct {
		return false
	}
	_, op := s.Field("op")
	_, after := s.Field("after")
	_, before := s.Field("before")
	return op >= 0 && after >= 0 && before >= 0
}

// tableName applies table.name.format: ${topic} is the topic with dots replaced by
// underscores (Debezium's default naming); ${source.schema} and ${source.table} come from a
// Debezium envelope's source block. A dot left in the result separates schema and table.
func (c *sinkConfig) tableName(r *connect.SinkRecord) string {
	name := strings.ReplaceAll(c.tableFormat, "${topic}", strings.ReplaceAll(r.Topic, ".", "_"))
	if v, ok := r.Value.(*connect.StructValue); ok && isEnvelope(v.Schema) {
		if src, ok := v.Get("source").(*connect.StructValue); ok {
			if s, ok := src.Get("schema").(string); ok {
				name = strings.ReplaceAll(name, "${source.schema}", s)
			}
			if s, ok := src.Get("table").(string); ok {
				name = strings.ReplaceAll(name, "${source.table}", s)
			}
		}
	}
	if schema, tbl, ok := strings.Cut(name, "."); ok {
		return pgx.Identifier{schema, tbl}.Sanitize()
	}
	return pgx.Identifier{name}.Sanitize()
}

// statement returns the SQL and arguments of one operation.
func (c *sinkConfig) statement(op sinkOp) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if op.delete {
		conds := make([]string, len(op.cols))
		for i, col := range op.cols {
			conds[i] = pgx.Identifier{col.name}.Sanitize() + " = " + arg(col.value)
		}
		return "DELETE FROM " + op.table + " WHERE " + strings.Join(conds, " AND "), args
	}
	var names, vals, sets []string
	for _, col := range op.cols {
		if col.skip {
			continue
		}
		q := pgx.Identifier{col.name}.Sanitize()
		names = append(names, q)
		vals = append(vals, arg(col.value))
		if !slices.Contains(op.key, col.name) {
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	if c.insertMode == "update" {
		args = nil
		var conds, assigns []string
		for _, col := range op.cols {
			if col.skip {
				continue
			}
			expr := pgx.Identifier{col.name}.Sanitize() + " = " + arg(col.value)
			if slices.Contains(op.key, col.name) {
				conds = append(conds, expr)
			} else {
				assigns = append(assigns, expr)
			}
		}
		if len(assigns) == 0 {
			return "SELECT 1", nil
		}
		return "UPDATE " + op.table + " SET " + strings.Join(assigns, ", ") + " WHERE " + strings.Join(conds, " AND "), args
	}
	sql := "INSERT INTO " + op.table + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
	if c.insertMode == "upsert" {
		keys := make([]string, len(op.key))
		for i, k := range op.key {
			keys[i] = pgx.Identifier{k}.Sanitize()
		}
		if len(sets) == 0 {
			sql += " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO NOTHING"
		} else {
			sql += " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(sets, ", ")
		}
	}
	return sql, args
}

// prepareTable makes sure the table of op exists with op's columns: created or altered when
// schema.evolution=basic, an error naming what is missing otherwise. It reports false for a
// delete from a table that does not exist.
func (t *SinkTask) prepareTable(ctx context.Context, tx pgx.Tx, op sinkOp) (bool, error) {
	st := t.tables[op.table]
	if st == nil {
		cols, err := liveColumns(ctx, tx, op.table)
		if err != nil {
			return false, err
		}
		if cols == nil {
			if t.cfg.evolution != "basic" {
				return false, fmt.Errorf("table %s does not exist: create it or set schema.evolution=basic", op.table)
			}
			if op.delete {
				return false, nil
			}
			if err := t.createTable(ctx, tx, op); err != nil {
				return false, err
			}
			if cols, err = liveColumns(ctx, tx, op.table); err != nil {
				return false, err
			}
		}
		st = &sinkTable{columns: cols}
		t.tables[op.table] = st
	}
	if op.delete {
		return true, nil
	}
	for _, col := range op.cols {
		if st.columns[col.name] {
			continue
		}
		if t.cfg.evolution != "basic" {
			return false, fmt.Errorf("table %s has no column %s: add it or set schema.evolution=basic", op.table, col.name)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+op.table+" ADD COLUMN IF NOT EXISTS "+pgx.Identifier{col.name}.Sanitize()+" "+sqlType(col.schema)); err != nil {
			return false, fmt.Errorf("adding column %s to %s: %w", col.name, op.table, err)
		}
		st.columns[col.name] = true
	}
	return true, nil
}

func (t *SinkTask) createTable(ctx context.Context, tx pgx.Tx, op sinkOp) error {
	defs := make([]string, 0, len(op.cols)+1)
	for _, col := range op.cols {
		def := pgx.Identifier{col.name}.Sanitize() + " " + sqlType(col.schema)
		if slices.Contains(op.key, col.name) || (col.schema != nil && !col.schema.Optional) {
			def += " NOT NULL"
		}
		defs = append(defs, def)
	}
	if len(op.key) > 0 {
		keys := make([]string, len(op.key))
		for i, k := range op.key {
			keys[i] = pgx.Identifier{k}.Sanitize()
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+op.table+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return fmt.Errorf("creating table %s: %w", op.table, err)
	}
	return nil
}

// liveColumns returns the columns of a table (quoted name), nil when it does not exist.
func liveColumns(ctx context.Context, tx pgx.Tx, quoted string) (map[string]bool, error) {
	var oid *uint32
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1)::oid", quoted).Scan(&oid); err != nil {
		return nil, fmt.Errorf("looking up table %s: %w", quoted, err)
	}
	if oid == nil {
		return nil, nil
	}
	cols, err := tableColumns(ctx, tx, *oid)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(cols))
	for _, c := range cols {
		out[c.name] = true
	}
	return out, nil
}
