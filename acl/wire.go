package acl

import "github.com/twmb/franz-go/pkg/kmsg"

// The ACL APIs' wire forms (CreateAcls, DescribeAcls, DeleteAcls): kmsg carries Kafka's
// codes, which are this package's.

// FromCreation is the binding a CreateAcls creation asks for.
func FromCreation(c *kmsg.CreateACLsRequestCreation) Binding {
	return Binding{ResourceType: ResourceType(c.ResourceType), ResourceName: c.ResourceName,
		PatternType: PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
		Operation: Operation(c.Operation), Permission: Permission(c.PermissionType)}
}

// Creation is b as a CreateAcls creation.
func (b Binding) Creation() kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName = kmsg.ACLResourceType(b.ResourceType), b.ResourceName
	c.ResourcePatternType = kmsg.ACLResourcePatternType(b.PatternType)
	c.Principal, c.Host = b.Principal, b.Host
	c.Operation, c.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
	return c
}

// FromDeleteFilter is the filter of a DeleteAcls request.
func FromDeleteFilter(f *kmsg.DeleteACLsRequestFilter) Filter {
	return Filter{ResourceType: ResourceType(f.ResourceType), ResourceName: f.ResourceName,
		PatternType: PatternType(f.ResourcePatternType), Principal: f.Principal, Host: f.Host,
		Operation: Operation(f.Operation), Permission: Permission(f.PermissionType)}
}

// DeleteFilter is f as a DeleteAcls filter.
func (f Filter) DeleteFilter() kmsg.DeleteACLsRequestFilter {
	d := kmsg.NewDeleteACLsRequestFilter()
	d.ResourceType, d.ResourceName = kmsg.ACLResourceType(f.ResourceType), f.ResourceName
	d.ResourcePatternType = kmsg.ACLResourcePatternType(f.PatternType)
	d.Principal, d.Host = f.Principal, f.Host
	d.Operation, d.PermissionType = kmsg.ACLOperation(f.Operation), kmsg.ACLPermissionType(f.Permission)
	return d
}

// FromDescribe is the filter of a DescribeAcls request.
func FromDescribe(r *kmsg.DescribeACLsRequest) Filter {
	return Filter{ResourceType: ResourceType(r.ResourceType), ResourceName: r.ResourceName,
		PatternType: PatternType(r.ResourcePatternType), Principal: r.Principal, Host: r.Host,
		Operation: Operation(r.Operation), Permission: Permission(r.PermissionType)}
}

// FromMatching is a binding a DeleteAcls response reports as deleted.
func FromMatching(m *kmsg.DeleteACLsResponseResultMatchingACL) Binding {
	return Binding{ResourceType: ResourceType(m.ResourceType), ResourceName: m.ResourceName,
		PatternType: PatternType(m.ResourcePatternType), Principal: m.Principal, Host: m.Host,
		Operation: Operation(m.Operation), Permission: Permission(m.PermissionType)}
}

// Matching is b as a DeleteAcls response's deleted ACL.
func (b Binding) Matching() kmsg.DeleteACLsResponseResultMatchingACL {
	m := kmsg.NewDeleteACLsResponseResultMatchingACL()
	m.ResourceType, m.ResourceName = kmsg.ACLResourceType(b.ResourceType), b.ResourceName
	m.ResourcePatternType = kmsg.ACLResourcePatternType(b.PatternType)
	m.Principal, m.Host = b.Principal, b.Host
	m.Operation, m.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
	return m
}
