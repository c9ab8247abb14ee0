package postgres

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/logd/logd/connect"
)

// sqlValue converts a Connect value to what the sink sends: Kafka Connect's and Debezium's
// logical types become the text PostgreSQL reads for the matching column type.
func sqlValue(name string, s *connect.Schema, v any) (sinkCol, error) {
	col := sinkCol{name: name, schema: s}
	if v == nil {
		return col, nil
	}
	if str, ok := v.(string); ok && str == unavailableText {
		col.skip = true
		return col, nil
	}
	var err error
	col.value, err = literal(s, v)
	return col, err
}

func literal(s *connect.Schema, v any) (any, error) {
	if s == nil {
		return fmt.Sprint(v), nil
	}
	switch s.Name {
	case nameDecimal:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("decimal value is %T, not bytes", v)
		}
		scale, _ := strconv.Atoi(s.Parameters["scale"])
		return decimalText(connect.DecimalUnscaled(b), scale), nil
	case nameVarDecimal:
		sv, ok := v.(*connect.StructValue)
		if !ok {
			return nil, fmt.Errorf("variable scale decimal is %T, not a struct", v)
		}
		scale, _ := toInt(sv.Get("scale"))
		b, _ := sv.Get("value").([]byte)
		return decimalText(connect.DecimalUnscaled(b), int(scale)), nil
	case nameDate, nameConnectDate:
		d, err := toInt(v)
		return time.Unix(d*86400, 0).UTC().Format("2006-01-02"), err
	case nameTime, nameConnectTime:
		ms, err := toInt(v)
		return clock(ms * 1000), err
	case nameMicroTime:
		us, err := toInt(v)
		return clock(us), err
	case nameTimestamp, nameConnectTS:
		ms, err := toInt(v)
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.999"), err
	case nameMicroTimestamp:
		us, err := toInt(v)
		return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.999999"), err
	}
	switch s.Type {
	case connect.Int8, connect.Int16, connect.Int32, connect.Int64:
		return toInt(v)
	case connect.Float32, connect.Float64:
		switch f := v.(type) {
		case float32:
			return float64(f), nil
		case float64:
			return f, nil
		}
		i, err := toInt(v)
		return float64(i), err
	case connect.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("boolean value is %T", v)
		}
		return b, nil
	case connect.Bytes:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("bytes value is %T", v)
		}
		return b, nil
	case connect.Array:
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("array value is %T", v)
		}
		return arrayLiteral(s.Items, items)
	case connect.Struct, connect.Map:
		return nil, fmt.Errorf("%s values have no column type (flatten them first)", s.Type)
	}
	return fmt.Sprint(v), nil
}

// arrayLiteral renders a one-dimensional PostgreSQL array literal.
func arrayLiteral(items *connect.Schema, vs []any) (string, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, e := range vs {
		if i > 0 {
			sb.WriteByte(',')
		}
		if e == nil {
			sb.WriteString("NULL")
			continue
		}
		lit, err := literal(items, e)
		if err != nil {
			return "", err
		}
		if b, ok := lit.([]byte); ok {
			lit = fmt.Sprintf(`\x%x`, b)
		}
		str := fmt.Sprint(lit)
		sb.WriteByte('"')
		sb.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(str))
		sb.WriteByte('"')
	}
	sb.WriteByte('}')
	return sb.String(), nil
}

// toInt reads an integer of any Go integer type (or a whole float64, as JSON decoding gives).
func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case int8:
		return int64(n), nil
	case int16:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	case int:
		return int64(n), nil
	case float64:
		return int64(n), nil
	}
	return 0, fmt.Errorf("value %v (%T) is not an integer", v, v)
}

// decimalText renders unscaled × 10^-scale.
func decimalText(unscaled *big.Int, scale int) string {
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// clock renders microseconds since midnight as a time of day.
func clock(us int64) string {
	return time.UnixMicro(us).UTC().Format("15:04:05.999999")
}

// sqlType is the column type schema.evolution gives a field of schema s.
func sqlType(s *connect.Schema) string {
	if s == nil {
		return "text"
	}
	switch s.Name {
	case nameDecimal, nameVarDecimal:
		if p, ok := s.Parameters["connect.decimal.precision"]; ok {
			return "numeric(" + p + "," + s.Parameters["scale"] + ")"
		}
		return "numeric"
	case nameDate, nameConnectDate:
		return "date"
	case nameTime, nameConnectTime, nameMicroTime:
		return "time"
	case nameTimestamp, nameConnectTS, nameMicroTimestamp:
		return "timestamp"
	case nameZonedTimestamp:
		return "timestamptz"
	case nameZonedTime:
		return "timetz"
	case nameUUID:
		return "uuid"
	case nameJSON:
		return "jsonb"
	}
	switch s.Type {
	case connect.Int8, connect.Int16:
		return "smallint"
	case connect.Int32:
		return "integer"
	case connect.Int64:
		return "bigint"
	case connect.Float32:
		return "real"
	case connect.Float64:
		return "double precision"
	case connect.Boolean:
		return "boolean"
	case connect.Bytes:
		return "bytea"
	case connect.Array:
		return sqlType(s.Items) + "[]"
	}
	return "text"
}
