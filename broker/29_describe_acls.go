package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DescribeAcls: versions 1-3 (Kafka 4 removed v0). Needs DESCRIBE on the cluster; answers the
// ACLs the filter selects from this broker's copy of the metadata, grouped by resource
// pattern as Kafka does. Without an authorizer: SECURITY_DISABLED.
func init() {
	register(api{key: int16(kmsg.DescribeACLs), min: 1, max: 3, handle: handleDescribeACLs})
}

func handleDescribeACLs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	var err error
	f := acl.FromDescribe(req)
	switch {
	case b.cfg.Authorizer == nil:
		err = errSecurityDisabled
	case !b.authorizeCluster(c, acl.OpDescribe):
		err = errClusterAuthorization(acl.OpDescribe)
	default:
		err = f.Validate()
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	for _, a := range b.cfg.Authorizer.ACLs(f) { // sorted: one resource's ACLs are adjacent
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(a.ResourceType) ||
			resp.Resources[n-1].ResourceName != a.ResourceName ||
			resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(a.PatternType) {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName = kmsg.ACLResourceType(a.ResourceType), a.ResourceName
			r.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
			resp.Resources = append(resp.Resources, r)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host = a.Principal, a.Host
		e.Operation, e.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp, nil
}
