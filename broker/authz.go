package broker

import (
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/txn"
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

// authorizeTopicIDs checks op on every topic named by id; unknown ids pass (the handler
// answers them UNKNOWN_TOPIC_ID). It returns the first denied topic's name, or "".
func (b *Broker) authorizeTopicIDs(c *call, op acl.Operation, ids [][16]byte) string {
	for _, id := range ids {
		if t, ok := b.cluster.TopicByID(metadata.TopicID(id)); ok && !b.authorizeTopic(c, op, t.Name) {
			return t.Name
		}
	}
	return ""
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

// removeDeniedProduceTopics takes the topics the principal may not WRITE out of a Produce
// request and returns their answers: TOPIC_AUTHORIZATION_FAILED for every partition, as
// Kafka answers them, while the other topics are appended.
func (b *Broker) removeDeniedProduceTopics(c *call, req *kmsg.ProduceRequest) []kmsg.ProduceResponseTopic {
	if b.cfg.Authorizer == nil {
		return nil
	}
	var denied []kmsg.ProduceResponseTopic
	kept := req.Topics[:0]
	for _, rt := range req.Topics {
		// An unknown topic id (v13+, no name) is answered UNKNOWN_TOPIC_ID first, as Kafka.
		if (rt.Topic == "" && rt.TopicID != [16]byte{}) || b.authorizeTopic(c, acl.OpWrite, rt.Topic) {
			kept = append(kept, rt)
			continue
		}
		t := kmsg.NewProduceResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewProduceResponseTopicPartition()
			p.Partition, p.BaseOffset, p.ErrorCode = rp.Partition, -1, kerr.TopicAuthorizationFailed.Code
			t.Partitions = append(t.Partitions, p)
		}
		denied = append(denied, t)
	}
	req.Topics = kept
	return denied
}

// authorizeFetch is a Fetch's check for one topic: CLUSTER_ACTION on the cluster for a
// follower (a replica id), READ on the topic for a consumer.
func (b *Broker) authorizeFetch(c *call, follower bool, topic string) bool {
	if follower {
		return b.authorizeCluster(c, acl.OpClusterAction)
	}
	return b.authorizeTopic(c, acl.OpRead, topic)
}

// mayCreateTopic is CreateTopics' check, and a Metadata request's before it creates a
// missing topic: CREATE on the cluster (not logged when denied, as Kafka), else CREATE on
// the topic.
func (b *Broker) mayCreateTopic(c *call, topic string) bool {
	return b.allowed(c, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) || b.authorizeTopic(c, acl.OpCreate, topic)
}

// authorizedGroupCoordinator is groupCoordinator after checking op on the group:
// GROUP_AUTHORIZATION_FAILED when denied, before anything about the coordinator is told.
func (b *Broker) authorizedGroupCoordinator(c *call, op acl.Operation, id string) (*group.Coordinator, *kerr.Error) {
	if !b.authorizeGroup(c, op, id) {
		return nil, kerr.GroupAuthorizationFailed
	}
	return b.groupCoordinator(id)
}

// offsetCommitDenied is OffsetCommit's check of the whole request: READ on the group
// (GROUP_AUTHORIZATION_FAILED); 0 if allowed.
func (b *Broker) offsetCommitDenied(c *call, group string) int16 {
	if !b.authorizeGroup(c, acl.OpRead, group) {
		return kerr.GroupAuthorizationFailed.Code
	}
	return 0
}

// txnOffsetCommitDenied is TxnOffsetCommit's check of the whole request: WRITE on the
// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group
// (GROUP_AUTHORIZATION_FAILED); 0 if allowed.
func (b *Broker) txnOffsetCommitDenied(c *call, id, group string) int16 {
	if !b.authorizeTxnID(c, acl.OpWrite, id) {
		return kerr.TransactionalIDAuthorizationFailed.Code
	}
	return b.offsetCommitDenied(c, group)
}

// commitTopicDenied is an offset commit's code for a topic's partitions: the request's
// refusal (reqCode), else TOPIC_AUTHORIZATION_FAILED without READ on the topic, else 0.
func (b *Broker) commitTopicDenied(c *call, reqCode int16, topic string) int16 {
	if reqCode == 0 && !b.authorizeTopic(c, acl.OpRead, topic) {
		return kerr.TopicAuthorizationFailed.Code
	}
	return reqCode
}

// mayListGroup is ListGroups' filter: DESCRIBE on the cluster lists every group, else those
// the principal may DESCRIBE (neither logs a denial, as in Kafka).
func (b *Broker) mayListGroup(c *call, group string) bool {
	return b.allowed(c, acl.OpDescribe, acl.ResourceCluster, acl.ClusterName) || b.allowed(c, acl.OpDescribe, acl.ResourceGroup, group)
}

// authorizedCoordinatorFor is coordinatorFor after FindCoordinator's check: DESCRIBE on the
// group (GROUP_AUTHORIZATION_FAILED) or on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
func (b *Broker) authorizedCoordinatorFor(c *call, keyType int8, key string) (node int32, host string, port int32, code int16, msg *string) {
	switch {
	case keyType == 0 && !b.authorizeGroup(c, acl.OpDescribe, key):
		return -1, "", -1, kerr.GroupAuthorizationFailed.Code, nil
	case keyType == 1 && !b.authorizeTxnID(c, acl.OpDescribe, key):
		return -1, "", -1, kerr.TransactionalIDAuthorizationFailed.Code, nil
	}
	return b.coordinatorFor(keyType, key, c.req.Listener)
}

// authorizedTxnCoordinator is txnCoordinator after checking WRITE on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): EndTxn, AddOffsetsToTxn.
func (b *Broker) authorizedTxnCoordinator(c *call, id string) (*txn.Coordinator, *kerr.Error) {
	if !b.authorizeTxnID(c, acl.OpWrite, id) {
		return nil, kerr.TransactionalIDAuthorizationFailed
	}
	return b.txnCoordinator(id)
}

// initProducerIDDenied is InitProducerId's check: WRITE on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), or for an idempotent producer
// authorizeIdempotent (CLUSTER_AUTHORIZATION_FAILED); 0 if allowed.
func (b *Broker) initProducerIDDenied(c *call, txnID *string) int16 {
	switch {
	case txnID != nil && !b.authorizeTxnID(c, acl.OpWrite, *txnID):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case txnID == nil && !b.authorizeIdempotent(c):
		return kerr.ClusterAuthorizationFailed.Code
	}
	return 0
}

// addPartitionsDenied is AddPartitionsToTxn's check; it fills a.codes and reports true when
// the add must not run. A client's request (v0-3) needs WRITE on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition) and WRITE on each topic
// (TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED); a broker's (v4+)
// CLUSTER_ACTION on the cluster.
func (b *Broker) addPartitionsDenied(c *call, a *txnAdd) bool {
	a.codes = make([]int16, len(a.parts))
	var all int16
	switch {
	case c.version() >= 4 && !b.authorizeCluster(c, acl.OpClusterAction):
		all = kerr.ClusterAuthorizationFailed.Code
	case c.version() < 4 && !b.authorizeTxnID(c, acl.OpWrite, a.id):
		all = kerr.TransactionalIDAuthorizationFailed.Code
	}
	denied := all != 0
	for i, tp := range a.parts {
		switch {
		case all != 0:
			a.codes[i] = all
		case c.version() < 4 && !b.authorizeTopic(c, acl.OpWrite, tp.Topic):
			a.codes[i], denied = kerr.TopicAuthorizationFailed.Code, true
		}
	}
	if denied {
		for i, code := range a.codes {
			if code == 0 {
				a.codes[i] = kerr.OperationNotAttempted.Code
			}
		}
	}
	return denied
}

// authorizedController is activeController after checking op on the cluster
// (CLUSTER_AUTHORIZATION_FAILED): CLUSTER_ACTION, which only brokers hold, for the
// controller's own APIs; ALTER for ElectLeaders and AlterPartitionReassignments, DESCRIBE
// for ListPartitionReassignments.
func (b *Broker) authorizedController(c *call, op acl.Operation) (ControllerService, error) {
	if !b.authorizeCluster(c, op) {
		return nil, errClusterAuthorization(op)
	}
	return b.activeController()
}

// authorizeLeaderEpoch is OffsetForLeaderEpoch's check for one topic: CLUSTER_ACTION on the
// cluster for a follower, DESCRIBE on the topic for a consumer.
func (b *Broker) authorizeLeaderEpoch(c *call, follower bool, topic string) bool {
	if follower {
		return b.authorizeCluster(c, acl.OpClusterAction)
	}
	return b.authorizeTopic(c, acl.OpDescribe, topic)
}

// configDenied is the configs APIs' check of one resource (op is DESCRIBE_CONFIGS or
// ALTER_CONFIGS): on the topic (TOPIC_AUTHORIZATION_FAILED); on the cluster for a broker,
// a broker logger or client metrics (CLUSTER_AUTHORIZATION_FAILED); on the group
// (GROUP_AUTHORIZATION_FAILED). nil if allowed, or for a type the handler refuses anyway.
func (b *Broker) configDenied(c *call, op acl.Operation, rt kmsg.ConfigResourceType, name string) error {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		if !b.authorizeTopic(c, op, name) {
			return errTopicAuthorization(op, name)
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
		if !b.authorizeCluster(c, op) {
			return errClusterAuthorization(op)
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !b.authorizeGroup(c, op, name) {
			return errGroupAuthorization(op, name)
		}
	}
	return nil
}

// offsetFetchTopicDenied is OffsetFetch's check of a topic's offsets: DESCRIBE on the topic.
// A topic the request named gets TOPIC_AUTHORIZATION_FAILED (denied); one it did not (all
// the group's offsets) is left out (skip), as in Kafka.
func (b *Broker) offsetFetchTopicDenied(c *call, named bool, topic string) (denied int16, skip bool) {
	switch {
	case b.cfg.Authorizer == nil:
		return 0, false
	case !named:
		return 0, !b.allowed(c, acl.OpDescribe, acl.ResourceTopic, topic)
	case !b.authorizeTopic(c, acl.OpDescribe, topic):
		return kerr.TopicAuthorizationFailed.Code, false
	}
	return 0, false
}

// shareGroupDenied checks a share fetch or acknowledgement's group: READ on it. It returns
// GROUP_AUTHORIZATION_FAILED, or 0.
func (b *Broker) shareGroupDenied(c *call, group string) int16 {
	if !b.authorizeGroup(c, acl.OpRead, group) {
		return kerr.GroupAuthorizationFailed.Code
	}
	return 0
}

// shareTopicsDenied is a share fetch or acknowledgement's check of its topics: READ on each,
// asked once per topic. As in Kafka's KafkaApis, a denied topic's partitions are answered
// TOPIC_AUTHORIZATION_FAILED one by one and the rest of the request goes on; an unknown topic
// id is not denied (the handler answers it UNKNOWN_TOPIC_ID).
type shareTopicsDenied struct {
	b      *Broker
	c      *call
	denied map[[16]byte]bool
}

// code is TOPIC_AUTHORIZATION_FAILED if the topic of id may not be read, else 0.
func (d *shareTopicsDenied) code(id [16]byte) int16 {
	if d.b.cfg.Authorizer == nil {
		return 0
	}
	no, asked := d.denied[id]
	if !asked {
		no = d.b.authorizeTopicIDs(d.c, acl.OpRead, [][16]byte{id}) != ""
		if d.denied == nil {
			d.denied = map[[16]byte]bool{}
		}
		d.denied[id] = no
	}
	if no {
		return kerr.TopicAuthorizationFailed.Code
	}
	return 0
}

// derefGroup is a share request's group id ("" when absent).
func derefGroup(id *string) string {
	if id == nil {
		return ""
	}
	return *id
}
