package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/logd/logd/connect"
)

// snapshotReader reads every captured table inside one REPEATABLE READ transaction that
// imported the slot's exported snapshot, so the rows it reads are exactly the state at the
// slot's consistent point and streaming continues from there without gap or overlap.
type snapshotReader struct {
	ctx    context.Context // the snapshot's lifetime (a cursor outlives each Poll)
	cancel context.CancelFunc
	conn   *pgx.Conn
	tx     pgx.Tx
	lsn    pglogrepl.LSN // the consistent point streaming starts from
	txID   int64
	tables []tableRef
	cur    int       // index into tables of the table being read
	tbl    *table    // its schemas
	rows   pgx.Rows  // its open cursor; nil between tables
	held   *snapRow  // the row read last, emitted once the next shows whether it ends a table
	count  int       // rows emitted
	start  time.Time // when the snapshot began (source ts of its events)
}

type snapRow struct {
	tbl   *table
	row   *connect.StructValue
	first bool // first row of its table
}

// startSnapshot opens the snapshot transaction: with the slot's exported snapshot when there
// is one (name != ""), else a fresh REPEATABLE READ snapshot.
func (t *SourceTask) startSnapshot(ctx context.Context, name string, lsn pglogrepl.LSN) (*snapshotReader, error) {
	conn, err := pgx.Connect(ctx, t.cfg.connString())
	if err != nil {
		return nil, errorf("connecting for the snapshot: %w", err)
	}
	s := &snapshotReader{conn: conn, lsn: lsn, start: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.tx, err = conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}); err != nil {
		s.close()
		return nil, errorf("starting the snapshot transaction: %w", err)
	}
	if name != "" {
		if _, err := s.tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(name, "'", "''")+"'"); err != nil {
			s.close()
			return nil, errorf("importing snapshot %s of slot %s: %w", name, t.cfg.slot, err)
		}
	}
	if err := s.tx.QueryRow(ctx, "SELECT txid_current()").Scan(&s.txID); err != nil {
		s.close()
		return nil, errorf("snapshot transaction id: %w", err)
	}
	if s.tables, err = t.cfg.listTables(ctx, s.tx); err != nil {
		s.close()
		return nil, err
	}
	s.tables = t.cfg.snapshotOrder(s.tables)
	return s, nil
}

func (s *snapshotReader) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.rows != nil {
		s.rows.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.tx != nil {
		s.tx.Rollback(ctx)
	}
	s.conn.Close(ctx)
}

// next reads the next row of the snapshot; nil at the end.
func (s *snapshotReader) next(cfg *sourceConfig) (*snapRow, error) {
	ctx := s.ctx
	for s.cur < len(s.tables) {
		first := false
		if s.rows == nil {
			ref := s.tables[s.cur]
			cols, err := tableColumns(ctx, s.tx, ref.oid)
			if err != nil {
				return nil, err
			}
			s.tbl = cfg.newTable(ref.schema, ref.name, cols)
			sel := make([]string, len(cols))
			for i, c := range cols {
				sel[i] = pgx.Identifier{c.name}.Sanitize() + "::text"
			}
			if len(sel) == 0 {
				s.cur++
				continue
			}
			if s.rows, err = s.tx.Query(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+ref.quoted()); err != nil {
				return nil, errorf("snapshot of %s.%s: %w", ref.schema, ref.name, err)
			}
			first = true
		}
		if s.rows.Next() {
			texts := make([]*string, len(s.tbl.columns))
			dest := make([]any, len(texts))
			for i := range texts {
				dest[i] = &texts[i]
			}
			if err := s.rows.Scan(dest...); err != nil {
				return nil, errorf("snapshot of %s.%s: %w", s.tbl.schema, s.tbl.name, err)
			}
			row, err := s.tbl.row(texts)
			if err != nil {
				return nil, err
			}
			return &snapRow{tbl: s.tbl, row: row, first: first}, nil
		}
		err := s.rows.Err()
		s.rows.Close()
		s.rows = nil
		if err != nil {
			return nil, errorf("snapshot of %s.%s: %w", s.tbl.schema, s.tbl.name, err)
		}
		s.cur++
	}
	return nil, nil
}

// pollSnapshot returns the next snapshot records (op r). The snapshot field marks the first
// and last record overall and of each table, as Debezium 3 does. When the snapshot ends the
// transaction is closed and streaming continues from the consistent point.
func (t *SourceTask) pollSnapshot(ctx context.Context) ([]connect.SourceRecord, error) {
	s := t.snap
	var out []connect.SourceRecord
	for len(out) < maxPollRecords && ctx.Err() == nil {
		r, err := s.next(t.cfg)
		if err != nil {
			return nil, err
		}
		if s.held != nil {
			last := r == nil
			out = append(out, t.snapshotRecord(s, s.held, last, last || r.tbl != s.held.tbl))
		}
		s.held = r
		if r == nil {
			break
		}
	}
	if s.held == nil && s.rows == nil && s.cur >= len(s.tables) {
		s.close()
		t.snap = nil
		t.resume = resumePoint{commitEnd: s.lsn}
		t.lastCommitEnd, t.afterSnapshot = s.lsn, true
		if len(out) == 0 && t.streaming {
			// Nothing captured: the consistent point itself is the offset to keep.
			t.lastPolled = map[string]any{"lsn": int64(s.lsn), "lsn_commit": int64(s.lsn), "txId": s.txID, "ts_usec": s.start.UnixMicro()}
		}
	}
	return out, nil
}

func (t *SourceTask) snapshotRecord(s *snapshotReader, r *snapRow, last, lastInTable bool) connect.SourceRecord {
	marker := "true"
	switch {
	case last:
		marker = "last"
	case s.count == 0:
		marker = "first"
	case lastInTable:
		marker = "last_in_data_collection"
	case r.first:
		marker = "first_in_data_collection"
	}
	s.count++
	ts := s.start.UnixMicro()
	si := sourceInfo{tsUsec: ts, snapshot: marker, txID: s.txID, lsn: int64(s.lsn)}
	off := map[string]any{"lsn": int64(s.lsn), "txId": s.txID, "ts_usec": ts, "snapshot": true, "last_snapshot_record": last}
	if last {
		off["lsn_commit"] = int64(s.lsn)
	}
	now := time.Now().UnixMicro()
	rec := connect.SourceRecord{
		SourcePartition: t.partition, SourceOffset: off, Topic: r.tbl.topic, Partition: -1,
		ValueSchema: r.tbl.envelope, Value: t.cfg.envelopeValue(r.tbl, "r", nil, r.row, si, now),
		Timestamp: time.UnixMicro(now),
	}
	if k := r.tbl.keyOf(r.row); k != nil {
		rec.KeySchema, rec.Key = r.tbl.key, k
	}
	t.lastPolled = off
	return rec
}
