package metadata

import (
	"errors"
	"testing"

	"github.com/logd/logd/acl"
)

func TestACLCommands(t *testing.T) {
	s := NewClusterState("c")
	read := acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: "t", PatternType: acl.PatternLiteral,
		Principal: "User:alice", Host: "*", Operation: acl.OpRead, Permission: acl.PermissionAllow}
	write := read
	write.Operation = acl.OpWrite
	apply := func(c any) any {
		t.Helper()
		data, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := DecodeCommand(data)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Apply(s.LastIndex+1, dec)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	apply(&CreateACLs{ACLs: []acl.Binding{read, write, read}})
	if len(s.ACLs) != 2 {
		t.Fatalf("ACLs after creating 2 distinct ones: %v", s.ACLs)
	}
	bad := read
	bad.Principal = "alice"
	if _, err := s.Apply(s.LastIndex+1, &CreateACLs{ACLs: []acl.Binding{write, bad}}); !errors.Is(err, acl.ErrInvalid) {
		t.Fatalf("invalid ACL: err %v", err)
	}
	if c := s.Clone(); len(c.ACLs) != 2 {
		t.Fatalf("clone lost ACLs: %v", c.ACLs)
	}
	name := "t"
	res := apply(&DeleteACLs{Filters: []acl.Filter{
		{ResourceType: acl.ResourceTopic, ResourceName: &name, PatternType: acl.PatternLiteral, Operation: acl.OpWrite, Permission: acl.PermissionAny},
		{ResourceType: acl.ResourceAny, PatternType: acl.PatternAny, Operation: acl.OpAny, Permission: acl.PermissionAny},
	}}).([][]acl.Binding)
	if len(res) != 2 || len(res[0]) != 1 || res[0][0] != write || len(res[1]) != 1 || res[1][0] != read || len(s.ACLs) != 0 {
		t.Fatalf("deleted %v, left %v", res, s.ACLs)
	}
}
