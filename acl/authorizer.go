package acl

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// StandardAuthorizerClass is the authorizer.class.name of Kafka's KRaft authorizer, which
// enables this one.
const StandardAuthorizerClass = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// Config configures an Authorizer with Kafka's settings.
type Config struct {
	// SuperUsers are super.users: principals allowed everything, whatever the ACLs.
	SuperUsers []string
	// AllowIfNoACL is allow.everyone.if.no.acl.found (default false): a resource no ACL
	// applies to is open to everyone.
	AllowIfNoACL bool
}

// ParseSuperUsers splits Kafka's super.users value ("User:alice;User:bob").
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := validPrincipal(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Subject is who asks: a connection's principal and the address it connects from.
type Subject struct {
	// Principal is "Type:name"; "" is Anonymous.
	Principal string
	// Host is the client's address; an invalid Addr matches only the "*" host.
	Host netip.Addr
}

// Authorizer decides requests with the semantics of Kafka's StandardAuthorizer from the
// ACLs of the cluster metadata (Update). Reads are lock-free: Authorize loads an immutable
// index with one atomic load and allocates nothing.
type Authorizer struct {
	super        map[string]struct{}
	allowIfNoACL bool

	mu      sync.Mutex // serializes Update
	version uint64     // guarded by mu: the metadata version of cur
	cur     atomic.Pointer[index]
}

// New returns an authorizer with no ACLs.
func New(cfg Config) *Authorizer {
	a := &Authorizer{super: map[string]struct{}{}, allowIfNoACL: cfg.AllowIfNoACL}
	for _, p := range cfg.SuperUsers {
		a.super[p] = struct{}{}
	}
	a.cur.Store(compile(nil))
	return a
}

// entry is one compiled ACL.
type entry struct {
	principal string
	anyHost   bool
	host      netip.Addr // if !anyHost; invalid (matches nothing) when the ACL's host is no IP
	op        Operation
	deny      bool
}

// typeIndex holds one resource type's ACLs: literal ones by name (the wildcard "*"
// included), prefixed ones by prefix with the distinct prefix lengths, so a lookup costs
// one map probe per length and allocates nothing.
type typeIndex struct {
	literal    map[string][]entry
	prefixed   map[string][]entry
	prefixLens []int // ascending
}

// index is an immutable snapshot of the ACLs.
type index struct {
	all    []Binding // sorted, no duplicates
	byType [ResourceUser + 1]typeIndex
}

func compareBindings(a, b Binding) int {
	return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.PatternType, b.PatternType),
		strings.Compare(a.ResourceName, b.ResourceName), strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission))
}

func compile(bindings []Binding) *index {
	ix := &index{all: slices.Clone(bindings)}
	slices.SortFunc(ix.all, compareBindings)
	ix.all = slices.Compact(ix.all)
	for _, b := range ix.all {
		if b.ResourceType <= ResourceAny || b.ResourceType > ResourceUser {
			continue
		}
		e := entry{principal: b.Principal, anyHost: b.Host == Wildcard, op: b.Operation, deny: b.Permission == PermissionDeny}
		if !e.anyHost {
			if h, err := netip.ParseAddr(b.Host); err == nil {
				e.host = h.Unmap()
			}
		}
		t := &ix.byType[b.ResourceType]
		switch b.PatternType {
		case PatternLiteral:
			if t.literal == nil {
				t.literal = map[string][]entry{}
			}
			t.literal[b.ResourceName] = append(t.literal[b.ResourceName], e)
		case PatternPrefixed:
			if t.prefixed == nil {
				t.prefixed = map[string][]entry{}
			}
			t.prefixed[b.ResourceName] = append(t.prefixed[b.ResourceName], e)
			if !slices.Contains(t.prefixLens, len(b.ResourceName)) {
				t.prefixLens = append(t.prefixLens, len(b.ResourceName))
			}
		}
	}
	for i := range ix.byType {
		slices.Sort(ix.byType[i].prefixLens)
	}
	return ix
}

// Update installs the ACLs of the cluster metadata at version (its Raft index); an older
// version than the last one installed is ignored, so concurrent callers cannot move the
// ACLs back. It compiles a new index only when the ACLs changed, so calling it at every
// metadata change is cheap.
func (a *Authorizer) Update(version uint64, bindings []Binding) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if version < a.version {
		return
	}
	a.version = version
	cur := a.cur.Load()
	if len(cur.all) == len(bindings) {
		sorted := slices.Clone(bindings)
		slices.SortFunc(sorted, compareBindings)
		if slices.Equal(cur.all, sorted) {
			return
		}
	}
	a.cur.Store(compile(bindings))
}

// ACLs returns the ACLs the filter selects, in a stable order.
func (a *Authorizer) ACLs(f Filter) []Binding {
	var out []Binding
	for _, b := range a.cur.Load().all {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// IsSuperUser reports whether the subject is one of super.users.
func (a *Authorizer) IsSuperUser(s Subject) bool {
	_, ok := a.super[s.Name()]
	return ok
}

// Name is the subject's principal, Anonymous for "".
func (s Subject) Name() string {
	if s.Principal == "" {
		return Anonymous
	}
	return s.Principal
}

// Authorize decides whether the subject may perform op on the resource of type rt named
// name (Kafka's StandardAuthorizerData.authorize): super users may do anything; otherwise a
// matching DENY wins over any ALLOW; an ALLOW for the operation, or for one implying it
// (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL
// implies everything), allows it; a resource without any ACL is open only with
// allow.everyone.if.no.acl.found. ACLs match by principal (or User:*), host (or *), and
// resource: the literal name, the literal wildcard "*", or a prefix of the name.
func (a *Authorizer) Authorize(s Subject, op Operation, rt ResourceType, name string) bool {
	if a.IsSuperUser(s) {
		return true
	}
	if rt <= ResourceAny || rt > ResourceUser {
		return false
	}
	t := &a.cur.Load().byType[rt]
	m := matcher{principal: s.Name(), host: s.Host.Unmap(), op: op}
	if m.check(t.literal[name]) {
		return false
	}
	if name != Wildcard && m.check(t.literal[Wildcard]) {
		return false
	}
	for _, l := range t.prefixLens {
		if l > len(name) {
			break
		}
		if m.check(t.prefixed[name[:l]]) {
			return false
		}
	}
	if m.allowed {
		return true
	}
	return !m.found && a.allowIfNoACL
}

// matcher accumulates the ACLs applying to one request.
type matcher struct {
	principal string
	host      netip.Addr
	op        Operation
	found     bool // some ACL exists for the resource (whoever it is for)
	allowed   bool
}

// check looks at one resource pattern's ACLs and reports a matching DENY.
func (m *matcher) check(es []entry) bool {
	for i := range es {
		e := &es[i]
		m.found = true
		if e.principal != m.principal && e.principal != WildcardPrincipal {
			continue
		}
		if !e.anyHost && (!e.host.IsValid() || e.host != m.host) {
			continue
		}
		if e.deny {
			if e.op == OpAll || e.op == m.op {
				return true
			}
			continue
		}
		if implies(e.op, m.op) {
			m.allowed = true
		}
	}
	return false
}

// implies reports whether an ALLOW of granted allows op.
func implies(granted, op Operation) bool {
	if granted == OpAll || granted == op {
		return true
	}
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// AuthorizeByResourceType reports whether the subject may perform op on at least one
// resource of type rt (Kafka's Authorizer.authorizeByResourceType): a super user, an
// allow.everyone.if.no.acl.found with no ACL in the way, a wildcard ALLOW, or an ALLOW on a
// literal name or prefix that no DENY on the same literal name or a prefix of it overrides.
// Implied operations do not count here, as in Kafka. Kafka uses it for an idempotent
// producer without IDEMPOTENT_WRITE on the cluster (WRITE on any topic suffices).
func (a *Authorizer) AuthorizeByResourceType(s Subject, op Operation, rt ResourceType) bool {
	if a.Authorize(s, op, rt, "hardcode") {
		return true
	}
	p, host := s.Name(), s.Host.Unmap()
	var allowLit, allowPre, denyLit, denyPre []string
	wildAllow := false
	for _, b := range a.cur.Load().all {
		if b.ResourceType != rt {
			continue
		}
		if b.Host != Wildcard {
			h, err := netip.ParseAddr(b.Host)
			if err != nil || h.Unmap() != host {
				continue
			}
		}
		if b.Principal != p && b.Principal != WildcardPrincipal {
			continue
		}
		if b.Operation != op && b.Operation != OpAll {
			continue
		}
		deny := b.Permission == PermissionDeny
		switch {
		case b.PatternType == PatternLiteral && b.ResourceName == Wildcard:
			if deny {
				return false
			}
			wildAllow = true
		case b.PatternType == PatternLiteral && deny:
			denyLit = append(denyLit, b.ResourceName)
		case b.PatternType == PatternLiteral:
			allowLit = append(allowLit, b.ResourceName)
		case b.PatternType == PatternPrefixed && deny:
			denyPre = append(denyPre, b.ResourceName)
		case b.PatternType == PatternPrefixed:
			allowPre = append(allowPre, b.ResourceName)
		}
	}
	if wildAllow {
		return true
	}
	dominated := func(name string) bool {
		for _, d := range denyPre {
			if strings.HasPrefix(name, d) {
				return true
			}
		}
		return false
	}
	for _, n := range allowLit {
		if !slices.Contains(denyLit, n) && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPre {
		if !dominated(n) {
			return true
		}
	}
	return false
}

// supported are the operations Kafka reports for each resource type in KIP-430's authorized
// operations (AclEntry.supportedOperations).
var supported = [ResourceUser + 1][]Operation{
	ResourceTopic:           {OpRead, OpWrite, OpCreate, OpDescribe, OpDelete, OpAlter, OpDescribeConfigs, OpAlterConfigs},
	ResourceGroup:           {OpRead, OpDescribe, OpDelete, OpDescribeConfigs, OpAlterConfigs},
	ResourceCluster:         {OpCreate, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite, OpAlter, OpDescribe},
	ResourceTransactionalID: {OpDescribe, OpWrite},
	ResourceDelegationToken: {OpDescribe},
	ResourceUser:            {OpCreateTokens, OpDescribeTokens},
}

// AuthorizedOperations is KIP-430's bit field of the operations the subject may perform on
// a resource: bit n set for the operation with code n, among those Kafka supports for the
// resource type.
func (a *Authorizer) AuthorizedOperations(s Subject, rt ResourceType, name string) int32 {
	if rt <= ResourceAny || rt > ResourceUser {
		return 0
	}
	var bits int32
	for _, op := range supported[rt] {
		if a.Authorize(s, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// SupportedOperations is the bit field of every operation Kafka supports on rt: the
// authorized operations of any resource when there is no authorizer.
func SupportedOperations(rt ResourceType) int32 {
	if rt <= ResourceAny || rt > ResourceUser {
		return 0
	}
	var bits int32
	for _, op := range supported[rt] {
		bits |= 1 << op
	}
	return bits
}
