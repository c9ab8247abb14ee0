package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/logd/logd/connect"
)

// pollStream reads pgoutput messages until it has records and the stream pauses, the batch is
// full, or ctx is done; it answers keepalives, sends periodic status updates and emits
// heartbeats on the way.
func (t *SourceTask) pollStream(ctx context.Context) ([]connect.SourceRecord, error) {
	var out []connect.SourceRecord
	for len(out) < maxPollRecords {
		if t.repl == nil {
			return out, nil // lost on the way (status update, catalog lookup): the next Poll reconnects
		}
		deadline := time.Now().Add(time.Second)
		if len(out) > 0 {
			deadline = time.Now().Add(pollLinger)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := t.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if t.repl.IsClosed() {
				return out, t.lost(err)
			}
			// A timeout: do the periodic duties, then return what there is or wait on.
			if err := t.periodic(&out); err != nil {
				return out, err
			}
			if len(out) > 0 || ctx.Err() != nil {
				return out, nil
			}
			continue
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := t.handleCopyData(m.Data, &out); err != nil {
				return out, err
			}
		case *pgproto3.ErrorResponse:
			return out, t.lost(errorf("replication stream: %s (SQLSTATE %s)", m.Message, m.Code))
		}
	}
	return out, t.periodic(&out)
}

// periodic sends a status update when one is due and a heartbeat when the interval passed.
func (t *SourceTask) periodic(out *[]connect.SourceRecord) error {
	if t.repl == nil {
		return nil
	}
	if time.Since(t.lastStatus) >= statusInterval {
		if err := t.sendStatus(false); err != nil {
			return err
		}
	}
	if t.cfg.heartbeat > 0 && time.Since(t.lastHeartbeat) >= t.cfg.heartbeat {
		t.lastHeartbeat = time.Now()
		if rec, ok := t.heartbeat(); ok {
			*out = append(*out, rec)
		}
	}
	return nil
}

// heartbeat returns a heartbeat record when there is a position to confirm beyond the slot's:
// its offset carries the end of the last complete transaction (or, when the stream is idle,
// the server's WAL end), which Commit then confirms, so an idle or filtered-out database does
// not pin WAL in the slot.
func (t *SourceTask) heartbeat() (connect.SourceRecord, bool) {
	upTo := t.lastCommitEnd
	if !t.inTx && len(t.pendingEnds) == 0 {
		upTo = max(upTo, t.idleEnd)
	}
	if upTo <= t.confirmed {
		return connect.SourceRecord{}, false
	}
	now := time.Now()
	key := connect.NewStruct(heartbeatKeySchema)
	key.Values[0] = t.cfg.prefix
	val := connect.NewStruct(heartbeatValueSchema)
	val.Values[0] = now.UnixMilli()
	off := map[string]any{"lsn_commit": int64(upTo), "lsn_proc": int64(upTo), "lsn": int64(upTo), "ts_usec": now.UnixMicro()}
	return connect.SourceRecord{
		SourcePartition: t.partition, SourceOffset: off, Topic: t.cfg.heartbeatTopic, Partition: -1,
		KeySchema: heartbeatKeySchema, Key: key, ValueSchema: heartbeatValueSchema, Value: val, Timestamp: now,
	}, true
}

// handleCopyData handles one message of the replication stream.
func (t *SourceTask) handleCopyData(data []byte, out *[]connect.SourceRecord) error {
	if len(data) == 0 {
		return errorf("replication stream: empty CopyData message")
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return errorf("replication stream: %w", err)
		}
		if !t.inTx {
			t.idleEnd = max(t.idleEnd, ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			return t.sendStatus(false)
		}
		return nil
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return errorf("replication stream: %w", err)
		}
		t.received = max(t.received, xld.WALStart)
		return t.handleLogical(xld, out)
	}
	return errorf("replication stream: unknown message type %q", data[0])
}

// handleLogical decodes one pgoutput message and turns row changes into records.
func (t *SourceTask) handleLogical(xld pglogrepl.XLogData, out *[]connect.SourceRecord) error {
	msg, err := pglogrepl.Parse(xld.WALData)
	if err != nil {
		return errorf("decoding pgoutput message at %s: %w", xld.WALStart, err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		t.inTx, t.txXid, t.txCommitTS = true, m.Xid, m.CommitTime
		// A transaction whose commit lies before the resume point was delivered already.
		t.txSkip = m.FinalLSN < t.resume.commitEnd
	case *pglogrepl.CommitMessage:
		t.inTx = false
		end := m.TransactionEndLSN
		t.lastCommitEnd, t.afterSnapshot = max(t.lastCommitEnd, end), false
		t.received = max(t.received, end)
		if t.resume.xid == t.txXid {
			t.resume.xid = 0 // the partly delivered transaction is behind us
		}
		if !t.txSkip {
			t.pendingEnds = append(t.pendingEnds, pendingEnd{after: t.lastPolledID, end: end})
		}
	case *pglogrepl.RelationMessage:
		return t.relation(m)
	case *pglogrepl.InsertMessage:
		return t.change(xld.WALStart, m.RelationID, "c", nil, m.Tuple, out)
	case *pglogrepl.UpdateMessage:
		return t.change(xld.WALStart, m.RelationID, "u", m.OldTuple, m.NewTuple, out)
	case *pglogrepl.DeleteMessage:
		return t.change(xld.WALStart, m.RelationID, "d", m.OldTuple, nil, out)
	}
	// Truncate (Debezium skips truncates by default: skipped.operations=t), Type, Origin and
	// logical decoding messages carry no row change.
	return nil
}

// relation (re)builds a table's schemas from a Relation message, which pgoutput sends before
// the first change of a table in a session and again after its shape changed (ALTER TABLE).
func (t *SourceTask) relation(m *pglogrepl.RelationMessage) error {
	if !t.cfg.captured(m.Namespace, m.RelationName) {
		t.tables[m.RelationID] = nil
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	live, err := tableColumns(ctx, t.catalog, m.RelationID)
	if err != nil {
		return t.lost(err)
	}
	byName := map[string]column{}
	for _, c := range live {
		byName[c.name] = c
	}
	cols := make([]column, len(m.Columns))
	for i, rc := range m.Columns {
		c := byName[rc.Name] // a column dropped since: nullable, no key
		cols[i] = column{name: rc.Name, oid: rc.DataType, typmod: rc.TypeModifier, notNull: c.notNull, key: c.key}
	}
	t.tables[m.RelationID] = t.cfg.newTable(m.Namespace, m.RelationName, cols)
	return nil
}

// change turns one row change into its event record (and a tombstone after a delete).
func (t *SourceTask) change(lsn pglogrepl.LSN, rel uint32, op string, oldTuple, newTuple *pglogrepl.TupleData, out *[]connect.SourceRecord) error {
	tbl, known := t.tables[rel]
	if !known {
		return errorf("change for relation %d before its Relation message", rel)
	}
	if tbl == nil || t.txSkip || (t.resume.xid != 0 && t.txXid == t.resume.xid && lsn <= t.resume.proc) {
		return nil
	}
	before, err := t.tuple(tbl, oldTuple)
	if err != nil {
		return err
	}
	after, err := t.tuple(tbl, newTuple)
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	commitUsec := t.txCommitTS.UnixMicro()
	var lastCommit any = fmt.Sprint(uint64(t.lastCommitEnd))
	if t.afterSnapshot {
		lastCommit = nil
	}
	seq, _ := json.Marshal([]any{lastCommit, fmt.Sprint(uint64(lsn))})
	si := sourceInfo{tsUsec: commitUsec, snapshot: "false", sequence: string(seq), txID: int64(t.txXid), lsn: int64(lsn)}
	off := map[string]any{
		"lsn_proc": int64(lsn), "lsn_commit": int64(t.lastCommitEnd), "lsn": int64(lsn),
		"txId": int64(t.txXid), "ts_usec": commitUsec,
	}
	if op == "u" && before != nil && tbl.key != nil && !reflect.DeepEqual(tbl.keyOf(before).Values, tbl.keyOf(after).Values) {
		// The primary key changed: Debezium emits a delete of the old key (and its
		// tombstone) and a create of the new one.
		t.emit(tbl, "d", before, nil, si, off, now, out)
		t.emit(tbl, "c", nil, after, si, off, now, out)
	} else {
		t.emit(tbl, op, before, after, si, off, now, out)
	}
	t.lastPolled = off
	t.lastPolledID = recordID{int64(t.txXid), int64(lsn)}
	return nil
}

// emit appends the event record of one change, and a tombstone after a delete when
// tombstones.on.delete is set.
func (t *SourceTask) emit(tbl *table, op string, before, after *connect.StructValue, si sourceInfo, off map[string]any, now int64, out *[]connect.SourceRecord) {
	keyRow := after
	if op == "d" {
		keyRow = before
	}
	key := tbl.keyOf(keyRow)
	rec := connect.SourceRecord{
		SourcePartition: t.partition, SourceOffset: off, Topic: tbl.topic, Partition: -1,
		ValueSchema: tbl.envelope, Value: t.cfg.envelopeValue(tbl, op, before, after, si, now),
		Timestamp: time.UnixMicro(now),
	}
	if key != nil {
		rec.KeySchema, rec.Key = tbl.key, key
	}
	*out = append(*out, rec)
	if op == "d" && t.cfg.tombstones && key != nil {
		tomb := rec
		tomb.ValueSchema, tomb.Value = nil, nil
		*out = append(*out, tomb)
	}
}

// tuple converts a pgoutput tuple to a row (nil tuple: nil row). Unchanged TOAST values get
// Debezium's placeholder in text columns and null elsewhere.
func (t *SourceTask) tuple(tbl *table, td *pglogrepl.TupleData) (*connect.StructValue, error) {
	if td == nil {
		return nil, nil
	}
	texts := make([]*string, len(td.Columns))
	var toasted []int
	for i, c := range td.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeText:
			s := string(c.Data)
			texts[i] = &s
		case pglogrepl.TupleDataTypeToast:
			toasted = append(toasted, i)
		case pglogrepl.TupleDataTypeBinary:
			return nil, errorf("table %s.%s column %d: binary tuple data was not asked for", tbl.schema, tbl.name, i)
		}
	}
	row, err := tbl.row(texts)
	if err != nil {
		return nil, err
	}
	for _, i := range toasted {
		if i < len(row.Values) && tbl.value.Fields[i].Schema.Type == connect.String {
			row.Values[i] = unavailableText
		}
	}
	return row, nil
}
