package properties

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// javaFile is parsed by Java 21's Properties.load into javaWant (checked with a
// five-line Java program when this test was written; the expectations are Java's output).
const javaFile = "# comment\n! bang comment\n  key1 = value1  \nkey2:value2\nkey3 value3\nkey4\nkey5=\n" +
	"  a\\=b = c\\:d\nlong = first \\\n     second \\\\\nnext=x\ncont\\\n  inued = yes\n" +
	"uni=\\u00e9\\u0041\\uD83D\\uDE00\nesc=\\t\\n\\q\\\\\nkey6 = = :x\n#cont \\\nnotcont=1\n" +
	"sp\\ ace=v\ncrlf=1\r\ncr=2\rlast=end\\"

var javaWant = []Entry{
	{"key1", "value1  ", 3}, {"key2", "value2", 4}, {"key3", "value3", 5}, {"key4", "", 6},
	{"key5", "", 7}, {"a=b", "c:d", 8}, {"long", `first second \`, 9}, {"next", "x", 11},
	{"continued", "yes", 12}, {"uni", "éA😀", 14}, {"esc", "\t\nq\\", 15}, {"key6", "= :x", 16},
	{"notcont", "1", 18}, {"sp ace", "v", 19}, {"crlf", "1", 20}, {"cr", "2", 21}, {"last", "end", 22},
}

func TestParseLikeJava(t *testing.T) {
	got, err := Parse([]byte(javaFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, javaWant) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, javaWant)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a=1\nb=\\u12", `line 2: malformed \uxxxx escape "\\u12": want four hex digits`},
		{"a=1\n\nb\\u00zz=1", `line 3: malformed \uxxxx escape "\\u00zz": want four hex digits`},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want %s", tc.in, err, tc.want)
		}
	}
}

// escape writes s so that Parse reads it back: every byte that could be syntax is escaped.
func escape(s string, key bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ { // bytewise: bytes that are not UTF-8 stay as they are
		switch c := s[i]; {
		case c == '\\' || c == '=' || c == ':' || c == '#' || c == '!':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParse: Parse never panics; lines increase; and what it read, written back escaped one
// entry per line, reads back the same (keys, values and count).
func FuzzParse(f *testing.F) {
	f.Add([]byte(javaFile))
	f.Add([]byte("listeners=PLAINTEXT://:9092,SSL://:9093\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n  user_alice=\"a\";\n"))
	f.Add([]byte("a\\\r\n\\u0041 b\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Parse(data)
		if err != nil {
			return
		}
		var again strings.Builder
		for i, e := range entries {
			if i > 0 && e.Line <= entries[i-1].Line {
				t.Fatalf("entry %d on line %d after line %d", i, e.Line, entries[i-1].Line)
			}
			again.WriteString(escape(e.Key, true) + "=" + escape(e.Value, false) + "\n")
		}
		back, err := Parse([]byte(again.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", again.String(), err)
		}
		if len(back) != len(entries) {
			t.Fatalf("re-parse: %d entries, want %d", len(back), len(entries))
		}
		for i := range back {
			if back[i].Key != entries[i].Key || back[i].Value != entries[i].Value {
				t.Fatalf("re-parse entry %d: %q=%q, want %q=%q", i, back[i].Key, back[i].Value, entries[i].Key, entries[i].Value)
			}
		}
	})
}
