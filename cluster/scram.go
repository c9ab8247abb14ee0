package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/auth"
	"github.com/logd/logd/metadata"
)

// SCRAM credentials: kept in the replicated metadata (metadata.AlterScram), changed on the
// active controller only, read by every node's SASL listeners from its view.

// ScramCredential implements auth.ScramStore (broker.Cluster) from this node's view.
func (n *Node) ScramCredential(mechanism, user string) (auth.ScramCredential, bool) {
	m := auth.ScramMechanismByName(mechanism)
	if m == nil {
		return auth.ScramCredential{}, false
	}
	c, ok := n.view.Load().st.Scram[user][m.Type]
	if !ok {
		return auth.ScramCredential{}, false
	}
	return auth.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations}, true
}

// ScramCredentials implements broker.Cluster: every user's credentials by mechanism type, as
// this node's view has them. The caller must not modify them.
func (n *Node) ScramCredentials() map[string]map[int8]*metadata.ScramCredential {
	return n.view.Load().st.Scram
}

// AlterScram implements broker.Cluster: proposed here when this node is the active
// controller, else req is sent to it and its per-user answers come back as errors.
func (n *Node) AlterScram(c *metadata.AlterScram, req *kmsg.AlterUserSCRAMCredentialsRequest) ([]metadata.ScramResult, error) {
	var out []metadata.ScramResult
	err := n.onController(func(ctl *activeCtl) error {
		res, err := ctl.propose(c)
		if err != nil {
			return err
		}
		out = res.([]metadata.ScramResult)
		n.refreshView()
		return nil
	}, func() error {
		return n.forward(req, func(r kmsg.Response) (int16, *string) {
			resp := r.(*kmsg.AlterUserSCRAMCredentialsResponse)
			out = out[:0]
			for _, res := range resp.Results {
				if res.ErrorCode == kerr.NotController.Code {
					return res.ErrorCode, res.ErrorMessage // the controller moved: forward retries
				}
				out = append(out, metadata.ScramResult{User: res.User, Err: codeErr(res.ErrorCode, res.ErrorMessage)})
			}
			return 0, nil
		})
	})
	return out, err
}

// bootstrapScram adds the credentials of logd serve --add-scram that do not exist yet
// (metadata.AlterScram's IfAbsent): on a fresh cluster it creates its first users; later
// starts with the same flags change nothing, so a password changed since stays. A failure is
// logged and retried at the next election.
func (n *Node) bootstrapScram() {
	if len(n.cfg.BootstrapScram) == 0 {
		return
	}
	// One command per credential: AlterScram refuses a user named twice in one.
	for _, u := range n.cfg.BootstrapScram {
		res, err := n.q.Propose(&metadata.AlterScram{Upsertions: []metadata.ScramUpsertion{u}, IfAbsent: true}, metadata.ProposeTimeout)
		if err != nil {
			n.log.Error("could not add the SCRAM credentials of --add-scram; retrying at the next election", "err", err)
			return
		}
		if r := res.([]metadata.ScramResult); len(r) == 1 && r[0].Err != nil {
			n.log.Error("--add-scram credential refused", "user", u.User, "err", r[0].Err)
		}
	}
	n.refreshView()
}
