package acl

import (
	"net/netip"
	"testing"
)

func lit(rt ResourceType, name, principal string, op Operation, perm Permission) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: PatternLiteral, Principal: principal, Host: Wildcard, Operation: op, Permission: perm}
}

func pre(rt ResourceType, name, principal string, op Operation, perm Permission) Binding {
	b := lit(rt, name, principal, op, perm)
	b.PatternType = PatternPrefixed
	return b
}

var (
	alice = Subject{Principal: "User:alice", Host: netip.MustParseAddr("10.0.0.1")}
	bob   = Subject{Principal: "User:bob", Host: netip.MustParseAddr("10.0.0.2")}
	anon  = Subject{Host: netip.MustParseAddr("10.0.0.3")}
)

// TestAuthorize checks the rules of Kafka's StandardAuthorizerData, one case each.
func TestAuthorize(t *testing.T) {
	fromHost := lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)
	fromHost.Host = "10.0.0.1"
	fromOtherHost := fromHost
	fromOtherHost.Host = "10.0.0.9"
	cases := []struct {
		name     string
		acls     []Binding
		cfg      Config
		subject  Subject
		op       Operation
		rt       ResourceType
		resource string
		want     bool
	}{
		{"no ACL denies by default", nil, Config{}, alice, OpRead, ResourceTopic, "t", false},
		{"no ACL allows with allow.everyone.if.no.acl.found", nil, Config{AllowIfNoACL: true}, alice, OpRead, ResourceTopic, "t", true},
		{"an ACL for someone else closes the resource", []Binding{lit(ResourceTopic, "t", "User:bob", OpRead, PermissionAllow)}, Config{AllowIfNoACL: true}, alice, OpRead, ResourceTopic, "t", false},
		{"literal allow", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpRead, ResourceTopic, "t", true},
		{"literal allow is for its name only", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpRead, ResourceTopic, "tt", false},
		{"other operation", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpWrite, ResourceTopic, "t", false},
		{"other resource type", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpRead, ResourceGroup, "t", false},
		{"wildcard resource", []Binding{lit(ResourceTopic, "*", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpRead, ResourceTopic, "anything", true},
		{"wildcard principal", []Binding{lit(ResourceTopic, "t", "User:*", OpRead, PermissionAllow)}, Config{}, bob, OpRead, ResourceTopic, "t", true},
		{"wildcard principal covers anonymous", []Binding{lit(ResourceTopic, "t", "User:*", OpRead, PermissionAllow)}, Config{}, anon, OpRead, ResourceTopic, "t", true},
		{"anonymous by name", []Binding{lit(ResourceTopic, "t", "User:ANONYMOUS", OpRead, PermissionAllow)}, Config{}, anon, OpRead, ResourceTopic, "t", true},
		{"prefixed allow", []Binding{pre(ResourceTopic, "orders-", "User:alice", OpWrite, PermissionAllow)}, Config{}, alice, OpWrite, ResourceTopic, "orders-eu", true},
		{"prefixed allow matches its own name", []Binding{pre(ResourceTopic, "orders-", "User:alice", OpWrite, PermissionAllow)}, Config{}, alice, OpWrite, ResourceTopic, "orders-", true},
		{"prefixed is not a suffix", []Binding{pre(ResourceTopic, "orders-", "User:alice", OpWrite, PermissionAllow)}, Config{}, alice, OpWrite, ResourceTopic, "orders", false},
		{"prefixed wildcard is a literal star prefix", []Binding{pre(ResourceTopic, "*", "User:alice", OpWrite, PermissionAllow)}, Config{}, alice, OpWrite, ResourceTopic, "t", false},
		{"deny wins over allow", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow), lit(ResourceTopic, "t", "User:alice", OpRead, PermissionDeny)}, Config{}, alice, OpRead, ResourceTopic, "t", false},
		{"prefixed deny wins over literal allow", []Binding{lit(ResourceTopic, "secret-x", "User:alice", OpRead, PermissionAllow), pre(ResourceTopic, "secret-", "User:alice", OpRead, PermissionDeny)}, Config{}, alice, OpRead, ResourceTopic, "secret-x", false},
		{"wildcard deny wins over literal allow", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow), lit(ResourceTopic, "*", "User:*", OpRead, PermissionDeny)}, Config{}, alice, OpRead, ResourceTopic, "t", false},
		{"deny of ALL denies every operation", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow), lit(ResourceTopic, "t", "User:alice", OpAll, PermissionDeny)}, Config{}, alice, OpRead, ResourceTopic, "t", false},
		{"deny of another operation does not deny", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow), lit(ResourceTopic, "t", "User:alice", OpWrite, PermissionDeny)}, Config{}, alice, OpRead, ResourceTopic, "t", true},
		{"deny of READ does not deny DESCRIBE", []Binding{lit(ResourceTopic, "t", "User:alice", OpDescribe, PermissionAllow), lit(ResourceTopic, "t", "User:alice", OpRead, PermissionDeny)}, Config{}, alice, OpDescribe, ResourceTopic, "t", true},
		{"deny for another principal does not deny", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow), lit(ResourceTopic, "t", "User:bob", OpRead, PermissionDeny)}, Config{}, alice, OpRead, ResourceTopic, "t", true},
		{"ALL allows every operation", []Binding{lit(ResourceTopic, "t", "User:alice", OpAll, PermissionAllow)}, Config{}, alice, OpAlterConfigs, ResourceTopic, "t", true},
		{"READ implies DESCRIBE", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpDescribe, ResourceTopic, "t", true},
		{"WRITE implies DESCRIBE", []Binding{lit(ResourceTopic, "t", "User:alice", OpWrite, PermissionAllow)}, Config{}, alice, OpDescribe, ResourceTopic, "t", true},
		{"DELETE implies DESCRIBE", []Binding{lit(ResourceTopic, "t", "User:alice", OpDelete, PermissionAllow)}, Config{}, alice, OpDescribe, ResourceTopic, "t", true},
		{"ALTER implies DESCRIBE", []Binding{lit(ResourceTopic, "t", "User:alice", OpAlter, PermissionAllow)}, Config{}, alice, OpDescribe, ResourceTopic, "t", true},
		{"CREATE does not imply DESCRIBE", []Binding{lit(ResourceTopic, "t", "User:alice", OpCreate, PermissionAllow)}, Config{}, alice, OpDescribe, ResourceTopic, "t", false},
		{"DESCRIBE does not imply READ", []Binding{lit(ResourceTopic, "t", "User:alice", OpDescribe, PermissionAllow)}, Config{}, alice, OpRead, ResourceTopic, "t", false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", []Binding{lit(ResourceTopic, "t", "User:alice", OpAlterConfigs, PermissionAllow)}, Config{}, alice, OpDescribeConfigs, ResourceTopic, "t", true},
		{"ALTER does not imply ALTER_CONFIGS", []Binding{lit(ResourceTopic, "t", "User:alice", OpAlter, PermissionAllow)}, Config{}, alice, OpAlterConfigs, ResourceTopic, "t", false},
		{"host match", []Binding{fromHost}, Config{}, alice, OpRead, ResourceTopic, "t", true},
		{"host mismatch", []Binding{fromOtherHost}, Config{}, alice, OpRead, ResourceTopic, "t", false},
		{"super user ignores deny", []Binding{lit(ResourceTopic, "t", "User:alice", OpAll, PermissionDeny)}, Config{SuperUsers: []string{"User:alice"}}, alice, OpRead, ResourceTopic, "t", true},
		{"super user anonymous", nil, Config{SuperUsers: []string{"User:ANONYMOUS"}}, anon, OpClusterAction, ResourceCluster, ClusterName, true},
		{"cluster literal", []Binding{lit(ResourceCluster, ClusterName, "User:alice", OpIdempotentWrite, PermissionAllow)}, Config{}, alice, OpIdempotentWrite, ResourceCluster, ClusterName, true},
		{"transactional id prefix", []Binding{pre(ResourceTransactionalID, "app-", "User:alice", OpWrite, PermissionAllow)}, Config{}, alice, OpWrite, ResourceTransactionalID, "app-1", true},
		{"group read", []Binding{lit(ResourceGroup, "g", "User:alice", OpRead, PermissionAllow)}, Config{}, alice, OpRead, ResourceGroup, "g", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New(c.cfg)
			a.Update(1, c.acls)
			if got := a.Authorize(c.subject, c.op, c.rt, c.resource); got != c.want {
				t.Fatalf("Authorize(%s, %s, %s %q) = %v, want %v; ACLs %v", c.subject.Principal, c.op, c.rt, c.resource, got, c.want, c.acls)
			}
		})
	}
}

// TestAuthorizeByResourceType checks Kafka's Authorizer.authorizeByResourceType rules.
func TestAuthorizeByResourceType(t *testing.T) {
	cases := []struct {
		name string
		acls []Binding
		cfg  Config
		want bool
	}{
		{"nothing", nil, Config{}, false},
		{"no ACL and allow.everyone", nil, Config{AllowIfNoACL: true}, true},
		{"a literal allow", []Binding{lit(ResourceTopic, "t", "User:alice", OpWrite, PermissionAllow)}, Config{}, true},
		{"a literal allow denied on the same name", []Binding{lit(ResourceTopic, "t", "User:alice", OpWrite, PermissionAllow), lit(ResourceTopic, "t", "User:alice", OpWrite, PermissionDeny)}, Config{}, false},
		{"a literal allow dominated by a prefixed deny", []Binding{lit(ResourceTopic, "abc", "User:alice", OpWrite, PermissionAllow), pre(ResourceTopic, "ab", "User:alice", OpWrite, PermissionDeny)}, Config{}, false},
		{"a prefixed allow not dominated", []Binding{pre(ResourceTopic, "ab", "User:alice", OpWrite, PermissionAllow), pre(ResourceTopic, "abc", "User:alice", OpWrite, PermissionDeny)}, Config{}, true},
		{"a wildcard deny", []Binding{lit(ResourceTopic, "t", "User:alice", OpWrite, PermissionAllow), lit(ResourceTopic, "*", "User:alice", OpWrite, PermissionDeny)}, Config{}, false},
		{"another operation", []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)}, Config{}, false},
		{"ALL", []Binding{lit(ResourceTopic, "t", "User:alice", OpAll, PermissionAllow)}, Config{}, true},
		{"someone else", []Binding{lit(ResourceTopic, "t", "User:bob", OpWrite, PermissionAllow)}, Config{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New(c.cfg)
			a.Update(1, c.acls)
			if got := a.AuthorizeByResourceType(alice, OpWrite, ResourceTopic); got != c.want {
				t.Fatalf("got %v, want %v; ACLs %v", got, c.want, c.acls)
			}
		})
	}
}

func TestFilterMatches(t *testing.T) {
	name := func(s string) *string { return &s }
	b := pre(ResourceTopic, "orders-", "User:alice", OpWrite, PermissionAllow)
	w := lit(ResourceTopic, "*", "User:alice", OpWrite, PermissionAllow)
	cases := []struct {
		name string
		f    Filter
		b    Binding
		want bool
	}{
		{"any", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, b, true},
		{"type", Filter{ResourceType: ResourceGroup, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, b, false},
		{"exact prefixed", Filter{ResourceType: ResourceTopic, ResourceName: name("orders-"), PatternType: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, b, true},
		{"literal is not prefixed", Filter{ResourceType: ResourceTopic, ResourceName: name("orders-"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, b, false},
		{"any pattern, exact name", Filter{ResourceType: ResourceTopic, ResourceName: name("orders-eu"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, b, false},
		{"match by prefix", Filter{ResourceType: ResourceTopic, ResourceName: name("orders-eu"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, b, true},
		{"match the wildcard", Filter{ResourceType: ResourceTopic, ResourceName: name("x"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, w, true},
		{"principal", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: name("User:bob"), Operation: OpAny, Permission: PermissionAny}, b, false},
		{"host", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Host: name("*"), Operation: OpAny, Permission: PermissionAny}, b, true},
		{"operation", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpRead, Permission: PermissionAny}, b, false},
		{"permission", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionDeny}, b, false},
	}
	for _, c := range cases {
		if got := c.f.Matches(c.b); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(b *Binding){
		func(b *Binding) { b.ResourceType = ResourceAny },
		func(b *Binding) { b.PatternType = PatternMatch },
		func(b *Binding) { b.Operation = OpAny },
		func(b *Binding) { b.Permission = PermissionAny },
		func(b *Binding) { b.ResourceName = "" },
		func(b *Binding) { b.Principal = "alice" },
		func(b *Binding) { b.ResourceType, b.ResourceName = ResourceCluster, "c" },
	}
	for i, f := range bad {
		b := ok
		f(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("case %d: %v validated", i, b)
		}
	}
}

func TestAuthorizedOperations(t *testing.T) {
	a := New(Config{})
	a.Update(1, []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)})
	want := int32(1<<OpRead | 1<<OpDescribe)
	if got := a.AuthorizedOperations(alice, ResourceTopic, "t"); got != want {
		t.Fatalf("got %b, want %b", got, want)
	}
}

// BenchmarkAuthorize measures a produce's topic check against a cluster with a few hundred
// ACLs: it must not allocate.
func BenchmarkAuthorize(b *testing.B) {
	a := New(Config{})
	var acls []Binding
	for i := range 100 {
		name := string(rune('a'+i%26)) + "-topic-" + string(rune('0'+i%10))
		acls = append(acls, lit(ResourceTopic, name, "User:bob", OpWrite, PermissionAllow),
			pre(ResourceTopic, name[:3], "User:carol", OpRead, PermissionAllow))
	}
	acls = append(acls, pre(ResourceTopic, "orders-", "User:alice", OpWrite, PermissionAllow))
	a.Update(1, acls)
	b.ReportAllocs()
	for b.Loop() {
		if !a.Authorize(alice, OpWrite, ResourceTopic, "orders-eu") {
			b.Fatal("denied")
		}
	}
}

func TestAuthorizeAllocatesNothing(t *testing.T) {
	a := New(Config{})
	a.Update(1, []Binding{pre(ResourceTopic, "orders-", "User:alice", OpWrite, PermissionAllow), lit(ResourceTopic, "*", "User:bob", OpRead, PermissionAllow)})
	if n := testing.AllocsPerRun(100, func() { a.Authorize(alice, OpWrite, ResourceTopic, "orders-eu") }); n != 0 {
		t.Fatalf("Authorize allocates %v times per call", n)
	}
}

func TestUpdateIgnoresOlderVersions(t *testing.T) {
	a := New(Config{})
	a.Update(5, []Binding{lit(ResourceTopic, "t", "User:alice", OpRead, PermissionAllow)})
	a.Update(4, nil)
	if !a.Authorize(alice, OpRead, ResourceTopic, "t") {
		t.Fatal("an older version replaced the ACLs")
	}
	a.Update(6, nil)
	if a.Authorize(alice, OpRead, ResourceTopic, "t") {
		t.Fatal("a newer version did not replace the ACLs")
	}
}
