// Package properties reads Java's .properties format as java.util.Properties.load does, the
// format of Kafka's server.properties and of its clients' --command-config files.
//
// The grammar, line by line (Java's LineReader and load0):
//
//   - Natural lines end at \n, \r or \r\n. Leading space, tab and form feed are skipped.
//     A line that is then empty is skipped; one starting with '#' or '!' is a comment and
//     skipped whole (a comment is never continued).
//   - A line ending in an odd number of backslashes continues on the next natural line: the
//     backslash goes, and the next line's leading whitespace is skipped. A backslash at the
//     end of the input is dropped.
//   - The key runs to the first unescaped '=', ':', space, tab or form feed. Whitespace after
//     it, then at most one '=' or ':', then whitespace again, are skipped; the rest of the
//     logical line, trailing whitespace included, is the value.
//   - In keys and values, \t \n \r \f are those characters, \uXXXX (exactly four hex digits)
//     is a UTF-16 code unit (a surrogate pair forms one character), and a backslash before
//     any other character is that character.
//   - A key given twice: the later value wins (Properties is a map). Parse reports both.
//
// Java reads a stream as ISO-8859-1; Parse reads UTF-8, so a file of non-ASCII text written
// by an editor means what it shows. Bytes that are not UTF-8 are kept as they are.
package properties

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// Entry is one key and value, with the 1-based line its logical line starts on.
type Entry struct {
	Key   string
	Value string
	Line  int
}

// Parse returns the entries of data in file order. Its only error is a malformed \uXXXX
// escape (Java's "Malformed \uxxxx encoding"), which names the line.
func Parse(data []byte) ([]Entry, error) {
	var out []Entry
	lines := splitLines(string(data))
	for i := 0; i < len(lines); i++ {
		line := trimLeft(lines[i])
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		start := i + 1
		var logical strings.Builder
		for {
			if oddBackslashes(line) {
				logical.WriteString(line[:len(line)-1])
				if i+1 == len(lines) {
					break // a backslash at the end of the input is dropped
				}
				i++
				line = trimLeft(lines[i])
				continue
			}
			logical.WriteString(line)
			break
		}
		k, v, err := splitEntry(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", start, err)
		}
		out = append(out, Entry{Key: k, Value: v, Line: start})
	}
	return out, nil
}

// splitLines cuts s into natural lines at \n, \r and \r\n.
func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return lines
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimLeft(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

func oddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitEntry separates a logical line into its unescaped key and value (Java's load0).
func splitEntry(line string) (key, value string, err error) {
	keyLen, valueStart := 0, len(line)
	hasSep, escaped := false, false
	for ; keyLen < len(line); keyLen++ {
		c := line[keyLen]
		if !escaped && (c == '=' || c == ':') {
			valueStart, hasSep = keyLen+1, true
			break
		}
		if !escaped && isSpace(c) {
			valueStart = keyLen + 1
			break
		}
		escaped = c == '\\' && !escaped
	}
	for ; valueStart < len(line); valueStart++ {
		c := line[valueStart]
		if isSpace(c) {
			continue
		}
		if !hasSep && (c == '=' || c == ':') {
			hasSep = true
			continue
		}
		break
	}
	if key, err = unescape(line[:keyLen]); err != nil {
		return "", "", err
	}
	if value, err = unescape(line[valueStart:]); err != nil {
		return "", "", err
	}
	return key, value, nil
}

// unescape applies Java's loadConvert.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var units []uint16 // pending \u code units, so surrogate pairs join
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			flush()
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uxxxx escape %q: want four hex digits`, s[i-1:])
			}
			var u uint16
			for _, h := range []byte(s[i+1 : i+5]) {
				d, ok := hexDigit(h)
				if !ok {
					return "", fmt.Errorf(`malformed \uxxxx escape %q: want four hex digits`, s[i-1:i+5])
				}
				u = u<<4 | uint16(d)
			}
			units = append(units, u)
			i += 4
			continue
		case 't':
			c = '\t'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 'f':
			c = '\f'
		}
		flush()
		b.WriteByte(c)
	}
	flush()
	return b.String(), nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
