package auth

import (
	"bytes"
	"testing"
)

// FuzzPlainStep: a PLAIN message from an unauthenticated client never panics and
// authenticates exactly when it is authzid (empty or the user) NUL user NUL the user's password.
func FuzzPlainStep(f *testing.F) {
	users := map[string]string{"alice": "alice-secret", "bob": ""}
	s, err := NewSASL(map[string]*ListenerSASL{"L": {Enabled: []string{MechPlain}, Plain: users}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("\x00alice\x00alice-secret"))
	f.Add([]byte("alice\x00alice\x00alice-secret"))
	f.Add([]byte("\x00bob\x00"))
	f.Add([]byte("\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		x, _ := s.Start("L", MechPlain, nil)
		_, done, principal, err := x.Step(msg)
		parts := bytes.Split(msg, []byte{0})
		want := len(parts) == 3 && len(parts[1]) > 0 && (len(parts[0]) == 0 || bytes.Equal(parts[0], parts[1]))
		if want {
			pw, ok := users[string(parts[1])]
			want = ok && pw == string(parts[2])
		}
		if (err == nil) != want || done != want || (want && principal != "User:"+string(parts[1])) {
			t.Fatalf("%q: done %v principal %q err %v, want authenticated=%v", msg, done, principal, err, want)
		}
	})
}

// FuzzParseJAAS: a sasl.jaas.config value never panics the parser.
func FuzzParseJAAS(f *testing.F) {
	f.Add(`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x" b=c;`)
	f.Add(`m optional a="\"";`)
	f.Fuzz(func(t *testing.T, v string) {
		module, opts, err := ParseJAAS(v)
		if err == nil && (module == "" || opts == nil) {
			t.Fatalf("%q: accepted without a module or options", v)
		}
	})
}
