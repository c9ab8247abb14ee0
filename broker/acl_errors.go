package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/acl"
)

// The refusals the ACL APIs (29_describe_acls.go, 30_create_acls.go, 31_delete_acls.go)
// share, with Kafka's messages (AclApis).

// errSecurityDisabled answers an ACL API on a broker without an authorizer.
var errSecurityDisabled = refuse(kerr.SecurityDisabled, "No Authorizer is configured on the broker")

// errClusterAuthorization answers a request whose principal lacks the cluster operation op.
func errClusterAuthorization(op acl.Operation) error {
	return refuse(kerr.ClusterAuthorizationFailed, "Cluster authorization failed: %s on the cluster is not allowed", op)
}

// refuseACLChange is why a CreateAcls or DeleteAcls request changes nothing: no authorizer,
// or no ALTER on the cluster; nil if it may.
func (b *Broker) refuseACLChange(c *call) error {
	switch {
	case b.cfg.Authorizer == nil:
		return errSecurityDisabled
	case !b.authorizeCluster(c, acl.OpAlter):
		return errClusterAuthorization(acl.OpAlter)
	}
	return nil
}

// errTopicAuthorization answers a request whose principal lacks op on a topic.
func errTopicAuthorization(op acl.Operation, topic string) error {
	return refuse(kerr.TopicAuthorizationFailed, "Topic authorization failed: %s on topic %s is not allowed", op, topic)
}

// errGroupAuthorization answers a request whose principal lacks op on a group.
func errGroupAuthorization(op acl.Operation, group string) error {
	return refuse(kerr.GroupAuthorizationFailed, "Group authorization failed: %s on group %s is not allowed", op, group)
}
