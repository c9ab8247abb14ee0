package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// TestACLsAcrossNodes: CreateAcls and DeleteAcls sent to a node that is not the controller
// are forwarded to it, and every node's authorizer then answers DescribeAcls with the
// change (ACLs replicated in the metadata quorum).
func TestACLsAcrossNodes(t *testing.T) {
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		// PLAINTEXT clients and brokers are User:ANONYMOUS: a super user, as in Kafka.
		c.Broker.Authorizer = acl.New(acl.Config{SuperUsers: []string{acl.Anonymous}})
	})
	waitLive(t, nodes, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var follower *testNode
	for _, tn := range nodes {
		if _, err := tn.node.ActiveController(); err != nil {
			follower = tn
			break
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(follower.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	create := kmsg.NewPtrCreateACLsRequest()
	want := acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: "t-", PatternType: acl.PatternPrefixed,
		Principal: "User:alice", Host: "*", Operation: acl.OpWrite, Permission: acl.PermissionAllow}
	create.Creations = append(create.Creations, want.Creation())
	resp, err := create.RequestWith(ctx, cl.Broker(int(follower.id)))
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("CreateAcls on node %d: %+v, %v", follower.id, resp, err)
	}
	count := func(tn *testNode) int {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		r, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil || r.ErrorCode != 0 {
			return -1
		}
		n := 0
		for _, res := range r.Resources {
			n += len(res.ACLs)
		}
		return n
	}
	for _, tn := range nodes {
		waitFor(t, "the ACL on every node", 10*time.Second, func() bool { return count(tn) == 1 })
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	f := acl.Filter{ResourceType: acl.ResourceAny, PatternType: acl.PatternAny, Operation: acl.OpAny, Permission: acl.PermissionAny}
	del.Filters = append(del.Filters, f.DeleteFilter())
	dresp, err := del.RequestWith(ctx, cl.Broker(int(follower.id)))
	if err != nil || len(dresp.Results) != 1 || len(dresp.Results[0].MatchingACLs) != 1 ||
		acl.FromMatching(&dresp.Results[0].MatchingACLs[0]) != want {
		t.Fatalf("DeleteAcls on node %d: %+v, %v", follower.id, dresp, err)
	}
	for _, tn := range nodes {
		waitFor(t, "no ACL on any node", 10*time.Second, func() bool { return count(tn) == 0 })
	}
}
