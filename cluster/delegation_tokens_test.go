package cluster

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logd/logd/auth"
	"github.com/logd/logd/broker"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/net/server"
)

// TestDelegationTokensAcrossNodes: on a three-node cluster with a SASL_PLAINTEXT listener
// (SCRAM) on each node, a token created through a node that is not the controller (the
// request is sent on to it) reaches every node's metadata and authenticates, with SCRAM's
// tokenauth, on every node as its owner; renewed through that node, every node has the new
// expiry; expired at once through it, the token is gone from every node and authenticates
// nowhere.
func TestDelegationTokensAcrossNodes(t *testing.T) {
	_, _, admin, err := auth.ParseAddScram("SCRAM-SHA-512=[name=admin,password=admin-secret]")
	if err != nil {
		t.Fatal(err)
	}
	const listener = "SASL_PLAINTEXT"
	sasl, err := auth.NewSASL(map[string]*auth.ListenerSASL{listener: {Enabled: []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}}})
	if err != nil {
		t.Fatal(err)
	}
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		c.Broker.SASL = sasl
		c.Broker.DelegationTokens = broker.DelegationTokenConfig{SecretKey: "cluster-secret"}
		c.BootstrapScram = []metadata.ScramUpsertion{{User: "admin", Mechanism: metadata.ScramSHA512,
			Credential: metadata.ScramCredential{Salt: admin.Salt, StoredKey: admin.StoredKey, ServerKey: admin.ServerKey, Iterations: admin.Iterations}}}
	})
	saslAddrs := make([]string, len(nodes))
	for i, tn := range nodes {
		srv := server.New(server.Config{HeaderVersion: broker.HeaderVersion, Listener: listener, RequireAuth: true}, tn.node.Broker())
		saslAddrs[i] = freeAddr(t)
		if err := srv.Start(saslAddrs[i]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, "admin's credential on every node", 10*time.Second, func() bool {
		for _, tn := range nodes {
			if _, ok := tn.node.ScramCredential("SCRAM-SHA-512", "admin"); !ok {
				return false
			}
		}
		return true
	})
	via := -1 // a node that is not the controller
	waitFor(t, "a controller", 10*time.Second, func() bool {
		for i, tn := range nodes {
			if _, err := tn.node.ActiveController(); err != nil && tn.node.ControllerID() >= 0 {
				via = i
			}
		}
		return via >= 0
	})
	dial := func(i int, a scram.Auth) (*kwire.Conn, error) {
		return kwire.Dial(ctx, saslAddrs[i], kwire.Options{ClientID: "dtokens-test", Security: kwire.Security{SASL: a.AsSha512Mechanism()}})
	}
	adminConn, err := dial(via, scram.Auth{User: "admin", Pass: "admin-secret"})
	if err != nil {
		t.Fatalf("admin on node %d: %v", nodes[via].id, err)
	}
	defer adminConn.Close()
	req := kmsg.NewPtrCreateDelegationTokenRequest()
	req.SetVersion(3)
	resp, err := adminConn.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.(*kmsg.CreateDelegationTokenResponse)
	if tok.ErrorCode != 0 || tok.TokenID == "" || tok.PrincipalName != "admin" || len(tok.HMAC) != 64 {
		t.Fatalf("create through node %d: %+v", nodes[via].id, tok)
	}
	everyNode := func(what string, cond func(*metadata.DelegationToken) bool) {
		t.Helper()
		waitFor(t, what, 10*time.Second, func() bool {
			for _, tn := range nodes {
				if !cond(tn.node.DelegationTokens()[tok.TokenID]) {
					return false
				}
			}
			return true
		})
	}
	everyNode("the token on every node", func(d *metadata.DelegationToken) bool { return d != nil && d.Owner == "User:admin" })
	tokenAuth := scram.Auth{User: tok.TokenID, Pass: base64.StdEncoding.EncodeToString(tok.HMAC), IsToken: true}
	for i, tn := range nodes {
		c, err := dial(i, tokenAuth)
		if err != nil {
			t.Fatalf("token authentication on node %d: %v", tn.id, err)
		}
		// Authenticated with the token: token requests are refused on its connection.
		d := kmsg.NewPtrDescribeDelegationTokenRequest()
		d.SetVersion(3)
		r, err := c.Request(ctx, d)
		c.Close()
		if err != nil || r.(*kmsg.DescribeDelegationTokenResponse).ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
			t.Fatalf("describe on node %d over the token's connection: %v %+v", tn.id, err, r)
		}
	}

	renew := kmsg.NewPtrRenewDelegationTokenRequest()
	renew.SetVersion(2)
	renew.HMAC, renew.RenewTimeMillis = tok.HMAC, 60_000
	if resp, err = adminConn.Request(ctx, renew); err != nil {
		t.Fatal(err)
	}
	renewed := resp.(*kmsg.RenewDelegationTokenResponse)
	if renewed.ErrorCode != 0 || renewed.ExpiryTimestamp >= tok.ExpiryTimestamp {
		t.Fatalf("renew for a minute through node %d: %+v (expiry was %d)", nodes[via].id, renewed, tok.ExpiryTimestamp)
	}
	everyNode("the renewed expiry on every node", func(d *metadata.DelegationToken) bool { return d != nil && d.ExpiryMs == renewed.ExpiryTimestamp })

	expire := kmsg.NewPtrExpireDelegationTokenRequest()
	expire.SetVersion(1) // not flexible: the node sends it on at v2, naming the requester
	expire.HMAC, expire.ExpiryPeriodMillis = tok.HMAC, -1
	if resp, err = adminConn.Request(ctx, expire); err != nil || resp.(*kmsg.ExpireDelegationTokenResponse).ErrorCode != 0 {
		t.Fatalf("expire through node %d: %v %+v", nodes[via].id, err, resp)
	}
	everyNode("the token gone from every node", func(d *metadata.DelegationToken) bool { return d == nil })
	for i, tn := range nodes {
		if c, err := dial(i, tokenAuth); err == nil {
			c.Close()
			t.Fatalf("an expired token authenticated on node %d", tn.id)
		}
	}
}
