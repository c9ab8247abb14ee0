package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/auth"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
)

// TestScramReplicated: on a three-node cluster the --add-scram credentials reach every node;
// AlterUserScramCredentials sent to a node that is not the controller is sent on to it, and
// the new credential reaches every node too, as its deletion does.
func TestScramReplicated(t *testing.T) {
	_, _, admin, err := auth.ParseAddScram("SCRAM-SHA-256=[name=admin,password=admin-secret]")
	if err != nil {
		t.Fatal(err)
	}
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		c.BootstrapScram = []metadata.ScramUpsertion{{User: "admin", Mechanism: metadata.ScramSHA256,
			Credential: metadata.ScramCredential{Salt: admin.Salt, StoredKey: admin.StoredKey, ServerKey: admin.ServerKey, Iterations: admin.Iterations}}}
	})
	everyNode := func(what, mech, user string, want bool) {
		t.Helper()
		waitFor(t, what, 10*time.Second, func() bool {
			for _, tn := range nodes {
				if _, ok := tn.node.ScramCredential(mech, user); ok != want {
					return false
				}
			}
			return true
		})
	}
	everyNode("admin's credential on every node", "SCRAM-SHA-256", "admin", true)

	var follower *testNode
	waitFor(t, "a controller", 10*time.Second, func() bool {
		for _, tn := range nodes {
			if _, err := tn.node.ActiveController(); err != nil && tn.node.ControllerID() >= 0 {
				follower = tn
			}
		}
		return follower != nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kwire.Dial(ctx, follower.addr, kwire.Options{ClientID: "scram-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	salt := []byte("0123456789abcdef")
	salted, _ := auth.ScramSHA512.SaltedPassword("alice-secret", salt, 4096)
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "alice", 2, 4096, salt, salted
	req.Upsertions = append(req.Upsertions, up)
	resp, err := c.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results; len(r) != 1 || r[0].User != "alice" || r[0].ErrorCode != 0 {
		t.Fatalf("alter through node %d: %+v", follower.id, r)
	}
	everyNode("alice's credential on every node", "SCRAM-SHA-512", "alice", true)
	want := auth.ScramSHA512.CredentialFromSalted(salt, salted, 4096)
	if got, _ := nodes[0].node.ScramCredential("SCRAM-SHA-512", "alice"); string(got.StoredKey) != string(want.StoredKey) {
		t.Fatal("the stored key is not the one derived from the salted password")
	}

	del := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	d.Name, d.Mechanism = "alice", 2
	del.Deletions = append(del.Deletions, d)
	if resp, err = c.Request(ctx, del); err != nil || resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	everyNode("alice's credential gone from every node", "SCRAM-SHA-512", "alice", false)
}
