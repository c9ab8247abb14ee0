package connect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The logical types Kafka Connect's JsonConverter converts specially (org.apache.kafka.connect.data).
const (
	DecimalName   = "org.apache.kafka.connect.data.Decimal"
	DateName      = "org.apache.kafka.connect.data.Date"
	TimeName      = "org.apache.kafka.connect.data.Time"
	TimestampName = "org.apache.kafka.connect.data.Timestamp"
	// DecimalScale is the Decimal schema parameter holding the scale.
	DecimalScale = "scale"
)

// jsonConverter is org.apache.kafka.connect.json.JsonConverter. Its output is byte for byte
// Java's (Jackson's compact writer): an envelope {"schema":…,"payload":…} when schemas.enable
// (the default), the bare payload otherwise; schema objects with their keys in Java's order
// (type, fields/items/keys+values, optional, name, version, doc, parameters, default); bytes in
// base64; Decimal as base64 of the unscaled two's-complement integer (decimal.format=BASE64,
// the default) or as a JSON number (NUMERIC); Date, Time and Timestamp as integers; doubles and
// floats as Java's Double.toString/Float.toString print them.
//
// Values of logical types keep their physical representation both ways (the contract of
// Schema): Decimal is []byte (the unscaled integer; *big.Int and decimal text like "12.30" are
// accepted too), Date and Time int32, Timestamp int64; time.Time is accepted for the last three.
type jsonConverter struct {
	schemas         bool
	numericDecimals bool
	replaceNull     bool
}

func newJSONConverter(config map[string]string) (*jsonConverter, error) {
	c := &jsonConverter{schemas: true, replaceNull: true}
	for k, v := range config {
		switch k {
		case "schemas.enable", "replace.null.with.default":
			b, err := parseBool(k, v)
			if err != nil {
				return nil, err
			}
			if k == "schemas.enable" {
				c.schemas = b
			} else {
				c.replaceNull = b
			}
		case "decimal.format":
			switch strings.ToUpper(v) {
			case "BASE64":
			case "NUMERIC":
				c.numericDecimals = true
			default:
				return nil, fmt.Errorf("invalid value %s for configuration decimal.format: must be BASE64 or NUMERIC", v)
			}
		}
	}
	return c, nil
}

// parseBool reads a Java boolean config value (case-insensitive true/false).
func parseBool(key, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("invalid value %s for configuration %s: expected value to be either true or false", v, key)
}

// FromConnect renders value as Java's JsonConverter.fromConnectData does.
func (c *jsonConverter) FromConnect(_ string, schema *Schema, value any) ([]byte, error) {
	if schema == nil && value == nil {
		return nil, nil
	}
	var w jsonWriter
	if c.schemas {
		w.raw(`{"schema":`)
		if err := c.writeSchema(&w, schema); err != nil {
			return nil, err
		}
		w.raw(`,"payload":`)
	}
	if err := c.writeValue(&w, schema, value); err != nil {
		return nil, err
	}
	if c.schemas {
		w.raw("}")
	}
	return w.b, nil
}

func (c *jsonConverter) writeSchema(w *jsonWriter, s *Schema) error {
	if s == nil {
		w.raw("null")
		return nil
	}
	w.raw(`{"type":`)
	w.str(jsonTypeName(s.Type))
	switch s.Type {
	case Array:
		w.raw(`,"items":`)
		if err := c.writeSchema(w, s.Items); err != nil {
			return err
		}
	case Map:
		w.raw(`,"keys":`)
		if err := c.writeSchema(w, s.Keys); err != nil {
			return err
		}
		w.raw(`,"values":`)
		if err := c.writeSchema(w, s.Values); err != nil {
			return err
		}
	case Struct:
		w.raw(`,"fields":[`)
		for i, f := range s.Fields {
			if i > 0 {
				w.raw(",")
			}
			if f.Schema == nil {
				return fmt.Errorf("struct field %q has no schema", f.Name)
			}
			// Java appends "field" to a copy of the field's schema object.
			var fw jsonWriter
			if err := c.writeSchema(&fw, f.Schema); err != nil {
				return err
			}
			w.raw(string(fw.b[:len(fw.b)-1]))
			w.raw(`,"field":`)
			w.str(f.Name)
			w.raw("}")
		}
		w.raw("]")
	case Int8, Int16, Int32, Int64, Float32, Float64, Boolean, String, Bytes:
	default:
		return fmt.Errorf("couldn't translate unsupported schema type %q", s.Type)
	}
	w.raw(`,"optional":`)
	w.raw(strconv.FormatBool(s.Optional))
	if s.Name != "" {
		w.raw(`,"name":`)
		w.str(s.Name)
	}
	if s.Version != 0 {
		w.raw(`,"version":`)
		w.raw(strconv.Itoa(s.Version))
	}
	if s.Doc != "" {
		w.raw(`,"doc":`)
		w.str(s.Doc)
	}
	if s.Parameters != nil {
		w.raw(`,"parameters":{`)
		for i, k := range s.parameterKeys() {
			if i > 0 {
				w.raw(",")
			}
			w.str(k)
			w.raw(":")
			w.str(s.Parameters[k])
		}
		w.raw("}")
	}
	if s.Default != nil {
		w.raw(`,"default":`)
		if err := c.writeValue(w, s, s.Default); err != nil {
			return fmt.Errorf("default: %w", err)
		}
	}
	w.raw("}")
	return nil
}

// jsonTypeName is the schema type's name in JsonConverter's schemas: Java's names but
// "float" and "double" for the floating-point types.
func jsonTypeName(t Type) string {
	switch t {
	case Float32:
		return "float"
	case Float64:
		return "double"
	}
	return string(t)
}

// mapKey turns a map[string]any key back into a value of a non-string key schema (the
// contract keeps map keys as text; integer keys are their decimal text).
func mapKey(ks *Schema, k string) any {
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return k
	}
	switch ks.Type {
	case Int8:
		return int8(n)
	case Int16:
		return int16(n)
	case Int32:
		return int32(n)
	case Int64:
		return n
	}
	return k
}

// parameterKeys orders the schema's parameters as Java's builders insert them: ParameterOrder
// first, then "scale" (Decimal.builder's), then the rest by name.
func (s *Schema) parameterKeys() []string {
	keys := make([]string, 0, len(s.Parameters))
	for _, k := range s.ParameterOrder {
		if _, ok := s.Parameters[k]; ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if _, ok := s.Parameters[DecimalScale]; ok && !slices.Contains(keys, DecimalScale) {
		keys = append(keys, DecimalScale)
	}
	rest := make([]string, 0, len(s.Parameters))
	for k := range s.Parameters {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

func (c *jsonConverter) writeValue(w *jsonWriter, s *Schema, v any) error {
	if v == nil {
		switch {
		case s == nil:
			w.raw("null")
		case s.Default != nil && c.replaceNull:
			return c.writeValue(w, s, s.Default)
		case s.Optional:
			w.raw("null")
		default:
			return errors.New("conversion error: null value for field that is required and has no default value")
		}
		return nil
	}
	if s != nil {
		switch s.Name {
		case DecimalName:
			return c.writeDecimal(w, s, v)
		case DateName, TimeName, TimestampName:
			n, err := logicalTime(s, v)
			if err != nil {
				return err
			}
			w.raw(strconv.FormatInt(n, 10))
			return nil
		}
	}
	t := Type("")
	if s != nil {
		t = s.Type
	}
	switch x := v.(type) {
	case bool:
		return w.checked(t, Boolean, strconv.FormatBool(x))
	case int8:
		return w.checked(t, Int8, strconv.FormatInt(int64(x), 10))
	case int16:
		return w.checked(t, Int16, strconv.FormatInt(int64(x), 10))
	case int32:
		return w.checked(t, Int32, strconv.FormatInt(int64(x), 10))
	case int64:
		return w.checked(t, Int64, strconv.FormatInt(x, 10))
	case int:
		if t == "" || t == Int8 || t == Int16 || t == Int32 || t == Int64 {
			w.raw(strconv.Itoa(x))
			return nil
		}
		return fmt.Errorf("invalid type for %s: int", strings.ToUpper(string(t)))
	case float32:
		return w.checked(t, Float32, javaFloat(float64(x), 32))
	case float64:
		return w.checked(t, Float64, javaFloat(x, 64))
	case string:
		if t != "" && t != String {
			return fmt.Errorf("invalid type for %s: string", strings.ToUpper(string(t)))
		}
		w.str(x)
	case []byte:
		if t != "" && t != Bytes {
			return fmt.Errorf("invalid type for %s: []byte", strings.ToUpper(string(t)))
		}
		w.str(base64.StdEncoding.EncodeToString(x))
	case []any:
		if t != "" && t != Array {
			return fmt.Errorf("invalid type for %s: []any", strings.ToUpper(string(t)))
		}
		var items *Schema
		if s != nil {
			items = s.Items
		}
		w.raw("[")
		for i, e := range x {
			if i > 0 {
				w.raw(",")
			}
			if err := c.writeValue(w, items, e); err != nil {
				return err
			}
		}
		w.raw("]")
	case map[string]any:
		if t != "" && t != Map {
			return fmt.Errorf("invalid type for %s: map[string]any", strings.ToUpper(string(t)))
		}
		var ks, vs *Schema
		if s != nil {
			ks, vs = s.Keys, s.Values
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		objectMode := ks == nil || ks.Type == String
		if objectMode {
			w.raw("{")
		} else {
			w.raw("[")
		}
		for i, k := range keys {
			if i > 0 {
				w.raw(",")
			}
			if objectMode {
				w.str(k)
				w.raw(":")
			} else {
				w.raw("[")
				if err := c.writeValue(w, ks, mapKey(ks, k)); err != nil {
					return err
				}
				w.raw(",")
			}
			if err := c.writeValue(w, vs, x[k]); err != nil {
				return err
			}
			if !objectMode {
				w.raw("]")
			}
		}
		if objectMode {
			w.raw("}")
		} else {
			w.raw("]")
		}
	case *StructValue:
		if s == nil {
			s = x.Schema
		}
		if s.Type != Struct {
			return fmt.Errorf("invalid type for %s: struct", strings.ToUpper(string(s.Type)))
		}
		if len(x.Values) != len(s.Fields) {
			return fmt.Errorf("mismatching schema: struct has %d values for %d fields", len(x.Values), len(s.Fields))
		}
		w.raw("{")
		for i, f := range s.Fields {
			if i > 0 {
				w.raw(",")
			}
			w.str(f.Name)
			w.raw(":")
			if err := c.writeValue(w, f.Schema, x.Values[i]); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		w.raw("}")
	default:
		return fmt.Errorf("go type %T does not have a corresponding schema type", v)
	}
	return nil
}

func (c *jsonConverter) writeDecimal(w *jsonWriter, s *Schema, v any) error {
	scale, err := decimalScale(s)
	if err != nil {
		return err
	}
	var unscaled *big.Int
	switch x := v.(type) {
	case []byte:
		unscaled = DecimalUnscaled(x)
	case *big.Int:
		unscaled = x
	case string:
		if unscaled, err = parseDecimal(x, scale); err != nil {
			return err
		}
	default:
		return fmt.Errorf("invalid type for Decimal, expected []byte, *big.Int or decimal text but was %T", v)
	}
	if c.numericDecimals {
		w.raw(bigDecimalString(unscaled, scale))
	} else {
		w.str(base64.StdEncoding.EncodeToString(DecimalBytes(unscaled)))
	}
	return nil
}

// decimalScale reads a Decimal schema's scale parameter.
func decimalScale(s *Schema) (int, error) {
	p, ok := s.Parameters[DecimalScale]
	if !ok {
		return 0, errors.New("invalid Decimal schema: scale parameter not found")
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("invalid Decimal schema: scale %q is not an integer", p)
	}
	return n, nil
}

// parseDecimal returns the unscaled integer of decimal text at scale (rounded half up).
func parseDecimal(text string, scale int) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("invalid decimal %q", text)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() != 0 && new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(int64(r.Sign())))
	}
	return q, nil
}

// DecimalBytes is a Decimal's physical form: the unscaled value as the shortest big-endian
// two's complement (Java's BigInteger.toByteArray).
func DecimalBytes(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n-1 in bytes, inverted.
	m := new(big.Int).Sub(new(big.Int).Neg(n), big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// DecimalUnscaled reads a Decimal's physical form back into its unscaled value (Java's new
// BigInteger(byte[])).
func DecimalUnscaled(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// bigDecimalString is Java's BigDecimal.toString (scientific when the exponent is small).
func bigDecimalString(unscaled *big.Int, scale int) string {
	digits := new(big.Int).Abs(unscaled).String()
	sign := ""
	if unscaled.Sign() < 0 {
		sign = "-"
	}
	adjusted := -scale + len(digits) - 1
	if scale >= 0 && adjusted >= -6 {
		if scale == 0 {
			return sign + digits
		}
		if len(digits) > scale {
			return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
		}
		return sign + "0." + strings.Repeat("0", scale-len(digits)) + digits
	}
	s := sign + digits[:1]
	if len(digits) > 1 {
		s += "." + digits[1:]
	}
	if adjusted >= 0 {
		return s + "E+" + strconv.Itoa(adjusted)
	}
	return s + "E" + strconv.Itoa(adjusted)
}

// logicalTime returns the integer form of a Date (days), Time (millis of the day) or
// Timestamp (millis) value.
func logicalTime(s *Schema, v any) (int64, error) {
	switch x := v.(type) {
	case time.Time:
		ms := x.UnixMilli()
		switch s.Name {
		case DateName:
			return int64(math.Floor(float64(ms) / 86400000)), nil
		case TimeName:
			return ((ms % 86400000) + 86400000) % 86400000, nil
		}
		return ms, nil
	case int32:
		if s.Name != TimestampName {
			return int64(x), nil
		}
	case int64:
		if s.Name == TimestampName {
			return x, nil
		}
	}
	return 0, fmt.Errorf("invalid type for %s: %T", s.Name, v)
}

// ToConnect parses record bytes as Java's JsonConverter.toConnectData does.
func (c *jsonConverter) ToConnect(_ string, data []byte) (*Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	n, err := parseJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	if !c.schemas {
		v, err := c.toValue(nil, n)
		return nil, v, err
	}
	if n.kind != '{' || len(n.keys) != 2 || n.get("schema") == nil || n.get("payload") == nil {
		return nil, nil, errors.New(`JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`)
	}
	s, err := c.toSchema(n.get("schema"))
	if err != nil {
		return nil, nil, err
	}
	v, err := c.toValue(s, n.get("payload"))
	return s, v, err
}

func (c *jsonConverter) toSchema(n *jnode) (*Schema, error) {
	if n.kind == 'n' {
		return nil, nil
	}
	tn := n.get("type")
	if tn == nil || tn.kind != 's' {
		return nil, errors.New("schema must contain 'type' field")
	}
	s := &Schema{Type: Type(tn.str)}
	switch tn.str {
	case "float":
		s.Type = Float32
	case "double":
		s.Type = Float64
	case string(Float32), string(Float64):
		s.Type = "" // not JSON schema names
	}
	var err error
	switch s.Type {
	case Boolean, Int8, Int16, Int32, Int64, Float32, Float64, Bytes, String:
	case Array:
		items := n.get("items")
		if items == nil || items.kind == 'n' {
			return nil, errors.New("array schema did not specify the element type")
		}
		if s.Items, err = c.toSchema(items); err != nil {
			return nil, err
		}
	case Map:
		keys, values := n.get("keys"), n.get("values")
		if keys == nil {
			return nil, errors.New("map schema did not specify the key type")
		}
		if values == nil {
			return nil, errors.New("map schema did not specify the value type")
		}
		if s.Keys, err = c.toSchema(keys); err != nil {
			return nil, err
		}
		if s.Values, err = c.toSchema(values); err != nil {
			return nil, err
		}
	case Struct:
		fields := n.get("fields")
		if fields == nil || fields.kind != '[' {
			return nil, errors.New(`struct schema's "fields" argument is not an array`)
		}
		for _, f := range fields.arr {
			name := f.get("field")
			if name == nil || name.kind != 's' {
				return nil, errors.New("struct schema's field name not specified properly")
			}
			fs, err := c.toSchema(f)
			if err != nil {
				return nil, err
			}
			s.Fields = append(s.Fields, Field{Name: name.str, Schema: fs})
		}
	default:
		return nil, fmt.Errorf("unknown schema type: %s", tn.str)
	}
	if o := n.get("optional"); o != nil && o.kind == 't' {
		s.Optional = true
	}
	if x := n.get("name"); x != nil && x.kind == 's' {
		s.Name = x.str
	}
	if x := n.get("version"); x != nil && x.kind == '0' {
		if v, err := x.num.Int64(); err == nil {
			s.Version = int(v)
		}
	}
	if x := n.get("doc"); x != nil && x.kind == 's' {
		s.Doc = x.str
	}
	if x := n.get("parameters"); x != nil && x.kind == '{' {
		s.Parameters = make(map[string]string, len(x.keys))
		for i, k := range x.keys {
			if x.vals[i].kind != 's' {
				return nil, errors.New("schema parameters must have string values")
			}
			s.Parameters[k] = x.vals[i].str
			s.ParameterOrder = append(s.ParameterOrder, k)
		}
	}
	if x := n.get("default"); x != nil {
		if s.Default, err = c.toValue(s, x); err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
	}
	return s, nil
}

func (c *jsonConverter) toValue(s *Schema, n *jnode) (any, error) {
	if s == nil {
		return schemalessValue(n)
	}
	if n == nil || n.kind == 'n' {
		switch {
		case s.Default != nil && c.replaceNull:
			return s.Default, nil
		case s.Optional:
			return nil, nil
		}
		return nil, fmt.Errorf("invalid null value for required %s field", strings.ToUpper(string(s.Type)))
	}
	switch s.Name {
	case DecimalName:
		scale, err := decimalScale(s)
		if err != nil {
			return nil, err
		}
		switch n.kind {
		case '0':
			u, err := parseDecimal(string(n.num), scale)
			if err != nil {
				return nil, err
			}
			return DecimalBytes(u), nil
		case 's':
			b, err := decodeBase64(n.str)
			if err != nil {
				return nil, fmt.Errorf("invalid bytes for Decimal field: %w", err)
			}
			return b, nil
		}
		return nil, errors.New("invalid type for Decimal, underlying representation should be numeric or bytes")
	case DateName, TimeName:
		if v, err := n.num.Int64(); n.kind != '0' || err != nil || v != int64(int32(v)) {
			return nil, fmt.Errorf("invalid type for %s, underlying representation should be integer", s.Name)
		} else {
			return int32(v), nil
		}
	case TimestampName:
		if v, err := n.num.Int64(); n.kind != '0' || err != nil {
			return nil, errors.New("invalid type for Timestamp, underlying representation should be integral")
		} else {
			return v, nil
		}
	}
	mismatch := func() error {
		return fmt.Errorf("invalid JSON %s for a %s schema", n.kindName(), strings.ToUpper(string(s.Type)))
	}
	switch s.Type {
	case Boolean:
		if n.kind != 't' && n.kind != 'f' {
			return nil, mismatch()
		}
		return n.kind == 't', nil
	case Int8, Int16, Int32, Int64:
		if n.kind != '0' {
			return nil, mismatch()
		}
		v, err := n.num.Int64()
		if err != nil {
			f, ferr := n.num.Float64()
			if ferr != nil {
				return nil, fmt.Errorf("invalid number %s", n.num)
			}
			v = int64(f)
		}
		switch s.Type {
		case Int8:
			return int8(v), nil
		case Int16:
			return int16(v), nil
		case Int32:
			return int32(v), nil
		}
		return v, nil
	case Float32, Float64:
		if n.kind != '0' {
			return nil, mismatch()
		}
		f, err := n.num.Float64()
		if err != nil {
			return nil, fmt.Errorf("invalid number %s", n.num)
		}
		if s.Type == Float32 {
			return float32(f), nil
		}
		return f, nil
	case String:
		if n.kind != 's' {
			return nil, mismatch()
		}
		return n.str, nil
	case Bytes:
		if n.kind != 's' {
			return nil, mismatch()
		}
		b, err := decodeBase64(n.str)
		if err != nil {
			return nil, fmt.Errorf("invalid bytes field: %w", err)
		}
		return b, nil
	case Array:
		if n.kind != '[' {
			return nil, mismatch()
		}
		out := make([]any, 0, len(n.arr))
		for _, e := range n.arr {
			v, err := c.toValue(s.Items, e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case Map:
		out := make(map[string]any)
		if s.Keys == nil || s.Keys.Type == String {
			if n.kind != '{' {
				return nil, fmt.Errorf("maps with string fields should be encoded as JSON objects, but found %s", n.kindName())
			}
			for i, k := range n.keys {
				v, err := c.toValue(s.Values, n.vals[i])
				if err != nil {
					return nil, err
				}
				out[k] = v
			}
			return out, nil
		}
		if n.kind != '[' {
			return nil, fmt.Errorf("maps with non-string fields should be encoded as JSON array of tuples, but found %s", n.kindName())
		}
		for _, e := range n.arr {
			if e.kind != '[' || len(e.arr) != 2 {
				return nil, errors.New("found invalid map entry: expected an array of length 2")
			}
			k, err := c.toValue(s.Keys, e.arr[0])
			if err != nil {
				return nil, err
			}
			v, err := c.toValue(s.Values, e.arr[1])
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = v
		}
		return out, nil
	case Struct:
		if n.kind != '{' {
			return nil, fmt.Errorf("structs should be encoded as JSON objects, but found %s", n.kindName())
		}
		sv := NewStruct(s)
		for i, f := range s.Fields {
			v, err := c.toValue(f.Schema, n.get(f.Name))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			sv.Values[i] = v
		}
		return sv, nil
	}
	return nil, fmt.Errorf("unknown schema type: %s", s.Type)
}

// schemalessValue is Java's schemaless reading: integers int64, other numbers float64,
// objects map[string]any, arrays []any.
func schemalessValue(n *jnode) (any, error) {
	switch n.kind {
	case 'n':
		return nil, nil
	case 't', 'f':
		return n.kind == 't', nil
	case 's':
		return n.str, nil
	case '0':
		if v, err := n.num.Int64(); err == nil {
			return v, nil
		}
		f, err := n.num.Float64()
		if err != nil {
			return nil, fmt.Errorf("invalid number %s", n.num)
		}
		return f, nil
	case '[':
		out := make([]any, 0, len(n.arr))
		for _, e := range n.arr {
			v, err := schemalessValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	out := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		v, err := schemalessValue(n.vals[i])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// decodeBase64 reads base64 as Jackson's default variant does (padding optional).
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// jnode is a parsed JSON value that keeps object keys in order (schema parameters are
// ordered in Java). kind: 'n' null, 't'/'f' booleans, '0' number, 's' string, '[' array,
// '{' object.
type jnode struct {
	kind byte
	str  string
	num  json.Number
	arr  []*jnode
	keys []string
	vals []*jnode
}

func (n *jnode) get(key string) *jnode {
	if n == nil || n.kind != '{' {
		return nil
	}
	if i := slices.Index(n.keys, key); i >= 0 {
		return n.vals[i]
	}
	return nil
}

func (n *jnode) kindName() string {
	switch n.kind {
	case 'n':
		return "NULL"
	case 't', 'f':
		return "BOOLEAN"
	case '0':
		return "NUMBER"
	case 's':
		return "STRING"
	case '[':
		return "ARRAY"
	}
	return "OBJECT"
}

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxJSONDepth = 512

// parseJSON parses one JSON document (and nothing after it).
func parseJSON(data []byte) (*jnode, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	n, err := parseNode(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return n, nil
}

func parseNode(d *json.Decoder, depth int) (*jnode, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	tok, err := d.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jnode{kind: 'n'}, nil
	case bool:
		if t {
			return &jnode{kind: 't'}, nil
		}
		return &jnode{kind: 'f'}, nil
	case json.Number:
		return &jnode{kind: '0', num: t}, nil
	case string:
		return &jnode{kind: 's', str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			n := &jnode{kind: '['}
			for d.More() {
				e, err := parseNode(d, depth+1)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, e)
			}
			_, err := d.Token()
			return n, err
		case '{':
			n := &jnode{kind: '{'}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := parseNode(d, depth+1)
				if err != nil {
					return nil, err
				}
				key := k.(string)
				if i := slices.Index(n.keys, key); i >= 0 { // Jackson: the last one wins
					n.vals[i] = v
					continue
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, v)
			}
			_, err := d.Token()
			return n, err
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// jsonWriter writes JSON as Jackson's compact generator does.
type jsonWriter struct{ b []byte }

func (w *jsonWriter) raw(s string) { w.b = append(w.b, s...) }

// checked writes text when the schema type t (or none) matches want.
func (w *jsonWriter) checked(t, want Type, text string) error {
	if t != "" && t != want {
		return fmt.Errorf("invalid type for %s: %s", strings.ToUpper(string(t)), want)
	}
	w.raw(text)
	return nil
}

// str writes a JSON string with Jackson's escapes: quote, backslash and control characters
// only (\b \t \n \f \r short, others \u00XX in upper case); everything else as UTF-8.
func (w *jsonWriter) str(s string) {
	const hex = "0123456789ABCDEF"
	w.b = append(w.b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			w.b = append(w.b, '\\', c)
		case c == '\b':
			w.b = append(w.b, '\\', 'b')
		case c == '\t':
			w.b = append(w.b, '\\', 't')
		case c == '\n':
			w.b = append(w.b, '\\', 'n')
		case c == '\f':
			w.b = append(w.b, '\\', 'f')
		case c == '\r':
			w.b = append(w.b, '\\', 'r')
		case c < 0x20:
			w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			w.b = append(w.b, c)
		}
	}
	w.b = append(w.b, '"')
}

// javaFloat formats f as Java's Double.toString (bits 64) or Float.toString (bits 32):
// plain with at least one fractional digit between 10^-3 and 10^7, else d.dddE±n; NaN and
// the infinities quoted, as Jackson writes them by default.
func javaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"Infinity"`
	case math.IsInf(f, -1):
		return `"-Infinity"`
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, bits) // -d.ddde±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	digits := strings.Replace(mant, ".", "", 1)
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		if exp >= 0 {
			if len(digits) <= exp+1 {
				return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
			}
			return sign + digits[:exp+1] + "." + digits[exp+1:]
		}
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	frac := digits[1:]
	if frac == "" {
		frac = "0"
	}
	return sign + digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
}
