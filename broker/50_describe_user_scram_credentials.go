package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DescribeUserScramCredentials: version 0 (flexible). Answered from this node's replicated
// metadata, as Kafka's brokers answer from their metadata image (ScramImage.describe): no
// users (null or empty) lists every user with credentials; a named user without any is
// RESOURCE_NOT_FOUND, one named twice DUPLICATE_RESOURCE. Only mechanisms and iterations
// are told, never a salt or key. It needs DESCRIBE on the cluster.
func init() {
	register(api{key: int16(kmsg.DescribeUserSCRAMCredentials), min: 0, max: 0, handle: handleDescribeUserScramCredentials})
}

func handleDescribeUserScramCredentials(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(c, acl.OpDescribe) {
		// As KafkaApis: the request's error response, the code at the top and once per user
		// named (DescribeUserScramCredentialsRequest.getErrorResponse).
		msg := kmsg.StringPtr("Cluster authorization failed: DESCRIBE on the cluster is needed to list SCRAM credentials")
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, msg
		for range req.Users {
			r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.ErrorCode, r.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, msg
			resp.Results = append(resp.Results, r)
		}
		return resp, nil
	}
	creds := b.cluster.ScramCredentials()
	var users []string
	dup := map[string]bool{}
	if len(req.Users) == 0 {
		for u := range creds {
			users = append(users, u)
		}
		slices.Sort(users)
	} else {
		for _, u := range req.Users {
			if _, seen := dup[u.Name]; seen {
				dup[u.Name] = true
				continue
			}
			dup[u.Name] = false
			users = append(users, u.Name)
		}
	}
	for _, u := range users {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u
		switch byMech := creds[u]; {
		case dup[u]:
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u)
		case len(byMech) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u)
		default:
			for _, mech := range []int8{1, 2} {
				if cred, ok := byMech[mech]; ok {
					info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
					info.Mechanism, info.Iterations = mech, cred.Iterations
					r.CredentialInfos = append(r.CredentialInfos, info)
				}
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
