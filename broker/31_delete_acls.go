package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DeleteAcls: versions 1-3 (Kafka 4 removed v0). Needs ALTER on the cluster. A filter with an
// unknown field fails on its own (INVALID_REQUEST); the valid ones go to the controller in one
// metadata command, and each answers the ACLs it removed. Without an authorizer:
// SECURITY_DISABLED for every filter.
func init() {
	register(api{key: int16(kmsg.DeleteACLs), min: 1, max: 3, handle: handleDeleteACLs, catalog: catalogController})
}

func handleDeleteACLs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	refused := b.refuseACLChange(c)
	errs := make([]error, len(req.Filters))
	deleted := make([][]acl.Binding, len(req.Filters))
	var valid []acl.Filter
	var validAt []int
	for i := range req.Filters {
		if refused != nil {
			errs[i] = refused
			continue
		}
		f := acl.FromDeleteFilter(&req.Filters[i])
		if errs[i] = f.Validate(); errs[i] == nil {
			valid, validAt = append(valid, f), append(validAt, i)
		}
	}
	if len(valid) > 0 {
		res, err := b.cluster.DeleteACLs(valid)
		for j, i := range validAt {
			if errs[i] = err; err == nil {
				deleted[i] = res[j]
			}
		}
	}
	for i, err := range errs {
		r := kmsg.NewDeleteACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		for _, a := range deleted[i] {
			r.MatchingACLs = append(r.MatchingACLs, a.Matching())
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
