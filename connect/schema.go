package connect

import "fmt"

// Type is a schema type, with Kafka Connect's names (Schema.Type in lower case).
type Type string

// The schema types of Kafka Connect.
const (
	Int8    Type = "int8"
	Int16   Type = "int16"
	Int32   Type = "int32"
	Int64   Type = "int64"
	Float32 Type = "float32"
	Float64 Type = "float64"
	Boolean Type = "boolean"
	String  Type = "string"
	Bytes   Type = "bytes"
	Array   Type = "array"
	Map     Type = "map"
	Struct  Type = "struct"
)

// Schema describes a value as Kafka Connect's org.apache.kafka.connect.data.Schema does. A
// value of a schema is, by Type: int8, int16, int32, int64, float32, float64, bool, string,
// []byte, []any (Array), map[string]any (Map; integer keys of a non-string key schema as
// their decimal text; other key types are not supported), *StructValue (Struct); nil when
// Optional. Logical types
// (Name "org.apache.kafka.connect.data.Decimal", "io.debezium.time.Timestamp", ...) keep the
// physical representation of their Type.
type Schema struct {
	Type       Type
	Optional   bool
	Name       string            // logical or record name; "" if none
	Version    int               // 0: not set
	Doc        string            // "" if none
	Parameters map[string]string // nil if none
	// ParameterOrder lists parameter names in the order Java's builder added them, for
	// byte-identical JSON schemas; names not listed follow ("scale" first, then by name).
	ParameterOrder []string
	Default        any     // nil if none
	Fields         []Field // Struct: the fields in order
	Items          *Schema // Array: the element schema
	Keys           *Schema // Map: the key schema
	Values         *Schema // Map: the value schema
}

// Field is one field of a struct schema.
type Field struct {
	Name   string
	Schema *Schema
}

// Field returns the struct schema's field called name and its index, or -1 if there is none.
func (s *Schema) Field(name string) (Field, int) {
	for i, f := range s.Fields {
		if f.Name == name {
			return f, i
		}
	}
	return Field{}, -1
}

// StructValue is a value of a struct schema: one value per field, in the schema's order.
type StructValue struct {
	Schema *Schema
	Values []any
}

// NewStruct returns an empty value of the struct schema s (every field nil).
func NewStruct(s *Schema) *StructValue {
	return &StructValue{Schema: s, Values: make([]any, len(s.Fields))}
}

// Get returns the value of the field called name (nil if unset or unknown).
func (v *StructValue) Get(name string) any {
	if _, i := v.Schema.Field(name); i >= 0 {
		return v.Values[i]
	}
	return nil
}

// Put sets the field called name; it fails when the schema has no such field.
func (v *StructValue) Put(name string, value any) error {
	_, i := v.Schema.Field(name)
	if i < 0 {
		return fmt.Errorf("connect: struct %q has no field %q", v.Schema.Name, name)
	}
	v.Values[i] = value
	return nil
}
