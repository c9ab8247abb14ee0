package postgres

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/logd/logd/connect"
)

// The test driver's serialization: Kafka Connect's JsonConverter with schemas.enable=true
// ({"schema": ..., "payload": ...}), just enough to carry records through logd and back.
// When the runtime's converters land in package connect, the driver should use them instead.

func schemaJSON(s *connect.Schema) map[string]any {
	m := map[string]any{"type": string(s.Type), "optional": s.Optional}
	if s.Name != "" {
		m["name"] = s.Name
	}
	if s.Version != 0 {
		m["version"] = s.Version
	}
	if s.Doc != "" {
		m["doc"] = s.Doc
	}
	if s.Parameters != nil {
		m["parameters"] = s.Parameters
	}
	if s.Default != nil {
		m["default"] = s.Default
	}
	switch s.Type {
	case connect.Struct:
		fields := make([]any, len(s.Fields))
		for i, f := range s.Fields {
			fm := schemaJSON(f.Schema)
			fm["field"] = f.Name
			fields[i] = fm
		}
		m["fields"] = fields
	case connect.Array:
		m["items"] = schemaJSON(s.Items)
	}
	return m
}

func payloadJSON(s *connect.Schema, v any) any {
	if v == nil {
		return nil
	}
	switch s.Type {
	case connect.Struct:
		sv := v.(*connect.StructValue)
		m := map[string]any{}
		for i, f := range s.Fields {
			m[f.Name] = payloadJSON(f.Schema, sv.Values[i])
		}
		return m
	case connect.Array:
		items := v.([]any)
		out := make([]any, len(items))
		for i, e := range items {
			out[i] = payloadJSON(s.Items, e)
		}
		return out
	case connect.Bytes:
		return base64.StdEncoding.EncodeToString(v.([]byte))
	}
	return v
}

// encodeJSON renders a value with its schema; a nil schema and value give nil (a tombstone).
func encodeJSON(s *connect.Schema, v any) []byte {
	if s == nil && v == nil {
		return nil
	}
	b, err := json.Marshal(map[string]any{"schema": schemaJSON(s), "payload": payloadJSON(s, v)})
	if err != nil {
		panic(err)
	}
	return b
}

// decodeJSON parses what encodeJSON wrote.
func decodeJSON(b []byte) (*connect.Schema, any, error) {
	if b == nil {
		return nil, nil, nil
	}
	var env struct {
		Schema  map[string]any
		Payload any
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&env); err != nil {
		return nil, nil, err
	}
	s := parseSchemaJSON(env.Schema)
	v, err := parsePayload(s, env.Payload)
	return s, v, err
}

func parseSchemaJSON(m map[string]any) *connect.Schema {
	s := &connect.Schema{Type: connect.Type(m["type"].(string))}
	s.Optional, _ = m["optional"].(bool)
	s.Name, _ = m["name"].(string)
	if v, ok := m["version"].(json.Number); ok {
		n, _ := v.Int64()
		s.Version = int(n)
	}
	s.Doc, _ = m["doc"].(string)
	if p, ok := m["parameters"].(map[string]any); ok {
		s.Parameters = map[string]string{}
		for k, v := range p {
			s.Parameters[k] = v.(string)
		}
	}
	if fs, ok := m["fields"].([]any); ok {
		for _, f := range fs {
			fm := f.(map[string]any)
			s.Fields = append(s.Fields, connect.Field{Name: fm["field"].(string), Schema: parseSchemaJSON(fm)})
		}
	}
	if it, ok := m["items"].(map[string]any); ok {
		s.Items = parseSchemaJSON(it)
	}
	return s
}

func parsePayload(s *connect.Schema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch s.Type {
	case connect.Struct:
		m := v.(map[string]any)
		sv := connect.NewStruct(s)
		for i, f := range s.Fields {
			fv, err := parsePayload(f.Schema, m[f.Name])
			if err != nil {
				return nil, err
			}
			sv.Values[i] = fv
		}
		return sv, nil
	case connect.Array:
		items := v.([]any)
		out := make([]any, len(items))
		for i, e := range items {
			ev, err := parsePayload(s.Items, e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case connect.Bytes:
		return base64.StdEncoding.DecodeString(v.(string))
	case connect.Int8, connect.Int16, connect.Int32, connect.Int64:
		n, err := v.(json.Number).Int64()
		switch s.Type {
		case connect.Int8:
			return int8(n), err
		case connect.Int16:
			return int16(n), err
		case connect.Int32:
			return int32(n), err
		}
		return n, err
	case connect.Float32, connect.Float64:
		f, err := v.(json.Number).Float64()
		if s.Type == connect.Float32 {
			return float32(f), err
		}
		return f, err
	case connect.Boolean, connect.String:
		return v, nil
	}
	return nil, fmt.Errorf("unsupported schema type %s", s.Type)
}
