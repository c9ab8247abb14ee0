package postgres

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/logd/logd/connect"
)

// PostgreSQL type OIDs (pg_type.oid; fixed for built-in types).
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// arrayElem maps the array types the connector understands to their element type.
var arrayElem = map[uint32]uint32{
	1000: oidBool, 1001: oidBytea, 1005: oidInt2, 1007: oidInt4, 1009: oidText, 1014: oidBpchar,
	1015: oidVarchar, 1016: oidInt8, 1021: oidFloat4, 1022: oidFloat8, 1231: oidNumeric,
	2951: oidUUID, 199: oidJSON, 3807: oidJSONB, 1182: oidDate, 1115: oidTimestamp, 1185: oidTimestamptz,
}

// Logical schema names of Kafka Connect and Debezium.
const (
	nameDecimal        = "org.apache.kafka.connect.data.Decimal"
	nameConnectDate    = "org.apache.kafka.connect.data.Date"
	nameConnectTime    = "org.apache.kafka.connect.data.Time"
	nameConnectTS      = "org.apache.kafka.connect.data.Timestamp"
	nameVarDecimal     = "io.debezium.data.VariableScaleDecimal"
	nameDate           = "io.debezium.time.Date"
	nameTime           = "io.debezium.time.Time"
	nameMicroTime      = "io.debezium.time.MicroTime"
	nameTimestamp      = "io.debezium.time.Timestamp"
	nameMicroTimestamp = "io.debezium.time.MicroTimestamp"
	nameZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	nameZonedTime      = "io.debezium.time.ZonedTime"
	nameUUID           = "io.debezium.data.Uuid"
	nameJSON           = "io.debezium.data.Json"
)

// column is one column of a captured table, as the catalog or a pgoutput Relation message
// describes it.
type column struct {
	name    string
	oid     uint32
	typmod  int32
	notNull bool
	key     bool // part of the primary key
}

// columnSchema returns the Connect schema Debezium gives a column of this type under the
// connector's decimal.handling.mode and time.precision.mode.
func (c *sourceConfig) columnSchema(col column) *connect.Schema {
	s := c.typeSchema(col.oid, col.typmod)
	s.Optional = !col.notNull
	return s
}

func (c *sourceConfig) typeSchema(oid uint32, typmod int32) *connect.Schema {
	switch oid {
	case oidBool:
		return &connect.Schema{Type: connect.Boolean}
	case oidInt2:
		return &connect.Schema{Type: connect.Int16}
	case oidInt4:
		return &connect.Schema{Type: connect.Int32}
	case oidInt8, oidOID:
		return &connect.Schema{Type: connect.Int64}
	case oidFloat4:
		return &connect.Schema{Type: connect.Float32}
	case oidFloat8:
		return &connect.Schema{Type: connect.Float64}
	case oidBytea:
		return &connect.Schema{Type: connect.Bytes}
	case oidNumeric:
		switch c.decimalMode {
		case "double":
			return &connect.Schema{Type: connect.Float64}
		case "string":
			return &connect.Schema{Type: connect.String}
		}
		if typmod < 4 {
			return &connect.Schema{Type: connect.Struct, Name: nameVarDecimal, Version: 1, Doc: "Variable scaled decimal",
				Fields: []connect.Field{{Name: "scale", Schema: &connect.Schema{Type: connect.Int32}}, {Name: "value", Schema: &connect.Schema{Type: connect.Bytes}}}}
		}
		prec, scale := numericPrecScale(typmod)
		return &connect.Schema{Type: connect.Bytes, Name: nameDecimal, Version: 1,
			Parameters: map[string]string{"scale": strconv.Itoa(scale), "connect.decimal.precision": strconv.Itoa(prec)}}
	case oidDate:
		if c.timeMode == "connect" {
			return &connect.Schema{Type: connect.Int32, Name: nameConnectDate, Version: 1}
		}
		return &connect.Schema{Type: connect.Int32, Name: nameDate, Version: 1}
	case oidTime:
		switch {
		case c.timeMode == "connect":
			return &connect.Schema{Type: connect.Int32, Name: nameConnectTime, Version: 1}
		case c.timeMode == "adaptive" && timePrecision(typmod) <= 3:
			return &connect.Schema{Type: connect.Int32, Name: nameTime, Version: 1}
		}
		return &connect.Schema{Type: connect.Int64, Name: nameMicroTime, Version: 1}
	case oidTimestamp:
		switch {
		case c.timeMode == "connect":
			return &connect.Schema{Type: connect.Int64, Name: nameConnectTS, Version: 1}
		case timePrecision(typmod) <= 3:
			return &connect.Schema{Type: connect.Int64, Name: nameTimestamp, Version: 1}
		}
		return &connect.Schema{Type: connect.Int64, Name: nameMicroTimestamp, Version: 1}
	case oidTimestamptz:
		return &connect.Schema{Type: connect.String, Name: nameZonedTimestamp, Version: 1}
	case oidTimetz:
		return &connect.Schema{Type: connect.String, Name: nameZonedTime, Version: 1}
	case oidUUID:
		return &connect.Schema{Type: connect.String, Name: nameUUID, Version: 1}
	case oidJSON, oidJSONB:
		return &connect.Schema{Type: connect.String, Name: nameJSON, Version: 1}
	}
	if elem, ok := arrayElem[oid]; ok {
		es := c.typeSchema(elem, -1)
		es.Optional = true
		return &connect.Schema{Type: connect.Array, Items: es}
	}
	return &connect.Schema{Type: connect.String} // text, varchar, char, name, enums, anything else: its text
}

// numericPrecScale decodes numeric's atttypmod.
func numericPrecScale(typmod int32) (prec, scale int) {
	t := int(typmod - 4)
	return (t >> 16) & 0xffff, t & 0xffff
}

// timePrecision decodes the fractional-second precision of time and timestamp (6 when unset).
func timePrecision(typmod int32) int {
	if typmod < 0 {
		return 6
	}
	return int(typmod)
}

// textValue converts a column's value in PostgreSQL's text output format (what pgoutput sends
// and what ::text gives in the snapshot) to the value of its Connect schema s.
func textValue(s *connect.Schema, oid uint32, typmod int32, text string) (any, error) {
	switch s.Type {
	case connect.Boolean:
		return text == "t" || text == "true", nil
	case connect.Int16:
		v, err := strconv.ParseInt(text, 10, 16)
		return int16(v), err
	case connect.Int32:
		switch s.Name {
		case nameDate, nameConnectDate:
			t, err := time.Parse("2006-01-02", text)
			if err != nil {
				return nil, err
			}
			return int32(t.Unix() / 86400), nil
		case nameTime, nameConnectTime:
			us, err := microsOfDay(text)
			return int32(us / 1000), err
		}
		v, err := strconv.ParseInt(text, 10, 32)
		return int32(v), err
	case connect.Int64:
		switch s.Name {
		case nameMicroTime:
			return microsOfDay(text)
		case nameTimestamp, nameConnectTS, nameMicroTimestamp:
			t, err := time.Parse("2006-01-02 15:04:05.999999999", text)
			if err != nil {
				return nil, err
			}
			if s.Name == nameMicroTimestamp {
				return t.UnixMicro(), nil
			}
			return t.UnixMilli(), nil
		}
		return strconv.ParseInt(text, 10, 64)
	case connect.Float32:
		v, err := strconv.ParseFloat(text, 32)
		return float32(v), err
	case connect.Float64:
		return strconv.ParseFloat(text, 64)
	case connect.Bytes:
		if s.Name == nameDecimal {
			scale, _ := strconv.Atoi(s.Parameters["scale"])
			unscaled, _, err := parseDecimal(text, scale)
			if err != nil {
				return nil, err
			}
			return connect.DecimalBytes(unscaled), nil
		}
		if !strings.HasPrefix(text, `\x`) {
			return nil, fmt.Errorf("bytea %q is not in hex format", text)
		}
		return hex.DecodeString(text[2:])
	case connect.Struct: // VariableScaleDecimal
		unscaled, scale, err := parseDecimal(text, -1)
		if err != nil {
			return nil, err
		}
		v := connect.NewStruct(s)
		v.Values[0], v.Values[1] = int32(scale), connect.DecimalBytes(unscaled)
		return v, nil
	case connect.String:
		switch s.Name {
		case nameZonedTimestamp:
			t, err := time.Parse("2006-01-02 15:04:05.999999999Z07", text)
			if err != nil {
				t, err = time.Parse("2006-01-02 15:04:05.999999999Z07:00", text)
			}
			if err != nil {
				return nil, err
			}
			return zonedTimestamp(t, typmod), nil
		case nameZonedTime:
			t, err := time.Parse("15:04:05.999999999Z07", text)
			if err != nil {
				t, err = time.Parse("15:04:05.999999999Z07:00", text)
			}
			if err != nil {
				return nil, err
			}
			return t.UTC().Format("15:04:05.999999999Z07:00"), nil
		}
		return text, nil
	case connect.Array:
		elems, err := parseArray(text)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			if e == nil {
				continue
			}
			if out[i], err = textValue(s.Items, 0, typmod, *e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no conversion for schema type %s (type oid %d)", s.Type, oid)
}

// microsOfDay parses a time of day "15:04:05[.ffffff]".
func microsOfDay(text string) (int64, error) {
	t, err := time.Parse("15:04:05.999999999", text)
	if err != nil {
		return 0, err
	}
	return int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + int64(t.Second())*1e6 + int64(t.Nanosecond()/1000), nil
}

// parseDecimal parses a numeric's text into an unscaled integer and its scale; scale >= 0
// rescales to that scale (the column's), -1 keeps the text's.
func parseDecimal(text string, scale int) (*big.Int, int, error) {
	intPart, frac, _ := strings.Cut(text, ".")
	if scale >= 0 {
		if len(frac) > scale {
			return nil, 0, fmt.Errorf("numeric %q has more than %d decimals", text, scale)
		}
		frac += strings.Repeat("0", scale-len(frac))
	}
	v, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return nil, 0, fmt.Errorf("numeric %q cannot be represented (NaN and infinities have no decimal form)", text)
	}
	return v, len(frac), nil
}

// parseArray splits a one-dimensional array literal "{a,"b c",NULL}" into its elements (nil:
// NULL).
func parseArray(text string) ([]*string, error) {
	if len(text) < 2 || text[0] != '{' || text[len(text)-1] != '}' {
		return nil, fmt.Errorf("array %q is not a one-dimensional array literal", text)
	}
	body := text[1 : len(text)-1]
	var out []*string
	if body == "" {
		return out, nil
	}
	for i := 0; i <= len(body); {
		var sb strings.Builder
		quoted := i < len(body) && body[i] == '"'
		if quoted {
			i++
			for ; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				sb.WriteByte(body[i])
			}
			if i >= len(body) {
				return nil, fmt.Errorf("array %q has an unterminated quoted element", text)
			}
			i++ // closing quote
		} else {
			if i < len(body) && body[i] == '{' {
				return nil, fmt.Errorf("array %q has more than one dimension", text)
			}
			for ; i < len(body) && body[i] != ','; i++ {
				sb.WriteByte(body[i])
			}
		}
		e := sb.String()
		if !quoted && strings.EqualFold(e, "NULL") {
			out = append(out, nil)
		} else {
			out = append(out, &e)
		}
		if i < len(body) && body[i] != ',' {
			return nil, fmt.Errorf("array %q: unexpected %q after an element", text, body[i])
		}
		i++
	}
	return out, nil
}

// zonedTimestamp renders a timestamptz as Debezium's ZonedTimestamp: UTC, ISO 8601, with
// exactly as many fraction digits as the column's precision (6 when the column has none), and
// with as many as needed (none for whole seconds) for a precision of 0.
func zonedTimestamp(t time.Time, precision int32) string {
	if precision < 0 {
		precision = 6
	}
	if precision == 0 || precision > 9 {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return t.UTC().Format("2006-01-02T15:04:05." + strings.Repeat("0", int(precision)) + "Z07:00")
}
