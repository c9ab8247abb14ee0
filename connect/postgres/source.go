package postgres

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logd/logd/connect"
)

// SourceClass is the class name of Debezium's PostgreSQL connector, which configs name in
// connector.class.
const SourceClass = "io.debezium.connector.postgresql.PostgresConnector"

func init() {
	connect.Register(&connect.Plugin{
		Class:         SourceClass,
		Aliases:       []string{"postgres-cdc", "PostgresConnector"},
		Kind:          connect.Source,
		Version:       debeziumVersion,
		NewConnector:  func() connect.Connector { return &SourceConnector{} },
		NewSourceTask: func() connect.SourceTask { return &SourceTask{} },
	})
}

// SourceConnector is the change capture connector: it validates the configuration and runs
// one task (a replication slot is read by one reader, as in Debezium).
type SourceConnector struct {
	config map[string]string
}

// Validate reports every problem with the configuration.
func (c *SourceConnector) Validate(config map[string]string) []connect.ConfigError {
	_, errs := parseSourceConfig(config)
	return errs
}

// Start keeps the validated configuration.
func (c *SourceConnector) Start(_ connect.ConnectorContext, config map[string]string) error {
	if _, errs := parseSourceConfig(config); len(errs) > 0 {
		return errorf("invalid configuration: %s: %s", errs[0].Name, errs[0].Message)
	}
	c.config = maps.Clone(config)
	return nil
}

// TaskConfigs returns the one task's configuration, whatever maxTasks allows.
func (c *SourceConnector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{maps.Clone(c.config)}, nil
}

// Stop has nothing to release: the task owns the connections.
func (c *SourceConnector) Stop() error { return nil }

// Bounds of the task's work per call and its periodic duties.
const (
	maxPollRecords  = 2048
	statusInterval  = 10 * time.Second // standby status updates, well inside wal_sender_timeout
	connectTimeout  = 30 * time.Second
	reconnectWait   = time.Second
	reconnectFailAt = 2 * time.Minute // a database unreachable this long fails the task
	pollLinger      = 5 * time.Millisecond
	unavailableText = "__debezium_unavailable_value" // Debezium's placeholder for unchanged TOAST values
)

// SourceTask captures the changes of the configured tables: an initial snapshot (when the
// snapshot mode asks for one) and then the replication slot's pgoutput stream.
//
// Offsets are Debezium's: lsn_commit is the end of the last transaction whose changes were all
// polled before this record, lsn_proc and lsn the position of the record's change, txId its
// transaction. Commit confirms to the slot only what acknowledged records prove complete, so
// after a crash PostgreSQL resends from a point no later than the first unacknowledged change,
// and the task skips what the stored offset shows was already delivered.
type SourceTask struct {
	cfg       *sourceConfig
	partition map[string]any

	catalog *pgx.Conn       // catalog lookups (columns, keys)
	repl    *pgconn.PgConn  // the replication connection; nil while disconnected
	snap    *snapshotReader // non-nil while the snapshot is read

	tables map[uint32]*table // by relation id; nil entry: not captured

	streaming   bool // false after an initial_only snapshot
	replStarted bool // START_REPLICATION sent on repl

	resume resumePoint // what the stored (or last polled) offset says was delivered

	// The open transaction, between Begin and Commit.
	inTx       bool
	txXid      uint32
	txCommitTS time.Time
	txSkip     bool // the whole transaction was delivered before

	lastCommitEnd pglogrepl.LSN // end of the last transaction fully received
	// afterSnapshot: lastCommitEnd is the snapshot's consistent point, not a commit this task
	// streamed or resumed from; the sequence field then starts with null, as Debezium's.
	afterSnapshot bool
	idleEnd       pglogrepl.LSN // server WAL end seen in a keepalive while no transaction was open
	received      pglogrepl.LSN // the furthest WAL position received
	confirmed     pglogrepl.LSN // what the slot was told is flushed
	lastPolled    map[string]any
	lastPolledID  recordID
	pendingEnds   []pendingEnd
	lastStatus    time.Time
	lastHeartbeat time.Time
	downSince     time.Time // when the connection was lost; zero while connected
	lastErr       error     // why it was lost
	nextAttempt   time.Time // the earliest next reconnection attempt
}

// recordID identifies a polled change record by its offset.
type recordID struct {
	xid  int64
	proc int64
}

// pendingEnd is a transaction fully received whose end may be confirmed once the record
// polled just before its Commit (after) is acknowledged.
type pendingEnd struct {
	after recordID
	end   pglogrepl.LSN
}

// resumePoint is what a stored offset says was delivered: transactions ending at or before
// commitEnd, and in transaction xid the changes up to proc.
type resumePoint struct {
	commitEnd pglogrepl.LSN
	xid       uint32
	proc      pglogrepl.LSN
}

// Start connects, prepares publication and slot, and decides whether to snapshot.
func (t *SourceTask) Start(ctx connect.SourceTaskContext, config map[string]string) error {
	cfg, errs := parseSourceConfig(config)
	if len(errs) > 0 {
		return errorf("invalid configuration: %s: %s", errs[0].Name, errs[0].Message)
	}
	t.cfg = cfg
	t.partition = map[string]any{"server": cfg.prefix}
	t.tables = map[uint32]*table{}
	t.streaming = cfg.snapshotMode != "initial_only"
	stored, err := ctx.Offset(t.partition)
	if err != nil {
		return errorf("reading the stored offset: %w", err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if t.catalog, err = pgx.Connect(cctx, cfg.connString()); err != nil {
		return errorf("connecting to %s:%d/%s: %w", cfg.host, cfg.port, cfg.dbname, err)
	}
	if err := cfg.ensurePublication(cctx, t.catalog); err != nil {
		t.Stop()
		return err
	}
	slot, err := readSlot(cctx, t.catalog, cfg.slot)
	if err != nil {
		t.Stop()
		return err
	}
	if slot.exists && (slot.plugin != "pgoutput" || slot.database != cfg.dbname) {
		t.Stop()
		return errorf("replication slot %q exists for plugin %s on database %s, not pgoutput on %s: drop it or set slot.name", cfg.slot, slot.plugin, slot.database, cfg.dbname)
	}

	snapshotDone := stored != nil && !(stored["snapshot"] == true && stored["last_snapshot_record"] != true)
	needSnapshot := false
	switch cfg.snapshotMode {
	case "initial", "initial_only":
		needSnapshot = !snapshotDone
	case "always":
		needSnapshot = true
	}
	if stored != nil && snapshotDone {
		t.resume = resumeFrom(stored)
		t.lastCommitEnd = t.resume.commitEnd
		// Resuming right after the snapshot's last record: no commit streamed yet.
		t.afterSnapshot = stored["last_snapshot_record"] == true
	}
	if !needSnapshot && !t.streaming {
		return nil // initial_only, snapshot already taken: nothing more to do
	}

	if err := t.connectReplication(cctx); err != nil {
		t.Stop()
		return err
	}
	if !slot.exists {
		action := "NOEXPORT_SNAPSHOT"
		if needSnapshot {
			action = "EXPORT_SNAPSHOT"
		}
		res, err := pglogrepl.CreateReplicationSlot(cctx, t.repl, cfg.slot, "pgoutput",
			// initial_only reads the snapshot and stops: a temporary slot goes away with the
			// connection instead of pinning WAL forever.
			pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action, Temporary: !t.streaming})
		if err != nil {
			t.Stop()
			return errorf("creating replication slot %s: %w", cfg.slot, err)
		}
		cp, err := pglogrepl.ParseLSN(res.ConsistentPoint)
		if err != nil {
			t.Stop()
			return errorf("slot %s: consistent point %q: %w", cfg.slot, res.ConsistentPoint, err)
		}
		t.confirmed = cp
		if needSnapshot {
			t.snap, err = t.startSnapshot(cctx, res.SnapshotName, cp)
		}
	} else {
		if t.confirmed, err = pglogrepl.ParseLSN(slot.confirmed); err != nil {
			t.Stop()
			return errorf("slot %s: confirmed_flush_lsn %q: %w", cfg.slot, slot.confirmed, err)
		}
	}
	if slot.exists && needSnapshot {
		// The slot already exists: its changes since its confirmed position are streamed after
		// a fresh snapshot, so changes in between may come twice (at least once, as Debezium).
		t.snap, err = t.startSnapshot(cctx, "", t.confirmed)
	}
	if err != nil {
		t.Stop()
		return err
	}
	return nil
}

// resumeFrom reads a stored offset.
func resumeFrom(off map[string]any) resumePoint {
	var r resumePoint
	if v, ok := offsetInt(off, "lsn_commit"); ok {
		r.commitEnd = pglogrepl.LSN(v)
	} else if v, ok := offsetInt(off, "lsn"); ok {
		r.commitEnd = pglogrepl.LSN(v)
	}
	if v, ok := offsetInt(off, "txId"); ok {
		r.xid = uint32(v)
	}
	if v, ok := offsetInt(off, "lsn_proc"); ok {
		r.proc = pglogrepl.LSN(v)
	}
	return r
}

// offsetInt reads an integer offset field, whichever JSON number type the runtime stored.
func offsetInt(off map[string]any, key string) (int64, bool) {
	switch v := off[key].(type) {
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case int:
		return int64(v), true
	case uint64:
		return int64(v), true
	}
	return 0, false
}

// connectReplication opens the replication connection.
func (t *SourceTask) connectReplication(ctx context.Context) error {
	conn, err := pgconn.Connect(ctx, t.cfg.connString()+"&replication=database")
	if err != nil {
		return errorf("opening a replication connection to %s:%d/%s (the user needs the REPLICATION attribute): %w", t.cfg.host, t.cfg.port, t.cfg.dbname, err)
	}
	t.repl = conn
	t.replStarted = false
	return nil
}

// startReplication starts streaming from the slot at the resume point (PostgreSQL moves it up
// to the slot's confirmed position when it is older).
func (t *SourceTask) startReplication(ctx context.Context) error {
	err := pglogrepl.StartReplication(ctx, t.repl, t.cfg.slot, t.resume.commitEnd, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + strings.ReplaceAll(t.cfg.publication, "'", "''") + "'"},
	})
	if err != nil {
		return errorf("starting replication from slot %s: %w", t.cfg.slot, err)
	}
	t.replStarted = true
	t.lastStatus = time.Now()
	return nil
}

// Poll returns the next snapshot rows or change events.
func (t *SourceTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if t.snap != nil {
		recs, err := t.pollSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
	if !t.streaming {
		if t.repl != nil {
			t.closeConns() // initial_only: done; the temporary slot goes with the connection
		}
		<-ctx.Done()
		return nil, nil
	}
	if t.repl == nil || t.repl.IsClosed() {
		if err := t.reconnect(ctx); err != nil {
			return nil, err
		}
		if t.repl == nil {
			return nil, nil
		}
	}
	if !t.replStarted {
		if err := t.startReplication(ctx); err != nil {
			return nil, t.lost(err)
		}
	}
	return t.pollStream(ctx)
}

// reconnect reopens both connections after a loss, waiting a little between attempts; it
// fails only when the database stays unreachable for reconnectFailAt.
func (t *SourceTask) reconnect(ctx context.Context) error {
	if t.downSince.IsZero() {
		t.downSince = time.Now()
	}
	t.closeConns()
	// Attempts are spaced by reconnectWait whatever the length of each Poll.
	if wait := time.Until(t.nextAttempt); wait > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	t.nextAttempt = time.Now().Add(reconnectWait)
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var err error
	if t.catalog, err = pgx.Connect(cctx, t.cfg.connString()); err == nil {
		err = t.connectReplication(cctx)
	}
	if err != nil {
		t.closeConns()
		if time.Since(t.downSince) > reconnectFailAt {
			return errorf("database unreachable for %v (connection lost: %v): %w", time.Since(t.downSince).Round(time.Second), t.lastErr, err)
		}
		return nil
	}
	t.downSince = time.Time{}
	// Resume after what was polled; what was polled but not acknowledged is the runtime's.
	if t.lastPolled != nil {
		t.resume = resumeFrom(t.lastPolled)
	}
	t.inTx = false
	t.tables = map[uint32]*table{}
	return nil
}

// lost records a connection failure: the next Poll reconnects.
func (t *SourceTask) lost(err error) error {
	t.lastErr = err
	if t.downSince.IsZero() {
		t.downSince = time.Now()
	}
	t.closeConns()
	return nil
}

func (t *SourceTask) closeConns() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if t.repl != nil {
		t.repl.Close(ctx)
		t.repl = nil
	}
	if t.catalog != nil {
		t.catalog.Close(ctx)
		t.catalog = nil
	}
}

// Commit confirms to the slot the furthest position the acknowledged offset proves complete.
func (t *SourceTask) Commit(offsets map[string]map[string]any) error {
	off := offsets[t.cfg.prefix]
	if off == nil {
		for _, o := range offsets {
			off = o
		}
	}
	if off == nil {
		return nil
	}
	if off["snapshot"] == true && off["last_snapshot_record"] != true {
		return nil
	}
	var upTo pglogrepl.LSN
	if v, ok := offsetInt(off, "lsn_commit"); ok {
		upTo = pglogrepl.LSN(v)
	} else if v, ok := offsetInt(off, "lsn"); ok && off["snapshot"] == true {
		upTo = pglogrepl.LSN(v)
	}
	id := offsetID(off)
	for i, p := range t.pendingEnds {
		if p.after == id {
			upTo = max(upTo, p.end)
			// Later entries with the same record before them also completed.
			j := i + 1
			for ; j < len(t.pendingEnds) && t.pendingEnds[j].after == id; j++ {
				upTo = max(upTo, t.pendingEnds[j].end)
			}
			t.pendingEnds = t.pendingEnds[j:]
			break
		}
	}
	// Whatever ends at or before upTo is settled, matched or not: the list stays short even
	// when the runtime commits offsets that match no transaction's last record.
	t.pendingEnds = slices.DeleteFunc(t.pendingEnds, func(p pendingEnd) bool { return p.end <= upTo })
	if upTo > t.confirmed {
		t.confirmed = upTo
		return t.sendStatus(false)
	}
	return nil
}

func offsetID(off map[string]any) recordID {
	x, _ := offsetInt(off, "txId")
	p, _ := offsetInt(off, "lsn_proc")
	return recordID{x, p}
}

// sendStatus tells the server how far WAL was received and how far it may be released.
func (t *SourceTask) sendStatus(replyRequested bool) error {
	if t.repl == nil || !t.replStarted {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	write := max(t.received, t.confirmed)
	if t.confirmed == 0 {
		return nil // never 0: pglogrepl would report the write position as flushed
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, t.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: write, WALFlushPosition: t.confirmed, WALApplyPosition: t.confirmed, ReplyRequested: replyRequested,
	})
	if err != nil {
		return t.lost(err)
	}
	t.lastStatus = time.Now()
	return nil
}

// Stop closes the connections; the slot stays, holding WAL from the confirmed position.
func (t *SourceTask) Stop() error {
	if t.snap != nil {
		t.snap.close()
		t.snap = nil
	}
	t.closeConns()
	return nil
}
