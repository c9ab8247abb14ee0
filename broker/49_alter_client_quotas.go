package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// AlterClientQuotas: versions 0-1. Needs ALTER_CONFIGS on the cluster. Each entry is
// validated on its own (metadata.ValidateQuotaAlteration: INVALID_REQUEST with Kafka's
// reason); the valid ones go to the controller in one metadata command unless ValidateOnly.
// kafka-configs --alter --add-config producer_byte_rate=… --entity-type users|clients sends
// it.
func init() {
	register(api{key: int16(kmsg.AlterClientQuotas), min: 0, max: 1, handle: handleAlterClientQuotas, catalog: catalogController})
}

func handleAlterClientQuotas(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	var refused error
	if !b.authorizeCluster(c, acl.OpAlterConfigs) {
		refused = errClusterAuthorization(acl.OpAlterConfigs)
	}
	errs := make([]error, len(req.Entries))
	var valid []metadata.QuotaAlteration
	var validAt []int
	for i, e := range req.Entries {
		if errs[i] = refused; refused != nil {
			continue
		}
		a := metadata.QuotaAlteration{Set: map[string]float64{}}
		for _, en := range e.Entity {
			a.Entity = append(a.Entity, metadata.QuotaEntity{Type: en.Type, Name: en.Name})
		}
		for _, op := range e.Ops {
			if op.Remove {
				a.Remove = append(a.Remove, op.Key)
			} else {
				a.Set[op.Key] = op.Value
			}
		}
		if _, errs[i] = metadata.ValidateQuotaAlteration(a); errs[i] == nil {
			valid, validAt = append(valid, a), append(validAt, i)
		}
	}
	if len(valid) > 0 && !req.ValidateOnly {
		refusals, err := b.cluster.AlterClientQuotas(valid)
		for j, i := range validAt {
			if errs[i] = err; err == nil {
				errs[i] = errQuotaRefused(refusals[j])
			}
		}
	}
	for i, e := range req.Entries {
		r := kmsg.NewAlterClientQuotasResponseEntry()
		r.ErrorCode, r.ErrorMessage = errorCode(errs[i]), errorMessage(errs[i])
		for _, en := range e.Entity {
			re := kmsg.NewAlterClientQuotasResponseEntryEntity()
			re.Type, re.Name = en.Type, en.Name
			r.Entity = append(r.Entity, re)
		}
		resp.Entries = append(resp.Entries, r)
	}
	return resp, nil
}
