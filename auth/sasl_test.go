package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPlainUsers(t *testing.T) {
	users, err := PlainUsers(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a \"quoted\" pw" user_bob=bare;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 || users["admin"] != "admin-secret" || users["alice"] != `a "quoted" pw` || users["bob"] != "bare" {
		t.Fatalf("users %q", users)
	}
	for _, tc := range []struct{ in, want string }{
		{`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x"`, "must end with ';'"},
		{`org.apache.kafka.common.security.plain.PlainLoginModule always user_a="x";`, `flag "always"`},
		{`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x;`, "unterminated"},
		{`org.apache.kafka.common.security.scram.ScramLoginModule required;`, "must use org.apache.kafka.common.security.plain.PlainLoginModule"},
		{`org.apache.kafka.common.security.plain.PlainLoginModule required; x y;`, "one login module only"},
		{`org.apache.kafka.common.security.plain.PlainLoginModule required user_a;`, "want name=value"},
	} {
		if _, err := PlainUsers(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestPlainExchange(t *testing.T) {
	s, err := NewSASL(map[string]*ListenerSASL{"SASL_SSL": {Enabled: []string{"PLAIN"}, Plain: map[string]string{"alice": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		msg, principal string
	}{
		{"\x00alice\x00pw", "User:alice"},
		{"alice\x00alice\x00pw", "User:alice"},
		{"bob\x00alice\x00pw", ""}, // impersonation
		{"\x00alice\x00wrong", ""},
		{"\x00nobody\x00", ""},
		{"\x00alice", ""},
		{"\x00\x00pw", ""},
	} {
		x, err := s.Start("SASL_SSL", "PLAIN", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, done, p, err := x.Step([]byte(tc.msg))
		if tc.principal == "" {
			if !errors.Is(err, ErrAuthentication) || done {
				t.Errorf("%q: %v %v, want ErrAuthentication", tc.msg, done, err)
			}
		} else if err != nil || !done || p != tc.principal {
			t.Errorf("%q: %q %v %v", tc.msg, p, done, err)
		}
	}
	if _, err := s.Start("SASL_SSL", "SCRAM-SHA-512", nil); err == nil || !strings.Contains(err.Error(), "enabled: PLAIN") {
		t.Errorf("unenabled mechanism: %v", err)
	}
	for _, l := range []*ListenerSASL{{}, {Enabled: []string{"GSSAPI"}}, {Enabled: []string{"PLAIN"}}} {
		if _, err := NewSASL(map[string]*ListenerSASL{"X": l}); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}
