package metadata

import (
	"errors"
	"fmt"
	"slices"
)

// SCRAM credentials (Kafka's UserScramCredentialRecord): per user and mechanism, the salt,
// StoredKey, ServerKey and iterations; never the password or the salted password.

// Errors of AlterScram, per user; the broker maps them to Kafka's codes.
var (
	ErrScramDuplicate        = errors.New("a user credential cannot be altered twice in the same request")
	ErrScramNotFound         = errors.New("attempt to delete a user credential that does not exist")
	ErrScramUnacceptable     = errors.New("unacceptable SCRAM credential")
	ErrScramUnknownMechanism = errors.New("unknown SCRAM mechanism")
)

// SCRAM mechanism types (Kafka's ScramMechanism) and iteration bounds, as Kafka's controller
// checks them.
const (
	ScramSHA256        int8 = 1
	ScramSHA512        int8 = 2
	ScramMinIterations      = 4096
	ScramMaxIterations      = 16384
)

// ScramCredential is one user's credential for one mechanism.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
	Iterations int32  `json:"iterations"`
}

// ScramUpsertion sets a user's credential for a mechanism.
type ScramUpsertion struct {
	User       string          `json:"user"`
	Mechanism  int8            `json:"mechanism"`
	Credential ScramCredential `json:"credential"`
}

// ScramDeletion removes a user's credential for a mechanism.
type ScramDeletion struct {
	User      string `json:"user"`
	Mechanism int8   `json:"mechanism"`
}

// AlterScram changes SCRAM credentials (Kafka's AlterUserScramCredentials, checked as its
// ScramControlManager does): a user named twice in one command, an empty name, an unknown
// mechanism, iterations outside [ScramMinIterations, ScramMaxIterations] or the deletion of
// a credential that does not exist fail that user only; the others apply. With IfAbsent an
// upsertion whose user already has a credential of that mechanism is skipped without error
// (logd serve --add-scram: applied once). The result is []ScramResult, one per user named.
type AlterScram struct {
	Deletions  []ScramDeletion  `json:"deletions,omitempty"`
	Upsertions []ScramUpsertion `json:"upsertions,omitempty"`
	IfAbsent   bool             `json:"if_absent,omitempty"`
}

// ScramResult is one user's outcome of an AlterScram.
type ScramResult struct {
	User string
	Err  error
}

func validScramMechanism(m int8) bool { return m == ScramSHA256 || m == ScramSHA512 }

func (s *ClusterState) alterScram(c *AlterScram) []ScramResult {
	failed := map[string]error{}
	del := map[string]ScramDeletion{}
	up := map[string]ScramUpsertion{}
	var order []string
	check := func(user string, mechanism int8) error {
		if user == "" {
			return fmt.Errorf("%w: username must not be empty", ErrScramUnacceptable)
		}
		if !validScramMechanism(mechanism) {
			return fmt.Errorf("%w: %d", ErrScramUnknownMechanism, mechanism)
		}
		return nil
	}
	seen := func(user string) bool {
		if _, ok := failed[user]; ok {
			return true
		}
		_, d := del[user]
		_, u := up[user]
		if d || u {
			delete(del, user)
			delete(up, user)
			failed[user] = ErrScramDuplicate
			return true
		}
		order = append(order, user)
		return false
	}
	for _, d := range c.Deletions {
		if seen(d.User) {
			continue
		}
		err := check(d.User, d.Mechanism)
		if err == nil {
			if _, ok := s.Scram[d.User][d.Mechanism]; !ok {
				err = ErrScramNotFound
			}
		}
		if err != nil {
			failed[d.User] = err
			continue
		}
		del[d.User] = d
	}
	for _, u := range c.Upsertions {
		if seen(u.User) {
			continue
		}
		err := check(u.User, u.Mechanism)
		switch {
		case err != nil:
		case u.Credential.Iterations < ScramMinIterations:
			err = fmt.Errorf("%w: too few iterations", ErrScramUnacceptable)
		case u.Credential.Iterations > ScramMaxIterations:
			err = fmt.Errorf("%w: too many iterations", ErrScramUnacceptable)
		case len(u.Credential.Salt) == 0 || len(u.Credential.StoredKey) == 0 || len(u.Credential.ServerKey) == 0:
			err = fmt.Errorf("%w: salt and keys must not be empty", ErrScramUnacceptable)
		}
		if err != nil {
			failed[u.User] = err
			continue
		}
		up[u.User] = u
	}
	out := make([]ScramResult, 0, len(order))
	for _, user := range order {
		if err, ok := failed[user]; ok {
			out = append(out, ScramResult{User: user, Err: err})
			continue
		}
		if d, ok := del[user]; ok {
			delete(s.Scram[user], d.Mechanism)
			if len(s.Scram[user]) == 0 {
				delete(s.Scram, user)
			}
		}
		if u, ok := up[user]; ok {
			if _, exists := s.Scram[user][u.Mechanism]; !(exists && c.IfAbsent) {
				if s.Scram == nil {
					s.Scram = map[string]map[int8]*ScramCredential{}
				}
				if s.Scram[user] == nil {
					s.Scram[user] = map[int8]*ScramCredential{}
				}
				cred := u.Credential
				cred.Salt, cred.StoredKey, cred.ServerKey = slices.Clone(cred.Salt), slices.Clone(cred.StoredKey), slices.Clone(cred.ServerKey)
				s.Scram[user][u.Mechanism] = &cred
			}
		}
		out = append(out, ScramResult{User: user})
	}
	return out
}

// cloneScram deep-copies the credentials (nil stays nil).
func cloneScram(in map[string]map[int8]*ScramCredential) map[string]map[int8]*ScramCredential {
	if in == nil {
		return nil
	}
	out := make(map[string]map[int8]*ScramCredential, len(in))
	for user, byMech := range in {
		m := make(map[int8]*ScramCredential, len(byMech))
		for mech, c := range byMech {
			cc := *c
			m[mech] = &cc
		}
		out[user] = m
	}
	return out
}
