package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// TestStreamsInternalTopicsNeedCreate: a streams member whose principal may read its group
// and source topic but not CREATE its changelog is told MISSING_INTERNAL_TOPICS with
// "Unauthorized to CREATE on topics ...", as Kafka answers, and the topic is not created;
// once it may CREATE topics of that prefix, its next heartbeat creates it.
func TestStreamsInternalTopicsNeedCreate(t *testing.T) {
	tb := authBroker(t)
	adm := kadm.NewClient(tb.userClient("admin"))
	if _, err := adm.CreateTopic(testCtx(t), 1, 1, nil, "ct-in"); err != nil {
		t.Fatal(err)
	}
	createACLs(t, adm, *kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("ct-app").Operations(kadm.OpRead))
	createACLs(t, adm, topicACL("ct-in", acl.PatternLiteral, "User:alice", acl.OpDescribe, acl.PermissionAllow))
	alice := tb.userClient("alice")
	member := &streamsMember{t: t, cl: alice, group: "ct-app", id: "member-ct", process: "process-ct"}
	detail := func(resp *kmsg.StreamsGroupHeartbeatResponse) string {
		for _, s := range resp.Status {
			if s.StatusCode == 3 { // MISSING_INTERNAL_TOPICS
				return s.StatusDetail
			}
		}
		return ""
	}
	// The join is retried until the ACLs reached the broker through the metadata log.
	var resp *kmsg.StreamsGroupHeartbeatResponse
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp = member.join(wordTopology(0, "ct-in", "ct-app-changelog")); resp.ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a member that may read its group and topic: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	if d := detail(resp); !strings.HasSuffix(d, "; Unauthorized to CREATE on topics ct-app-changelog.") {
		t.Fatalf("MISSING_INTERNAL_TOPICS detail %q, want it to end with the CREATE refusal", d)
	}
	// The creation would have run before the answer: the topic is not there.
	td, err := adm.ListTopics(testCtx(t), "ct-app-changelog")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := td["ct-app-changelog"]; ok && d.Err == nil {
		t.Fatal("the changelog was created for a member that may not CREATE it")
	}

	createACLs(t, adm, topicACL("ct-app-", acl.PatternPrefixed, "User:alice", acl.OpCreate, acl.PermissionAllow))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp := member.heartbeat()
		if resp.ErrorCode == 0 && !strings.Contains(detail(resp), "Unauthorized") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a member that may create topics of its prefix: %v %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Status)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		td, err := adm.ListTopics(testCtx(t), "ct-app-changelog")
		if d, ok := td["ct-app-changelog"]; err == nil && ok && d.Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changelog not created once CREATE was allowed: %v %v", err, td)
		}
	}
}
