package metadata

import (
	"errors"
	"testing"
)

// TestAlterScram: credentials are set and removed per user; a user named twice, an empty
// name, an unknown mechanism, iterations out of bounds and the deletion of a missing
// credential fail that user alone, as Kafka's controller answers; IfAbsent keeps an existing
// credential; the credentials survive an encode/decode of the command and a Clone.
func TestAlterScram(t *testing.T) {
	s := NewClusterState("c")
	cred := ScramCredential{Salt: []byte("salt"), StoredKey: []byte("sk"), ServerKey: []byte("vk"), Iterations: 4096}
	apply := func(c *AlterScram) map[string]error {
		t.Helper()
		data, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := DecodeCommand(data)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Apply(s.LastIndex+1, dc)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]error{}
		for _, r := range res.([]ScramResult) {
			out[r.User] = r.Err
		}
		return out
	}
	few, many := cred, cred
	few.Iterations, many.Iterations = 4095, 16385
	got := apply(&AlterScram{
		Upsertions: []ScramUpsertion{{User: "alice", Mechanism: ScramSHA512, Credential: cred}, {User: "bob", Mechanism: ScramSHA256, Credential: cred},
			{User: "bob", Mechanism: ScramSHA512, Credential: cred}, {User: "", Mechanism: ScramSHA256, Credential: cred},
			{User: "carol", Mechanism: 3, Credential: cred}, {User: "dave", Mechanism: ScramSHA256, Credential: few},
			{User: "erin", Mechanism: ScramSHA256, Credential: many}},
		Deletions: []ScramDeletion{{User: "frank", Mechanism: ScramSHA256}},
	})
	for user, want := range map[string]error{"alice": nil, "bob": ErrScramDuplicate, "": ErrScramUnacceptable, "carol": ErrScramUnknownMechanism,
		"dave": ErrScramUnacceptable, "erin": ErrScramUnacceptable, "frank": ErrScramNotFound} {
		if err, ok := got[user]; !ok || !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("%q: %v, want %v", user, err, want)
		}
	}
	if len(s.Scram) != 1 || s.Scram["alice"][ScramSHA512].Iterations != 4096 {
		t.Fatalf("state %v", s.Scram)
	}
	other := cred
	other.Iterations = 8192
	apply(&AlterScram{IfAbsent: true, Upsertions: []ScramUpsertion{{User: "alice", Mechanism: ScramSHA512, Credential: other}}})
	if c := s.Clone(); c.Scram["alice"][ScramSHA512].Iterations != 4096 {
		t.Fatalf("IfAbsent replaced a credential: %v", c.Scram["alice"][ScramSHA512])
	}
	if got := apply(&AlterScram{Deletions: []ScramDeletion{{User: "alice", Mechanism: ScramSHA512}}}); got["alice"] != nil || len(s.Scram) != 0 {
		t.Fatalf("delete: %v, state %v", got, s.Scram)
	}
}
