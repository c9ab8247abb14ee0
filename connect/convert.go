package connect

import (
	"fmt"
	"strings"
)

// Converter turns connector data into record bytes and back, as Kafka Connect's
// org.apache.kafka.connect.storage.Converter does. A nil schema means schemaless data.
type Converter interface {
	// FromConnect serializes value (of schema) for topic; a nil schema and value give nil bytes.
	FromConnect(topic string, schema *Schema, value any) ([]byte, error)
	// ToConnect deserializes record bytes of topic; nil bytes (a tombstone) give nil, nil.
	ToConnect(topic string, data []byte) (*Schema, any, error)
}

// The converter classes Kafka Connect names in key.converter / value.converter.
const (
	JSONConverterClass   = "org.apache.kafka.connect.json.JsonConverter"
	StringConverterClass = "org.apache.kafka.connect.storage.StringConverter"
	BytesConverterClass  = "org.apache.kafka.connect.converters.ByteArrayConverter"
)

// NewConverter returns the converter of a Java class name configured with the properties
// under prefix (e.g. "value.converter." gives "schemas.enable"). The short class names
// (JsonConverter, StringConverter, ByteArrayConverter) are accepted too.
func NewConverter(class string, config map[string]string, prefix string) (Converter, error) {
	sub := make(map[string]string)
	for k, v := range config {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			sub[rest] = v
		}
	}
	switch class {
	case JSONConverterClass, "JsonConverter":
		return newJSONConverter(sub)
	case StringConverterClass, "StringConverter":
		return stringConverter{}, nil
	case BytesConverterClass, "ByteArrayConverter":
		return bytesConverter{}, nil
	}
	return nil, fmt.Errorf("converter class %q is not one of %s, %s, %s", class, JSONConverterClass, StringConverterClass, BytesConverterClass)
}

// stringConverter is org.apache.kafka.connect.storage.StringConverter (UTF-8): any value is
// written as its text, and bytes are read back as an optional string.
type stringConverter struct{}

// optionalString is the schema StringConverter reads values with (Schema.OPTIONAL_STRING_SCHEMA).
var optionalString = &Schema{Type: String, Optional: true}

func (stringConverter) FromConnect(_ string, _ *Schema, value any) ([]byte, error) {
	switch v := value.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	case fmt.Stringer:
		return []byte(v.String()), nil
	}
	return fmt.Appendf(nil, "%v", value), nil
}

func (stringConverter) ToConnect(_ string, data []byte) (*Schema, any, error) {
	if data == nil {
		return optionalString, nil, nil
	}
	return optionalString, string(data), nil
}

// bytesConverter is org.apache.kafka.connect.converters.ByteArrayConverter: values pass
// through as bytes; anything but bytes is refused, as Java does.
type bytesConverter struct{}

// optionalBytes is the schema ByteArrayConverter reads values with.
var optionalBytes = &Schema{Type: Bytes, Optional: true}

func (bytesConverter) FromConnect(topic string, schema *Schema, value any) ([]byte, error) {
	if schema != nil && schema.Type != Bytes {
		return nil, fmt.Errorf("invalid schema type for ByteArrayConverter: %s", strings.ToUpper(string(schema.Type)))
	}
	switch v := value.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	}
	return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", value)
}

func (bytesConverter) ToConnect(_ string, data []byte) (*Schema, any, error) {
	if data == nil {
		return optionalBytes, nil, nil
	}
	return optionalBytes, data, nil
}
