package restproxy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL resource of Confluent's v3 API: GET .../acls searches with a filter in the query
// (every field optional, ANY when left out), POST .../acls creates one binding (201, no body),
// DELETE .../acls deletes what a filter matches and answers the deleted bindings. They are
// DescribeAcls, CreateAcls and DeleteAcls sent as the request's user, so the broker's
// authorizer decides (ALTER or DESCRIBE on the cluster).

// aclData is one binding, Confluent's AclData.
type aclData struct {
	Kind         string       `json:"kind"`
	Metadata     resourceMeta `json:"metadata"`
	ClusterID    string       `json:"cluster_id"`
	ResourceType string       `json:"resource_type"`
	ResourceName string       `json:"resource_name"`
	PatternType  string       `json:"pattern_type"`
	Principal    string       `json:"principal"`
	Host         string       `json:"host"`
	Operation    string       `json:"operation"`
	Permission   string       `json:"permission"`
}

// aclFilter is a binding or a filter of them, in the wire's enums; empty strings are ANY
// (or "any name, principal, host") in a filter.
type aclFilter struct {
	resourceType kmsg.ACLResourceType
	name         *string
	pattern      kmsg.ACLResourcePatternType
	principal    *string
	host         *string
	operation    kmsg.ACLOperation
	permission   kmsg.ACLPermissionType
}

// parseACL reads the seven fields from get (a query's or a body's), each by Confluent's name.
// A filter leaves absent fields ANY; a binding needs every one but host (default "*") to be
// specific.
func parseACL(get func(string) string, filter bool) (aclFilter, error) {
	f := aclFilter{resourceType: kmsg.ACLResourceTypeAny, pattern: kmsg.ACLResourcePatternTypeAny,
		operation: kmsg.ACLOperationAny, permission: kmsg.ACLPermissionTypeAny}
	if !filter {
		f.pattern = kmsg.ACLResourcePatternTypeLiteral
		star := "*"
		f.host = &star
	}
	for _, field := range []struct {
		name  string
		parse func(string) error
		any   func() bool
	}{
		{"resource_type", func(s string) (err error) { f.resourceType, err = kmsg.ParseACLResourceType(s); return err },
			func() bool { return f.resourceType == kmsg.ACLResourceTypeAny }},
		{"pattern_type", func(s string) (err error) { f.pattern, err = kmsg.ParseACLResourcePatternType(s); return err },
			func() bool {
				return f.pattern == kmsg.ACLResourcePatternTypeAny || f.pattern == kmsg.ACLResourcePatternTypeMatch
			}},
		{"operation", func(s string) (err error) { f.operation, err = kmsg.ParseACLOperation(s); return err },
			func() bool { return f.operation == kmsg.ACLOperationAny }},
		{"permission", func(s string) (err error) { f.permission, err = kmsg.ParseACLPermissionType(s); return err },
			func() bool { return f.permission == kmsg.ACLPermissionTypeAny }},
	} {
		if v := get(field.name); v != "" {
			if err := field.parse(v); err != nil {
				return f, badRequest(fmt.Sprintf("%s %q: %v", field.name, v, err))
			}
		}
		if !filter && field.any() {
			return f, badRequest(field.name + " must name one value (not ANY or MATCH) to create an ACL")
		}
	}
	for _, field := range []struct {
		name string
		to   **string
	}{{"resource_name", &f.name}, {"principal", &f.principal}, {"host", &f.host}} {
		if v := get(field.name); v != "" {
			*field.to = &v
		}
		if !filter && *field.to == nil {
			return f, badRequest(field.name + " is required to create an ACL")
		}
	}
	if f.principal != nil && !strings.Contains(*f.principal, ":") {
		return f, badRequest(fmt.Sprintf("principal %q is not of the form Type:name (User:alice)", *f.principal))
	}
	return f, nil
}

// aclOf builds one binding's answer.
func aclOf(l links, resourceType kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType,
	principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) aclData {
	d := aclData{Kind: "KafkaAcl", ClusterID: l.cid, ResourceType: resourceType.String(), ResourceName: name,
		PatternType: pattern.String(), Principal: principal, Host: host, Operation: op.String(), Permission: perm.String()}
	q := url.Values{}
	for k, v := range map[string]string{"resource_type": d.ResourceType, "resource_name": name, "pattern_type": d.PatternType,
		"principal": principal, "host": host, "operation": d.Operation, "permission": d.Permission} {
		q.Set(k, v)
	}
	d.Metadata.Self = l.url("acls") + "?" + q.Encode()
	return d
}

func (p *Proxy) listACLs(w http.ResponseWriter, r *http.Request, cid string) error {
	f, err := parseACL(r.URL.Query().Get, true)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourceName, req.ResourcePatternType = f.resourceType, f.name, f.pattern
	req.Principal, req.Host, req.Operation, req.PermissionType = f.principal, f.host, f.operation, f.permission
	resp, err := req.RequestWith(r.Context(), p.session(r.Context()).cl)
	if err != nil {
		return err
	}
	if err := errorOf(resp.ErrorCode); err != nil {
		return withMessage(err, resp.ErrorMessage)
	}
	l := newLinks(r, cid)
	var out []aclData
	for _, res := range resp.Resources {
		for _, a := range res.ACLs {
			out = append(out, aclOf(l, res.ResourceType, res.ResourceName, res.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType))
		}
	}
	writeJSON(w, http.StatusOK, newList("KafkaAclList", l.url("acls")+querySuffix(r), out))
	return nil
}

func (p *Proxy) createACL(w http.ResponseWriter, r *http.Request, _ string) error {
	var body map[string]string
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	f, err := parseACL(func(k string) string { return body[k] }, false)
	if err != nil {
		return err
	}
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = f.resourceType, *f.name, f.pattern
	c.Principal, c.Host, c.Operation, c.PermissionType = *f.principal, *f.host, f.operation, f.permission
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = append(req.Creations, c)
	resp, err := req.RequestWith(r.Context(), p.session(r.Context()).cl)
	if err != nil {
		return err
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("the broker answered %d results for one ACL", len(resp.Results))
	}
	if err := errorOf(resp.Results[0].ErrorCode); err != nil {
		return withMessage(err, resp.Results[0].ErrorMessage)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (p *Proxy) deleteACLs(w http.ResponseWriter, r *http.Request, cid string) error {
	f, err := parseACL(r.URL.Query().Get, true)
	if err != nil {
		return err
	}
	if f.resourceType == kmsg.ACLResourceTypeAny && f.name == nil && f.principal == nil {
		// Confluent requires resource_type; a filter matching everything is too easy to send.
		return badRequest("resource_type is required to delete ACLs (a filter naming no resource type, name or principal would delete every ACL)")
	}
	df := kmsg.NewDeleteACLsRequestFilter()
	df.ResourceType, df.ResourceName, df.ResourcePatternType = f.resourceType, f.name, f.pattern
	df.Principal, df.Host, df.Operation, df.PermissionType = f.principal, f.host, f.operation, f.permission
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Filters = append(req.Filters, df)
	resp, err := req.RequestWith(r.Context(), p.session(r.Context()).cl)
	if err != nil {
		return err
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("the broker answered %d results for one filter", len(resp.Results))
	}
	res := resp.Results[0]
	if err := errorOf(res.ErrorCode); err != nil {
		return withMessage(err, res.ErrorMessage)
	}
	l := newLinks(r, cid)
	out := []aclData{}
	for _, m := range res.MatchingACLs {
		if err := errorOf(m.ErrorCode); err != nil {
			return withMessage(err, m.ErrorMessage)
		}
		out = append(out, aclOf(l, m.ResourceType, m.ResourceName, m.ResourcePatternType, m.Principal, m.Host, m.Operation, m.PermissionType))
	}
	writeJSON(w, http.StatusOK, map[string][]aclData{"data": out})
	return nil
}

// querySuffix is "?query" of the request, or "".
func querySuffix(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}
