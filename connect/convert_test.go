package connect

import (
	"bytes"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
)

// javaCase is one schema and value whose JsonConverter output testdata/jsonconverter.tsv holds.
type javaCase struct {
	schema *Schema
	value  any
}

func javaCases() map[string]javaCase {
	req := func(t Type) *Schema { return &Schema{Type: t} }
	row := &Schema{Type: Struct, Name: "com.example.Row", Version: 2, Doc: "a row", Fields: []Field{
		{"id", req(Int32)}, {"name", &Schema{Type: String, Optional: true}},
	}}
	dec := &Schema{Type: Bytes, Name: DecimalName, Version: 1, Parameters: map[string]string{"scale": "2"}}
	val := &Schema{Type: Struct, Name: "db.public.t.Value", Optional: true, Fields: []Field{
		{"id", req(Int32)}, {"v", &Schema{Type: String, Optional: true}},
	}}
	src := &Schema{Type: Struct, Name: "io.debezium.connector.postgresql.Source", Fields: []Field{
		{"version", req(String)}, {"lsn", &Schema{Type: Int64, Optional: true}},
	}}
	env := &Schema{Type: Struct, Name: "db.public.t.Envelope", Version: 2, Fields: []Field{
		{"before", val}, {"after", val}, {"source", src}, {"op", req(String)}, {"ts_ms", &Schema{Type: Int64, Optional: true}},
	}}
	envValue := NewStruct(env)
	envValue.Put("after", &StructValue{Schema: val, Values: []any{int32(1), "x"}})
	envValue.Put("source", &StructValue{Schema: src, Values: []any{"2.7.0", int64(123)}})
	envValue.Put("op", "c")
	envValue.Put("ts_ms", int64(1700000000000))
	return map[string]javaCase{
		"int8":         {req(Int8), int8(5)},
		"int16":        {req(Int16), int16(-300)},
		"int32":        {req(Int32), int32(123456)},
		"int64":        {req(Int64), int64(1) << 40},
		"float32":      {req(Float32), float32(1.5)},
		"float32big":   {req(Float32), float32(3.4e38)},
		"float64":      {req(Float64), 0.1},
		"float64big":   {req(Float64), 1e21},
		"float64small": {req(Float64), 1e-5},
		"float64int":   {req(Float64), 123456789.0},
		"float64neg":   {req(Float64), -2.5},
		"boolean":      {req(Boolean), true},
		"string":       {req(String), "a\"b\\c\n\t\u0001\u007f é</>&\u2028"},
		"bytes":        {req(Bytes), []byte{0, 1, 2, 255}},
		"optionalnull": {&Schema{Type: String, Optional: true}, nil},
		"array":        {&Schema{Type: Array, Items: req(Int32)}, []any{int32(1), int32(2), int32(3)}},
		"mapstring":    {&Schema{Type: Map, Keys: req(String), Values: req(Int64)}, map[string]any{"a": int64(1)}},
		"mapint":       {&Schema{Type: Map, Keys: req(Int32), Values: req(String)}, map[string]any{"1": "x"}},
		"struct":       {row, &StructValue{Schema: row, Values: []any{int32(7), "seven"}}},
		"structnull":   {row, &StructValue{Schema: row, Values: []any{int32(8), nil}}},
		"decimal":      {dec, "12.34"},
		"decimalneg":   {dec, big.NewInt(-150)},
		"decimaldebezium": {&Schema{Type: Bytes, Optional: true, Name: DecimalName, Version: 1,
			Parameters: map[string]string{"scale": "3", "connect.decimal.precision": "10"}}, "-123456.789"},
		"date":            {&Schema{Type: Int32, Name: DateName, Version: 1}, int32(19000)},
		"time":            {&Schema{Type: Int32, Name: TimeName, Version: 1}, int32(3600001)},
		"timestamp":       {&Schema{Type: Int64, Name: TimestampName, Version: 1}, int64(1700000000123)},
		"microtimestamp":  {&Schema{Type: Int64, Optional: true, Name: "io.debezium.time.MicroTimestamp", Version: 1}, int64(1700000000123456)},
		"debeziumjson":    {&Schema{Type: String, Name: "io.debezium.data.Json", Version: 1}, `{"a":1}`},
		"default":         {&Schema{Type: Int32, Optional: true, Default: int32(7)}, nil},
		"defaultset":      {&Schema{Type: String, Default: "d"}, "v"},
		"envelope":        {env, envValue},
		"schemaless":      {nil, map[string]any{"k": "v"}},
		"schemalessarray": {nil, []any{int64(1), "two", 3.5, true}},
		"numericdecimal":  {dec, "12.34"},
		"numericdecimal0": {&Schema{Type: Bytes, Name: DecimalName, Version: 1, Parameters: map[string]string{"scale": "0"}}, "1000"},
	}
}

// TestJSONConverterMatchesJava renders every case and compares with Java's bytes, then reads
// the bytes back and renders them again (the round trip must be stable).
func TestJSONConverterMatchesJava(t *testing.T) {
	data, err := os.ReadFile("testdata/jsonconverter.tsv")
	if err != nil {
		t.Fatal(err)
	}
	cases := javaCases()
	on, _ := NewConverter(JSONConverterClass, map[string]string{"value.converter.schemas.enable": "true"}, "value.converter.")
	off, _ := NewConverter(JSONConverterClass, map[string]string{"value.converter.schemas.enable": "false"}, "value.converter.")
	num, err := NewConverter("JsonConverter", map[string]string{"decimal.format": "NUMERIC"}, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for line := range strings.Lines(string(data)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) != 3 {
			t.Fatalf("bad testdata line %q", line)
		}
		name, withSchema, without := f[0], f[1], f[2]
		c, ok := cases[name]
		if !ok {
			t.Errorf("%s: no Go case", name)
			continue
		}
		seen++
		conv := on
		if strings.HasPrefix(name, "numeric") {
			conv = num
		}
		got, err := conv.FromConnect("t", c.schema, c.value)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(got) != withSchema {
			t.Errorf("%s with schemas:\n got %s\nwant %s", name, got, withSchema)
		}
		if without != "-" {
			got, err := off.FromConnect("t", c.schema, c.value)
			if err != nil || string(got) != without {
				t.Errorf("%s without schemas:\n got %s (%v)\nwant %s", name, got, err, without)
			}
		}
		s, v, err := conv.ToConnect("t", []byte(withSchema))
		if err != nil {
			t.Errorf("%s: reading back: %v", name, err)
			continue
		}
		again, err := conv.FromConnect("t", s, v)
		if err != nil || string(again) != withSchema {
			t.Errorf("%s round trip:\n got %s (%v)\nwant %s", name, again, err, withSchema)
		}
	}
	if seen != len(cases) {
		t.Errorf("testdata has %d of the %d cases", seen, len(cases))
	}
}

func TestJSONConverterSchemaless(t *testing.T) {
	off, _ := NewConverter(JSONConverterClass, map[string]string{"schemas.enable": "false"}, "")
	s, v, err := off.ToConnect("t", []byte(`{"a":1,"b":[2.5,"x",null,true],"c":{"d":-3}}`))
	if err != nil || s != nil {
		t.Fatalf("schema %v, err %v", s, err)
	}
	want := map[string]any{"a": int64(1), "b": []any{2.5, "x", nil, true}, "c": map[string]any{"d": int64(-3)}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v, want %#v", v, want)
	}
	if _, v, err := off.ToConnect("t", nil); v != nil || err != nil {
		t.Fatalf("tombstone: %v %v", v, err)
	}
}

func TestJSONConverterErrors(t *testing.T) {
	on, _ := NewConverter(JSONConverterClass, nil, "")
	for _, in := range []string{
		`{"a":1}`,                                    // no envelope
		`{"schema":null,"payload":1,"x":2}`,          // extra field
		`{"schema":{"type":"int32"},"payload":"x"}`,  // wrong payload type
		`{"schema":{"type":"int32"},"payload":null}`, // required null
		`{"schema":{"type":"nope"},"payload":1}`,
		`{"schema":{"type":"array"},"payload":[]}`,
		`{"schema":{"type":"struct","fields":[{"type":"int8"}]},"payload":{}}`,
		`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal"},"payload":"AA=="}`,
		`{"schema":null,"payload":1} trailing`,
		`[` + strings.Repeat("[", 1000) + strings.Repeat("]", 1001),
		`{"schema":`,
	} {
		if _, _, err := on.ToConnect("t", []byte(in)); err == nil {
			t.Errorf("%.60s: no error", in)
		}
	}
	if _, err := on.FromConnect("t", &Schema{Type: Int32}, nil); err == nil {
		t.Error("required null: no error")
	}
	if _, err := on.FromConnect("t", &Schema{Type: Int32}, "x"); err == nil {
		t.Error("string for int32: no error")
	}
	if _, err := NewConverter("com.example.Nope", nil, ""); err == nil {
		t.Error("unknown class: no error")
	}
	if _, err := NewConverter(JSONConverterClass, map[string]string{"schemas.enable": "yes"}, ""); err == nil {
		t.Error("schemas.enable=yes: no error")
	}
}

func TestStringAndBytesConverters(t *testing.T) {
	sc, _ := NewConverter(StringConverterClass, nil, "")
	b, err := sc.FromConnect("t", nil, int64(42))
	if err != nil || string(b) != "42" {
		t.Fatalf("string of 42: %q %v", b, err)
	}
	s, v, _ := sc.ToConnect("t", []byte("héllo"))
	if s.Type != String || !s.Optional || v != "héllo" {
		t.Fatalf("read string: %v %v", s, v)
	}
	bc, _ := NewConverter(BytesConverterClass, nil, "")
	if b, err := bc.FromConnect("t", optionalBytes, []byte{1, 2}); err != nil || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("bytes: %v %v", b, err)
	}
	if _, err := bc.FromConnect("t", nil, "text"); err == nil {
		t.Fatal("ByteArrayConverter took a string")
	}
	if _, err := bc.FromConnect("t", &Schema{Type: String}, []byte("x")); err == nil {
		t.Fatal("ByteArrayConverter took a string schema")
	}
}

func TestJavaFloat(t *testing.T) {
	for f, want := range map[float64]string{1: "1.0", 100: "100.0", 1e7: "1.0E7", 9999999: "9999999.0", 0.001: "0.001",
		0.0001: "1.0E-4", 1.25e-10: "1.25E-10", -0.5: "-0.5", 123.456: "123.456"} {
		if got := javaFloat(f, 64); got != want {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}
