package acl

import (
	"errors"
	"fmt"
	"strings"
)

// ResourceType is what an ACL protects, by Kafka's wire codes (ResourceType.java).
type ResourceType int8

// Resource types. Unknown and Any appear only in filters.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

var resourceNames = [...]string{"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}

// String is Kafka's name of the resource type.
func (r ResourceType) String() string { return name(resourceNames[:], int8(r)) }

// PatternType says how an ACL's resource name matches, by Kafka's wire codes
// (PatternType.java). Any and Match appear only in filters.
type PatternType int8

// Pattern types.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

var patternNames = [...]string{"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"}

// String is Kafka's name of the pattern type.
func (p PatternType) String() string { return name(patternNames[:], int8(p)) }

// Operation is what an ACL allows or denies, by Kafka's wire codes (AclOperation.java).
// Unknown and Any appear only in filters; All matches every operation.
type Operation int8

// Operations.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

var operationNames = [...]string{"UNKNOWN", "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
	"CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}

// String is Kafka's name of the operation.
func (o Operation) String() string { return name(operationNames[:], int8(o)) }

// Permission is an ACL's ALLOW or DENY, by Kafka's wire codes (AclPermissionType.java).
// Unknown and Any appear only in filters.
type Permission int8

// Permissions.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

var permissionNames = [...]string{"UNKNOWN", "ANY", "DENY", "ALLOW"}

// String is Kafka's name of the permission.
func (p Permission) String() string { return name(permissionNames[:], int8(p)) }

func name(names []string, v int8) string {
	if v < 0 || int(v) >= len(names) {
		return fmt.Sprintf("UNKNOWN(%d)", v)
	}
	return names[v]
}

// Wildcards and fixed names of Kafka's ACL model.
const (
	// Wildcard as a LITERAL resource name matches every resource of its type; as a host,
	// every host.
	Wildcard = "*"
	// WildcardPrincipal matches every principal.
	WildcardPrincipal = "User:*"
	// ClusterName is the only name of the CLUSTER resource.
	ClusterName = "kafka-cluster"
	// Anonymous is the principal of a connection that did not authenticate.
	Anonymous = "User:ANONYMOUS"
)

// ErrInvalid is the error of an ACL or filter Kafka refuses (INVALID_REQUEST).
var ErrInvalid = errors.New("invalid ACL")

// Binding is one ACL: a principal from a host is allowed or denied an operation on the
// resources a pattern names. Field names are part of the metadata log format: never rename
// one.
type Binding struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName string       `json:"resource_name"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    string       `json:"principal"`
	Host         string       `json:"host"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

// String renders the binding as Kafka's AclBinding does, for logs and errors.
func (b Binding) String() string {
	return fmt.Sprintf("(pattern=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate applies the checks of Kafka's AclControlManager.validateNewAcl and
// AclApis.handleCreateAcls: a concrete resource type, pattern type, operation and
// permission, a non-empty resource name (kafka-cluster for CLUSTER), and a principal of the
// form "Type:name".
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= ResourceAny || b.ResourceType > ResourceUser:
		return fmt.Errorf("%w: invalid resource type %s", ErrInvalid, b.ResourceType)
	case b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed:
		return fmt.Errorf("%w: invalid pattern type %s", ErrInvalid, b.PatternType)
	case b.Operation <= OpAny || b.Operation > OpDescribeTokens:
		return fmt.Errorf("%w: invalid operation %s", ErrInvalid, b.Operation)
	case b.Permission != PermissionAllow && b.Permission != PermissionDeny:
		return fmt.Errorf("%w: invalid permission type %s", ErrInvalid, b.Permission)
	case b.ResourceType == ResourceCluster && b.ResourceName != ClusterName:
		return fmt.Errorf("%w: the only valid name for the CLUSTER resource is %s", ErrInvalid, ClusterName)
	case b.ResourceName == "":
		return fmt.Errorf("%w: invalid empty resource name", ErrInvalid)
	case b.Host == "":
		return fmt.Errorf("%w: invalid empty host", ErrInvalid)
	}
	return validPrincipal(b.Principal)
}

// validPrincipal checks Kafka's "Type:name" form (SecurityUtils.parseKafkaPrincipal).
func validPrincipal(p string) error {
	i := strings.IndexByte(p, ':')
	if i <= 0 || i == len(p)-1 {
		return fmt.Errorf("%w: principal %q is not of the form Type:name (User:alice)", ErrInvalid, p)
	}
	return nil
}

// Filter selects ACLs (DescribeAcls, DeleteAcls): Kafka's AclBindingFilter. A nil name,
// principal or host matches any; ResourceAny, PatternAny, OpAny and PermissionAny match any
// value; PatternMatch selects the ACLs that apply to the resource named (its literal ACLs,
// the literal wildcard and the prefixes of its name).
//
// Field names are part of the metadata log format (DeleteAcls): never rename one.
type Filter struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName *string      `json:"resource_name,omitempty"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    *string      `json:"principal,omitempty"`
	Host         *string      `json:"host,omitempty"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

// Validate refuses filters with an unknown field (Kafka's AclControlManager.validateFilter).
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= ResourceUnknown || f.ResourceType > ResourceUser:
		return fmt.Errorf("%w: unknown resource type %d in filter", ErrInvalid, f.ResourceType)
	case f.PatternType <= PatternUnknown || f.PatternType > PatternPrefixed:
		return fmt.Errorf("%w: unknown pattern type %d in filter", ErrInvalid, f.PatternType)
	case f.Operation <= OpUnknown || f.Operation > OpDescribeTokens:
		return fmt.Errorf("%w: unknown operation %d in filter", ErrInvalid, f.Operation)
	case f.Permission <= PermissionUnknown || f.Permission > PermissionAllow:
		return fmt.Errorf("%w: unknown permission type %d in filter", ErrInvalid, f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects b (Kafka's ResourcePatternFilter.matches and
// AccessControlEntryFilter.matches).
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil {
		n := *f.ResourceName
		switch {
		case f.PatternType != PatternMatch:
			if n != b.ResourceName {
				return false
			}
		case b.PatternType == PatternLiteral:
			if n != b.ResourceName && b.ResourceName != Wildcard {
				return false
			}
		case b.PatternType == PatternPrefixed:
			if !strings.HasPrefix(n, b.ResourceName) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == b.Permission
}
