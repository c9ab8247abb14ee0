package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// AlterClientQuotas implements broker.Cluster: proposed by the controller, forwarded to it
// by other nodes; it returns once this node's view has applied the change (bounded, as
// waitView).
func (n *Node) AlterClientQuotas(alts []metadata.QuotaAlteration) ([]string, error) {
	var refusals []string
	err := n.onController(func(c *activeCtl) error {
		res, err := c.propose(&metadata.AlterClientQuotas{Alterations: alts})
		if err == nil {
			refusals = res.([]string)
		}
		return err
	}, func() (err error) {
		refusals, err = n.forwardAlterClientQuotas(alts)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.waitView(func(v *view) bool { return quotasApplied(v.st, alts, refusals) })
	return refusals, nil
}

// quotasApplied reports whether st has the result of every alteration that applied.
func quotasApplied(st *metadata.ClusterState, alts []metadata.QuotaAlteration, refusals []string) bool {
	for i, a := range alts {
		if refusals[i] != "" {
			continue
		}
		vals := st.QuotaValues(a.Entity)
		for k, v := range a.Set {
			if got, ok := vals[k]; !ok || got != v {
				return false
			}
		}
		for _, k := range a.Remove {
			if _, ok := vals[k]; ok {
				return false
			}
		}
	}
	return true
}

func (n *Node) forwardAlterClientQuotas(alts []metadata.QuotaAlteration) ([]string, error) {
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.SetVersion(1)
	for _, a := range alts {
		e := kmsg.NewAlterClientQuotasRequestEntry()
		for _, en := range a.Entity {
			ke := kmsg.NewAlterClientQuotasRequestEntryEntity()
			ke.Type, ke.Name = en.Type, en.Name
			e.Entity = append(e.Entity, ke)
		}
		for k, v := range a.Set {
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key, op.Value = k, v
			e.Ops = append(e.Ops, op)
		}
		for _, k := range a.Remove {
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key, op.Remove = k, true
			e.Ops = append(e.Ops, op)
		}
		req.Entries = append(req.Entries, e)
	}
	refusals := make([]string, len(alts))
	err := n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.AlterClientQuotasResponse)
		if len(resp.Entries) != len(alts) {
			return kerr.UnknownServerError.Code, nil
		}
		for i, e := range resp.Entries {
			switch {
			case e.ErrorCode == kerr.InvalidRequest.Code && e.ErrorMessage != nil:
				refusals[i] = *e.ErrorMessage
			case e.ErrorCode != 0:
				return e.ErrorCode, e.ErrorMessage
			}
		}
		return 0, nil
	})
	return refusals, err
}
