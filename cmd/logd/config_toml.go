package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// configFormat tells how to parse a config file: "properties", "toml" or "yaml". The
// extension decides (.properties; .toml; .yaml or .yml); otherwise the content does. The
// first line that is neither blank nor a comment: a [table] header is TOML; a "!" comment is
// properties; a key = value assignment (which in YAML would be a lone string, not the mapping
// a config file must be) is TOML when every assignment's value is a TOML value (quoted,
// a number, a boolean, an array or inline table) and Java properties when one is bare text
// (log.dirs=/tmp/kafka-logs, Kafka's own style); anything else is YAML.
func configFormat(path string, data []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".properties":
		return "properties"
	case ".toml":
		return "toml"
	case ".yaml", ".yml":
		return "yaml"
	}
	lines := strings.Split(string(data), "\n")
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(line, "!"):
			return "properties"
		case strings.HasPrefix(line, "["):
			return "toml"
		case tomlFirstLine.MatchString(line):
			if hasBareValue(lines) {
				return "properties"
			}
			return "toml"
		}
		return "yaml"
	}
	return "yaml"
}

// hasBareValue reports whether some key=value line's value is not a TOML value.
func hasBareValue(lines []string) bool {
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		m := tomlFirstLine.FindString(line)
		if m == "" || !strings.HasSuffix(m, "=") {
			continue
		}
		if v := strings.TrimSpace(line[len(m):]); v != "" && !tomlValueStart.MatchString(v) {
			return true
		}
	}
	return false
}

var tomlValueStart = regexp.MustCompile(`^(["'\[{]|[-+]?[0-9]|[-+]?(inf|nan)\b|true\b|false\b)`)

var tomlFirstLine = regexp.MustCompile(`^(\[|[A-Za-z0-9_.\-"' ]+=)`)

// tomlEntry is one leaf of a TOML document: its key path, value and line.
type tomlEntry struct {
	parts []string
	value any
	line  int
}

// readTOMLConfig parses TOML with the same Kafka property names as YAML: flat quoted keys
// ("log.retention.ms" = 1000), dotted keys (log.retention.ms = 1000) and tables ([log]
// retention.ms = 1000) all name the same setting. Errors name the file, the line and the key.
func readTOMLConfig(path string, data []byte) (map[string]setting, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			msg := strings.TrimPrefix(de.Error(), "toml: ")
			if key := tomlErrorKey(de, data, line); key != "" {
				return nil, fmt.Errorf("%s line %d: %s: %s", path, line, key, msg)
			}
			return nil, fmt.Errorf("%s line %d: %s", path, line, msg)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	lines := tomlKeyLines(data)
	var entries []tomlEntry
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for k, v := range m {
			parts := append(append([]string(nil), prefix...), k)
			if sub, ok := v.(map[string]any); ok {
				walk(parts, sub)
				continue
			}
			entries = append(entries, tomlEntry{parts, v, lines[strings.Join(parts, "\x00")]})
		}
	}
	walk(nil, doc)
	// Report the first problem in the file, not a random one.
	sort.Slice(entries, func(i, j int) bool { return entries[i].line < entries[j].line })

	out := map[string]setting{}
	first := map[string]int{}
	for _, e := range entries {
		name := strings.Join(e.parts, ".")
		at := fmt.Sprintf("%s line %d", path, e.line)
		if !knownKey(name) {
			return nil, unknownKey(at, name)
		}
		var value string
		switch v := e.value.(type) {
		case string:
			value = v
		case int64:
			value = strconv.FormatInt(v, 10)
		case bool:
			value = strconv.FormatBool(v)
		case float64:
			value = strconv.FormatFloat(v, 'g', -1, 64)
		case []any, []map[string]any:
			return nil, fmt.Errorf("%s: %s: want a single value, not a list", at, name)
		default: // dates and times
			value = fmt.Sprint(v)
		}
		if l, dup := first[name]; dup {
			return nil, fmt.Errorf("%s: %s is already set on line %d", at, name, l)
		}
		first[name] = e.line
		out[name] = setting{value, at}
	}
	return out, nil
}

// tomlErrorKey names the key a decode error is about: the decoder's, else the key written
// at the start of the error's line ("" when the line does not start with one).
func tomlErrorKey(de *toml.DecodeError, data []byte, line int) string {
	if k := de.Key(); len(k) > 0 {
		return strings.Join(k, ".")
	}
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	if m := tomlKeyAtLine.FindStringSubmatch(lines[line-1]); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

var tomlKeyAtLine = regexp.MustCompile(`^\s*([A-Za-z0-9_.\-]+)\s*=`)

// tomlKeyLines maps every key path of a valid TOML document (parts joined by NUL) to the
// line it is first written on. The decoder reports no positions for keys it accepted;
// go-toml's parser does.
func tomlKeyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	note := func(parts []string, line int) {
		for i := 1; i <= len(parts); i++ {
			k := strings.Join(parts[:i], "\x00")
			if _, seen := lines[k]; !seen {
				lines[k] = line
			}
		}
	}
	keyOf := func(n *unstable.Node) ([]string, int) {
		var parts []string
		line := 0
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if line == 0 {
				line = p.Shape(k.Raw).Start.Line
			}
			parts = append(parts, string(k.Data))
		}
		return parts, line
	}
	var keyValue func(prefix []string, n *unstable.Node)
	keyValue = func(prefix []string, n *unstable.Node) {
		parts, line := keyOf(n)
		parts = append(append([]string(nil), prefix...), parts...)
		note(parts, line)
		if v := n.Value(); v.Kind == unstable.InlineTable {
			it := v.Children()
			for it.Next() {
				keyValue(parts, it.Node())
			}
		}
	}
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var line int
			table, line = keyOf(e)
			note(table, line)
		case unstable.KeyValue:
			keyValue(table, e)
		}
	}
	return lines
}
