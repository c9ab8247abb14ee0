package postgres

import (
	"github.com/logd/logd/connect"
)

// debeziumVersion is the Debezium release whose event format (envelope, source block, schema
// names) the connector reproduces; it goes into source.version.
const debeziumVersion = "3.6.1.Final"

// envelopeVersion is the version of Debezium's envelope schema (io.debezium.data.Envelope).
const envelopeVersion = 2

// sourceSchema is Debezium's io.debezium.connector.postgresql.Source: the common source
// fields then the PostgreSQL ones, in Debezium's order.
var sourceSchema = &connect.Schema{Type: connect.Struct, Name: "io.debezium.connector.postgresql.Source", Version: 1, Fields: []connect.Field{
	{Name: "version", Schema: &connect.Schema{Type: connect.String}},
	{Name: "connector", Schema: &connect.Schema{Type: connect.String}},
	{Name: "name", Schema: &connect.Schema{Type: connect.String}},
	{Name: "ts_ms", Schema: &connect.Schema{Type: connect.Int64}},
	{Name: "snapshot", Schema: &connect.Schema{Type: connect.String, Optional: true, Name: "io.debezium.data.Enum", Version: 1,
		Parameters: map[string]string{"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}, Default: "false"}},
	{Name: "db", Schema: &connect.Schema{Type: connect.String}},
	{Name: "sequence", Schema: &connect.Schema{Type: connect.String, Optional: true}},
	{Name: "ts_us", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
	{Name: "ts_ns", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
	{Name: "schema", Schema: &connect.Schema{Type: connect.String}},
	{Name: "table", Schema: &connect.Schema{Type: connect.String}},
	{Name: "txId", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
	{Name: "lsn", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
	{Name: "xmin", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
	{Name: "origin", Schema: &connect.Schema{Type: connect.String, Optional: true}},
	{Name: "origin_lsn", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
}}

// transactionSchema is Debezium's event.block (null unless provide.transaction.metadata).
var transactionSchema = &connect.Schema{Type: connect.Struct, Optional: true, Name: "event.block", Version: 1, Fields: []connect.Field{
	{Name: "id", Schema: &connect.Schema{Type: connect.String}},
	{Name: "total_order", Schema: &connect.Schema{Type: connect.Int64}},
	{Name: "data_collection_order", Schema: &connect.Schema{Type: connect.Int64}},
}}

// Heartbeat schemas (io.debezium.connector.common.ServerNameKey / Heartbeat).
var (
	heartbeatKeySchema = &connect.Schema{Type: connect.Struct, Name: "io.debezium.connector.common.ServerNameKey", Version: 1, Fields: []connect.Field{
		{Name: "serverName", Schema: &connect.Schema{Type: connect.String}}}}
	heartbeatValueSchema = &connect.Schema{Type: connect.Struct, Name: "io.debezium.connector.common.Heartbeat", Version: 1, Fields: []connect.Field{
		{Name: "ts_ms", Schema: &connect.Schema{Type: connect.Int64}}}}
)

// table is a captured table: its columns and the schemas of its events. It is rebuilt when a
// Relation message (or the catalog) shows a different shape.
type table struct {
	schema, name string
	columns      []column
	topic        string
	key          *connect.Schema // nil: no primary key (key-less records, as Debezium)
	value        *connect.Schema // the row: <prefix>.<schema>.<table>.Value
	envelope     *connect.Schema // <prefix>.<schema>.<table>.Envelope
}

func (c *sourceConfig) newTable(schema, name string, cols []column) *table {
	t := &table{schema: schema, name: name, columns: cols, topic: c.prefix + "." + schema + "." + name}
	t.value = &connect.Schema{Type: connect.Struct, Optional: true, Name: t.topic + ".Value"}
	var keyFields []connect.Field
	for _, col := range cols {
		f := connect.Field{Name: col.name, Schema: c.columnSchema(col)}
		t.value.Fields = append(t.value.Fields, f)
		if col.key {
			kf := f
			ks := *f.Schema
			ks.Optional = false
			kf.Schema = &ks
			keyFields = append(keyFields, kf)
		}
	}
	if len(keyFields) > 0 {
		t.key = &connect.Schema{Type: connect.Struct, Name: t.topic + ".Key", Fields: keyFields}
	}
	t.envelope = &connect.Schema{Type: connect.Struct, Name: t.topic + ".Envelope", Version: envelopeVersion, Fields: []connect.Field{
		{Name: "before", Schema: t.value},
		{Name: "after", Schema: t.value},
		{Name: "source", Schema: sourceSchema},
		{Name: "transaction", Schema: transactionSchema},
		{Name: "op", Schema: &connect.Schema{Type: connect.String}},
		{Name: "ts_ms", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
		{Name: "ts_us", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
		{Name: "ts_ns", Schema: &connect.Schema{Type: connect.Int64, Optional: true}},
	}}
	return t
}

// row converts a tuple of text values (nil: NULL or not sent) to a value struct.
func (t *table) row(texts []*string) (*connect.StructValue, error) {
	v := connect.NewStruct(t.value)
	for i, txt := range texts {
		if txt == nil || i >= len(t.columns) {
			continue
		}
		val, err := textValue(t.value.Fields[i].Schema, t.columns[i].oid, t.columns[i].typmod, *txt)
		if err != nil {
			return nil, errorf("table %s.%s column %s: %v", t.schema, t.name, t.columns[i].name, err)
		}
		v.Values[i] = val
	}
	for i, f := range t.value.Fields {
		if v.Values[i] == nil && !f.Schema.Optional {
			v.Values[i] = fallbackValue(f.Schema)
		}
	}
	return v, nil
}

// fallbackValue is what Debezium puts in a NOT NULL column whose value the change does not
// carry (the non-key columns of a REPLICA IDENTITY DEFAULT before image): the type's zero, so
// that the struct stays valid for its schema.
func fallbackValue(s *connect.Schema) any {
	switch s.Name {
	case nameDecimal:
		return []byte{0}
	case nameVarDecimal:
		v := connect.NewStruct(s)
		v.Values[0], v.Values[1] = int32(0), []byte{0}
		return v
	case nameZonedTimestamp:
		return "1970-01-01T00:00:00Z"
	case nameZonedTime:
		return "00:00:00Z"
	case nameUUID:
		return "00000000-0000-0000-0000-000000000000"
	case nameJSON:
		return "{}"
	}
	switch s.Type {
	case connect.Boolean:
		return false
	case connect.Int8:
		return int8(0)
	case connect.Int16:
		return int16(0)
	case connect.Int32:
		return int32(0)
	case connect.Int64:
		return int64(0)
	case connect.Float32:
		return float32(0)
	case connect.Float64:
		return float64(0)
	case connect.Bytes:
		return []byte{}
	case connect.Array:
		return []any{}
	}
	return ""
}

// keyOf returns the key struct of a row (nil when the table has no primary key).
func (t *table) keyOf(row *connect.StructValue) *connect.StructValue {
	if t.key == nil || row == nil {
		return nil
	}
	k := connect.NewStruct(t.key)
	for i, f := range t.key.Fields {
		k.Values[i] = row.Get(f.Name)
	}
	return k
}

// sourceInfo is what goes into an event's source block.
type sourceInfo struct {
	tsUsec   int64 // commit time (streaming) or read time (snapshot), µs since the epoch
	snapshot string
	sequence string
	txID     int64
	lsn      int64
}

func (c *sourceConfig) sourceStruct(t *table, si sourceInfo) *connect.StructValue {
	s := connect.NewStruct(sourceSchema)
	s.Values = []any{debeziumVersion, "postgresql", c.prefix, si.tsUsec / 1000, si.snapshot, c.dbname,
		nilIfEmpty(si.sequence), si.tsUsec, si.tsUsec * 1000, t.schema, t.name, nilIfZero(si.txID), nilIfZero(si.lsn), nil, nil, nil}
	return s
}

// envelopeValue builds an event value: op is c, u, d or r; tsNow is when the connector
// processed it (µs).
func (c *sourceConfig) envelopeValue(t *table, op string, before, after *connect.StructValue, si sourceInfo, tsNow int64) *connect.StructValue {
	e := connect.NewStruct(t.envelope)
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	e.Values = []any{b, a, c.sourceStruct(t, si), nil, op, tsNow / 1000, tsNow, tsNow * 1000}
	return e
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nilIfZero(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}
