package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// CreateAcls: versions 1-3 (Kafka 4 removed v0). Needs ALTER on the cluster. Each creation is
// validated on its own (acl.Binding.Validate: INVALID_REQUEST with Kafka's reason); the valid
// ones go to the controller in one metadata command, so they succeed or fail together. An
// ACL that exists already succeeds without a second copy. Without an authorizer:
// SECURITY_DISABLED for every creation.
func init() {
	register(api{key: int16(kmsg.CreateACLs), min: 1, max: 3, handle: handleCreateACLs, catalog: catalogController})
}

func handleCreateACLs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	refused := b.refuseACLChange(c)
	errs := make([]error, len(req.Creations))
	var valid []acl.Binding
	var validAt []int
	for i := range req.Creations {
		if refused != nil {
			errs[i] = refused
			continue
		}
		a := acl.FromCreation(&req.Creations[i])
		if errs[i] = a.Validate(); errs[i] == nil {
			valid, validAt = append(valid, a), append(validAt, i)
		}
	}
	if len(valid) > 0 {
		err := b.cluster.CreateACLs(valid)
		for _, i := range validAt {
			errs[i] = err
		}
	}
	for _, err := range errs {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
