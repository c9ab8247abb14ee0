package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/net/server"
)

// authBroker is a broker whose one listener is SASL_PLAINTEXT with PLAIN users admin (a
// super user), alice and bob, and the StandardAuthorizer's semantics (acl.Authorizer).
func authBroker(t *testing.T) *testBroker {
	t.Helper()
	sasl, err := auth.NewSASL(map[string]*auth.ListenerSASL{"SASL_PLAINTEXT": {
		Enabled: []string{auth.MechPlain},
		Plain:   map[string]string{"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, func(c *Config) {
		c.SASL = sasl
		c.Authorizer = acl.New(acl.Config{SuperUsers: []string{"User:admin"}})
		c.GroupInitialRebalanceDelay = -1
	})
	// The harness's listener has no authentication: serve the same address with SASL.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tb.srv.Shutdown(ctx)
	srv := server.New(server.Config{HeaderVersion: HeaderVersion, RequireAuth: true, Listener: "SASL_PLAINTEXT"}, tb.b)
	if err := srv.Start(tb.addr); err != nil {
		t.Fatal(err)
	}
	tb.srv = srv
	return tb
}

func (tb *testBroker) userClient(user string, opts ...kgo.Opt) *kgo.Client {
	return tb.client(append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()),
		kgo.RequestRetries(0), kgo.RecordRetries(1), kgo.RetryTimeout(2 * time.Second)}, opts...)...)
}

func topicACL(name string, pattern acl.PatternType, principal string, op acl.Operation, perm acl.Permission) kadm.ACLBuilder {
	b := kadm.NewACLs()
	if perm == acl.PermissionAllow {
		b = b.Allow(principal).AllowHosts()
	} else {
		b = b.Deny(principal).DenyHosts()
	}
	b = b.Topics(name).Operations(kmsgOp(op))
	if pattern == acl.PatternPrefixed {
		b = b.ResourcePatternType(kadm.ACLPatternPrefixed)
	}
	return *b
}

func kmsgOp(op acl.Operation) kadm.ACLOperation { return kadm.ACLOperation(op) }

func createACLs(t *testing.T, adm *kadm.Client, b kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}
}

func produceErr(cl *kgo.Client, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

// TestAuthorizeProduce: a principal without ACLs is refused with TOPIC_AUTHORIZATION_FAILED,
// an ALLOW lets it write (literal and prefixed), a DENY wins, and the ACL APIs list and
// delete what was created.
func TestAuthorizeProduce(t *testing.T) {
	tb := authBroker(t)
	admin := kadm.NewClient(tb.userClient("admin"))
	ctx := context.Background()
	if _, err := admin.CreateTopics(ctx, 1, 1, nil, "orders", "orders-eu", "secret"); err != nil {
		t.Fatal(err)
	}
	alice := tb.userClient("alice", kgo.DisableIdempotentWrite())
	if err := produceErr(alice, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// DESCRIBE only: Metadata answers, the Produce itself is refused.
	createACLs(t, admin, topicACL("orders", acl.PatternLiteral, "User:alice", acl.OpDescribe, acl.PermissionAllow))
	if err := produceErr(alice, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce with DESCRIBE only: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	createACLs(t, admin, topicACL("orders", acl.PatternPrefixed, "User:alice", acl.OpWrite, acl.PermissionAllow))
	for _, topic := range []string{"orders", "orders-eu"} {
		if err := produceErr(alice, topic); err != nil {
			t.Fatalf("produce to %s with a prefixed WRITE: %v", topic, err)
		}
	}
	createACLs(t, admin, topicACL("orders-eu", acl.PatternLiteral, "User:*", acl.OpWrite, acl.PermissionDeny))
	if err := produceErr(alice, "orders-eu"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce against a DENY: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// Idempotent producers need WRITE on some topic (or IDEMPOTENT_WRITE): alice has it.
	if err := produceErr(tb.userClient("alice"), "orders"); err != nil {
		t.Fatalf("idempotent produce: %v", err)
	}
	if err := produceErr(tb.userClient("bob"), "orders"); !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob's idempotent produce: %v, want an authorization error", err)
	}

	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range described {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		n += len(d.Described)
	}
	if n != 3 {
		t.Fatalf("described %d ACLs, want 3: %+v", n, described)
	}
	deleted, err := admin.DeleteACLs(ctx, kadm.NewACLs().Topics("orders-eu").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || len(deleted[0].Deleted) != 1 || deleted[0].Deleted[0].Permission != kmsg.ACLPermissionTypeDeny {
		t.Fatalf("deleted %+v, want the DENY on orders-eu", deleted)
	}
	if err := produceErr(alice, "orders-eu"); err != nil {
		t.Fatalf("produce after deleting the DENY: %v", err)
	}
	// bob may not change ACLs.
	b := topicACL("secret", acl.PatternLiteral, "User:bob", acl.OpAll, acl.PermissionAllow)
	res, err := kadm.NewClient(tb.userClient("bob")).CreateACLs(ctx, &b)
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob creating an ACL: %+v, %v; want CLUSTER_AUTHORIZATION_FAILED", res, err)
	}
}

// TestAuthorizeMetadataAndGroups: an all-topics Metadata lists only the topics the principal
// may describe, and consuming in a group needs READ on the group as well as on the topic.
func TestAuthorizeMetadataAndGroups(t *testing.T) {
	tb := authBroker(t)
	admin := kadm.NewClient(tb.userClient("admin"))
	ctx := context.Background()
	if _, err := admin.CreateTopics(ctx, 1, 1, nil, "events", "hidden"); err != nil {
		t.Fatal(err)
	}
	if err := produceErr(tb.userClient("admin"), "events"); err != nil {
		t.Fatal(err)
	}
	createACLs(t, admin, topicACL("events", acl.PatternLiteral, "User:alice", acl.OpRead, acl.PermissionAllow))
	md, err := kadm.NewClient(tb.userClient("alice")).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := md.Topics.Names(); len(names) != 1 || names[0] != "events" {
		t.Fatalf("alice sees topics %v, want [events]", names)
	}
	// KIP-430: READ implies DESCRIBE, and that is all alice may do on the topic.
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("events")
	mreq.Topics, mreq.IncludeTopicAuthorizedOperations = append(mreq.Topics, mt), true
	mresp, err := mreq.RequestWith(ctx, tb.userClient("alice"))
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].AuthorizedOperations != 1<<acl.OpRead|1<<acl.OpDescribe {
		t.Fatalf("authorized operations: %+v, %v", mresp, err)
	}
	consume := func() error {
		cl := tb.userClient("alice", kgo.ConsumeTopics("events"), kgo.ConsumerGroup("g"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		defer cl.Close() // leave the group: a member left behind would keep the partition
		for {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return err
			}
			var ferr error
			// Retriable errors (a coordinator still loading) are retried by the client itself.
			fs.EachError(func(_ string, _ int32, err error) {
				if !kerr.IsRetriable(err) {
					ferr = err
				}
			})
			if ferr != nil {
				return ferr
			}
			if fs.NumRecords() > 0 {
				return nil
			}
		}
	}
	if err := consume(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("consuming without READ on the group: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	g := kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("g").Operations(kadm.OpRead)
	createACLs(t, admin, *g)
	if err := consume(); err != nil {
		t.Fatalf("consuming with READ on topic and group: %v", err)
	}
}

// TestAuthorizeShareAndStreamsGroups: share and streams group requests need READ on the
// group (DESCRIBE to describe it) and READ on the topics a share fetch or acknowledgement
// reads; without them nothing is fetched.
func TestAuthorizeShareAndStreamsGroups(t *testing.T) {
	tb := authBroker(t)
	admin := tb.userClient("admin")
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, "shared"); err != nil {
		t.Fatal(err)
	}
	if err := produceErr(admin, "shared"); err != nil {
		t.Fatal(err)
	}
	alice := tb.userClient("alice")
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = "sg", "m-alice-0000000000000", 0, []string{"shared"}
	if got := nodeReq[*kmsg.ShareGroupHeartbeatResponse](t, alice, hb).ErrorCode; got != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("share heartbeat without a group ACL: %v", kerr.ErrorForCode(got))
	}
	fetchResp := func() *kmsg.ShareFetchResponse {
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID = kmsg.StringPtr("sg"), kmsg.StringPtr("m-alice-0000000000000")
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = topicIDDP(t, tb, "shared")
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return nodeReq[*kmsg.ShareFetchResponse](t, alice, req)
	}
	if got := fetchResp().ErrorCode; got != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("share fetch without a group ACL: %v", kerr.ErrorForCode(got))
	}
	desc := kmsg.NewPtrShareGroupDescribeRequest()
	desc.GroupIDs = []string{"sg"}
	if got := nodeReq[*kmsg.ShareGroupDescribeResponse](t, alice, desc).Groups[0].ErrorCode; got != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("share describe without a group ACL: %v", kerr.ErrorForCode(got))
	}
	st := kmsg.NewPtrStreamsGroupHeartbeatRequest()
	st.Group, st.MemberID, st.MemberEpoch = "st", "m-alice-0000000000000", 0
	if got := nodeReq[*kmsg.StreamsGroupHeartbeatResponse](t, alice, st).ErrorCode; got != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("streams heartbeat without a group ACL: %v", kerr.ErrorForCode(got))
	}
	// READ on the group alone: the topic is still refused.
	g := kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("sg").Operations(kadm.OpRead)
	createACLs(t, adm, *g)
	got := fetchResp()
	for deadline := time.Now().Add(10 * time.Second); got.ErrorCode == kerr.GroupAuthorizationFailed.Code && time.Now().Before(deadline); got = fetchResp() {
		time.Sleep(50 * time.Millisecond) // the ACL reaches the broker through the metadata log
	}
	// As Kafka: the request (and its share session) goes on, the topic's partition is refused.
	if got.ErrorCode != 0 || len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 {
		t.Fatalf("share fetch of a topic without READ: top-level %v, topics %+v", kerr.ErrorForCode(got.ErrorCode), got.Topics)
	}
	if p := got.Topics[0].Partitions[0]; p.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("share fetch of a topic without READ: partition %v", kerr.ErrorForCode(p.ErrorCode))
	}
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.GroupID, ack.MemberID, ack.ShareSessionEpoch = kmsg.StringPtr("sg"), kmsg.StringPtr("m-alice-0000000000000"), 1
	at := kmsg.NewShareAcknowledgeRequestTopic()
	at.TopicID = topicIDDP(t, tb, "shared")
	ap := kmsg.NewShareAcknowledgeRequestTopicPartition()
	ap.AcknowledgementBatches = []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 0, LastOffset: 0, AcknowledgeTypes: []int8{1}}}
	at.Partitions = append(at.Partitions, ap)
	ack.Topics = append(ack.Topics, at)
	ar := nodeReq[*kmsg.ShareAcknowledgeResponse](t, alice, ack)
	if len(ar.Topics) != 1 || len(ar.Topics[0].Partitions) != 1 || ar.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("share acknowledge of a topic without READ: top-level %v, topics %+v", kerr.ErrorForCode(ar.ErrorCode), ar.Topics)
	}
}

// TestAuthorizeOffsetDelete: OffsetDelete needs DELETE on the group and READ on each topic; a
// topic without READ is TOPIC_AUTHORIZATION_FAILED per partition and keeps its offset.
func TestAuthorizeOffsetDelete(t *testing.T) {
	tb := authBroker(t)
	admin := tb.userClient("admin")
	adm := kadm.NewClient(admin)
	ctx := context.Background()
	for _, topic := range []string{"od-read", "od-secret"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	var offs kadm.Offsets
	offs.AddOffset("od-read", 0, 0, -1)
	offs.AddOffset("od-secret", 0, 0, -1)
	if err := adm.CommitAllOffsets(ctx, "od-group", offs); err != nil {
		t.Fatal(err)
	}
	alice := tb.userClient("alice")
	createACLs(t, adm, *kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("od-group").Operations(kadm.OpDelete))
	createACLs(t, adm, *kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("od-read").Operations(kadm.OpRead))
	del := func() *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = "od-group"
		for _, topic := range []string{"od-read", "od-secret"} {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
			req.Topics = append(req.Topics, rt)
		}
		return nodeReq[*kmsg.OffsetDeleteResponse](t, alice, req)
	}
	resp := del()
	for deadline := time.Now().Add(10 * time.Second); (resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0) && time.Now().Before(deadline); resp = del() {
		time.Sleep(50 * time.Millisecond) // the ACLs reach the broker through the metadata log
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 2 {
		t.Fatalf("offset delete: %v, %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
	}
	codes := map[string]int16{}
	for _, rt := range resp.Topics {
		codes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	if codes["od-read"] != 0 || codes["od-secret"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("offset delete per partition: od-read %v, od-secret %v", kerr.ErrorForCode(codes["od-read"]), kerr.ErrorForCode(codes["od-secret"]))
	}
	left, err := adm.FetchOffsets(ctx, "od-group")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := left.Lookup("od-secret", 0); !ok {
		t.Fatalf("od-secret's offset was deleted without READ on the topic: %+v", left)
	}
	if _, ok := left.Lookup("od-read", 0); ok {
		t.Fatalf("od-read's offset is still there after OffsetDelete: %+v", left)
	}
}

// nodeReq sends req to the one broker directly, past the client's coordinator lookup (which
// would stop at FindCoordinator's own authorization).
func nodeReq[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Broker(1).Request(testCtx(t), req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

// TestAuthorizeScramCredentials: listing SCRAM credentials needs DESCRIBE on the cluster and
// changing them ALTER on the cluster, as KafkaApis and ControllerApis check; without, every
// user named is answered CLUSTER_AUTHORIZATION_FAILED and nothing changes.
func TestAuthorizeScramCredentials(t *testing.T) {
	tb := authBroker(t)
	bob := tb.userClient("bob")
	desc := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
	u.Name = "admin"
	desc.Users = append(desc.Users, u)
	got := nodeReq[*kmsg.DescribeUserSCRAMCredentialsResponse](t, bob, desc)
	if got.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(got.Results) != 1 || got.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("bob describing credentials: %+v; want CLUSTER_AUTHORIZATION_FAILED", got)
	}
	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations = "alice", 1, 4096
	up.Salt, up.SaltedPassword = []byte("0123456789abcdef"), make([]byte, 32)
	alter.Upsertions = append(alter.Upsertions, up)
	res := nodeReq[*kmsg.AlterUserSCRAMCredentialsResponse](t, bob, alter)
	if len(res.Results) != 1 || res.Results[0].User != "alice" || res.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("bob changing alice's credential: %+v; want CLUSTER_AUTHORIZATION_FAILED", res.Results)
	}
	admin := nodeReq[*kmsg.DescribeUserSCRAMCredentialsResponse](t, tb.userClient("admin"), desc)
	if admin.ErrorCode != 0 {
		t.Fatalf("the super user describing credentials: %v", kerr.ErrorForCode(admin.ErrorCode))
	}
	if admin.Results[0].ErrorCode != kerr.ResourceNotFound.Code {
		t.Fatalf("admin has no SCRAM credential: got %v, want RESOURCE_NOT_FOUND (bob's upsert must not have happened either)", kerr.ErrorForCode(admin.Results[0].ErrorCode))
	}
}
