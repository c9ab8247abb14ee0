package broker

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// Authorization (Kafka's AuthHelper): every handler asks here whether the request's principal
// may do what it asks, with one call per check, and answers a refusal with the API's
// *_AUTHORIZATION_FAILED code where Kafka does. Without an authorizer (Config.Authorizer nil)
// every check passes. The table of which API checks what is in the acl package's doc.

// SetACLs installs the cluster's ACLs at metadata version (its Raft index) in the
// authorizer; the cluster node calls it at every change of its view.
func (b *Broker) SetACLs(version uint64, bindings []acl.Binding) {
	if b.cfg.Authorizer != nil {
		b.cfg.Authorizer.Update(version, bindings)
	}
}

// subject is who sent the request: its session's principal and its address.
func (c *call) subject() acl.Subject {
	if !c.hasSubj {
		if s := c.req.Session; s != nil {
			c.subj.Principal = s.Principal()
		}
		if a, ok := c.req.RemoteAddr.(*net.TCPAddr); ok {
			c.subj.Host = a.AddrPort().Addr().Unmap()
		}
		c.hasSubj = true
	}
	return c.subj
}

// authorize checks op on a resource and logs a denial (Kafka's authorizer audit log, at
// INFO, as kafka.authorizer.logger does).
func (b *Broker) authorize(c *call, op acl.Operation, rt acl.ResourceType, name string) bool {
	a := b.cfg.Authorizer
	if a == nil {
		return true
	}
	s := c.subject()
	if a.Authorize(s, op, rt, name) {
		return true
	}
	b.log.Info("authorization denied", "principal", s.Name(), "host", s.Host, "operation", op.String(),
		"resource_type", rt.String(), "resource", name, "api", kmsg.NameForKey(c.req.APIKey))
	return false
}

// allowed checks op on a resource without logging a denial: for filtering (the topics of an
// all-topics Metadata request) and fallbacks, where Kafka does not log either.
func (b *Broker) allowed(c *call, op acl.Operation, rt acl.ResourceType, name string) bool {
	return b.cfg.Authorizer == nil || b.cfg.Authorizer.Authorize(c.subject(), op, rt, name)
}

// authorizeCluster checks op on the cluster resource.
func (b *Broker) authorizeCluster(c *call, op acl.Operation) bool {
	return b.authorize(c, op, acl.ResourceCluster, acl.ClusterName)
}

// authorizeTopic checks op on a topic.
func (b *Broker) authorizeTopic(c *call, op acl.Operation, topic string) bool {
	return b.authorize(c, op, acl.ResourceTopic, topic)
}

// authorizeGroup checks op on a group.
func (b *Broker) authorizeGroup(c *call, op acl.Operation, group string) bool {
	return b.authorize(c, op, acl.ResourceGroup, group)
}

// authorizeTxnID checks op on a transactional id.
func (b *Broker) authorizeTxnID(c *call, op acl.Operation, id string) bool {
	return b.authorize(c, op, acl.ResourceTransactionalID, id)
}

// authorizeIdempotent is the check of an idempotent producer without a transactional id
// (InitProducerId): IDEMPOTENT_WRITE on the cluster, or WRITE on any topic (KIP-679).
func (b *Broker) authorizeIdempotent(c *call) bool {
	a := b.cfg.Authorizer
	if a == nil || a.AuthorizeByResourceType(c.subject(), acl.OpWrite, acl.ResourceTopic) {
		return true
	}
	return b.authorizeCluster(c, acl.OpIdempotentWrite)
}

// authorizedOperations is KIP-430's bit field for a resource, or Kafka's "not requested"
// value (topicAuthorizedOperationsUnknown) when the client did not ask for it. Without an authorizer Kafka
// reports every supported operation.
func (b *Broker) authorizedOperations(c *call, requested bool, rt acl.ResourceType, name string) int32 {
	if !requested {
		return topicAuthorizedOperationsUnknown
	}
	a := b.cfg.Authorizer
	if a == nil {
		return acl.SupportedOperations(rt)
	}
	return a.AuthorizedOperations(c.subject(), rt, name)
}
