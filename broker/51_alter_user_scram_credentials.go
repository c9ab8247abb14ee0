package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/metadata"
)

// AlterUserScramCredentials: version 0 (flexible). Runs on the active controller (a broker
// sends the request on to it), which checks it as Kafka's ScramControlManager does
// (metadata.AlterScram) and stores, for each upsertion, the salt, iterations and the StoredKey
// and ServerKey derived from the salted password the client sent; the salted password itself
// is not kept. One result per user named: a user named twice is DUPLICATE_RESOURCE, an
// unknown mechanism UNSUPPORTED_SASL_MECHANISM, an empty name or iterations outside
// [4096, 16384] UNACCEPTABLE_CREDENTIAL, deleting a credential that does not exist
// RESOURCE_NOT_FOUND. It needs ALTER on the cluster.
func init() {
	register(api{key: int16(kmsg.AlterUserSCRAMCredentials), min: 0, max: 0, handle: handleAlterUserScramCredentials, catalog: catalogController})
}

func handleAlterUserScramCredentials(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(c, acl.OpAlter) {
		// Kafka's controller checks ALTER on the cluster first and answers every user named
		// with CLUSTER_AUTHORIZATION_FAILED (AlterUserScramCredentialsRequest.getErrorResponse).
		for _, n := range usersOf(req) {
			r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			r.User, r.ErrorCode = n, kerr.ClusterAuthorizationFailed.Code
			r.ErrorMessage = kmsg.StringPtr("Cluster authorization failed: ALTER on the cluster is needed to change SCRAM credentials")
			resp.Results = append(resp.Results, r)
		}
		return resp, nil
	}
	cmd := &metadata.AlterScram{}
	for _, d := range req.Deletions {
		cmd.Deletions = append(cmd.Deletions, metadata.ScramDeletion{User: d.Name, Mechanism: d.Mechanism})
	}
	for _, u := range req.Upsertions {
		up := metadata.ScramUpsertion{User: u.Name, Mechanism: u.Mechanism}
		if m := auth.ScramMechanismByType(u.Mechanism); m != nil && len(u.SaltedPassword) == m.KeySize() {
			cred := m.CredentialFromSalted(u.Salt, u.SaltedPassword, u.Iterations)
			up.Credential = metadata.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}
		} else {
			// No keys: refused as unacceptable by the state machine (or as an unknown
			// mechanism, which it checks first).
			up.Credential.Iterations = u.Iterations
		}
		cmd.Upsertions = append(cmd.Upsertions, up)
	}
	results, err := b.cluster.AlterScram(cmd, req)
	if err != nil {
		// The controller could not be reached or the proposal failed: every user gets it.
		code := errorCode(err)
		for _, n := range usersOf(req) {
			r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			r.User, r.ErrorCode, r.ErrorMessage = n, code, kmsg.StringPtr(err.Error())
			resp.Results = append(resp.Results, r)
		}
		return resp, nil
	}
	for _, res := range results {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = res.User
		if res.Err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(res.Err), kmsg.StringPtr(res.Err.Error())
			if r.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Warn("AlterUserScramCredentials failed", "user", res.User, "err", res.Err)
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

// usersOf names each user of the request once, in order.
func usersOf(req *kmsg.AlterUserSCRAMCredentialsRequest) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, d := range req.Deletions {
		add(d.Name)
	}
	for _, u := range req.Upsertions {
		add(u.Name)
	}
	return out
}
