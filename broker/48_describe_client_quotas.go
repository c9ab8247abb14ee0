package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// DescribeClientQuotas: versions 0-1. Needs DESCRIBE_CONFIGS on the cluster. Answers the
// quotas of the entities the filter selects, from this broker's copy of the metadata, as
// Kafka's ClientQuotasImage.describe: each component names an entity type and matches a name
// exactly (0), the default (1) or any (2); an entity must have every component's type, and
// with Strict no other.
func init() {
	register(api{key: int16(kmsg.DescribeClientQuotas), min: 0, max: 1, handle: handleDescribeClientQuotas})
}

func handleDescribeClientQuotas(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	var err error
	if !b.authorizeCluster(c, acl.OpDescribeConfigs) {
		err = errClusterAuthorization(acl.OpDescribeConfigs)
	} else {
		err = validQuotaFilter(req.Components)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{} // null only with an error (the Java admin needs a list)
	for _, q := range b.quotas.Quotas() {
		if !quotaFilterMatches(req.Components, req.Strict, q.Entity) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, part := range q.Entity {
			en := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			en.Type, en.Name = part.Type, part.Name
			e.Entity = append(e.Entity, en)
		}
		keys := make([]string, 0, len(q.Values))
		for k := range q.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, q.Values[k]
			e.Values = append(e.Values, v)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

// Match types of a DescribeClientQuotas component.
const (
	quotaMatchExact   = 0
	quotaMatchDefault = 1
	quotaMatchAny     = 2
)

// validQuotaFilter refuses what Kafka refuses: a type twice, an exact match without a name,
// an unknown match type.
func validQuotaFilter(cs []kmsg.DescribeClientQuotasRequestComponent) error {
	for i, comp := range cs {
		for _, prev := range cs[:i] {
			if prev.EntityType == comp.EntityType {
				return refuse(kerr.InvalidRequest, "entity type %s appears twice in the filter", comp.EntityType)
			}
		}
		switch comp.MatchType {
		case quotaMatchExact:
			if comp.Match == nil {
				return refuse(kerr.InvalidRequest, "an exact match on %s needs a name", comp.EntityType)
			}
		case quotaMatchDefault, quotaMatchAny:
		default:
			return refuse(kerr.InvalidRequest, "unknown match type %d", comp.MatchType)
		}
	}
	return nil
}

// quotaFilterMatches reports whether an entity has every component's type, matching as
// asked, and (strict) no other.
func quotaFilterMatches(cs []kmsg.DescribeClientQuotasRequestComponent, strict bool, ent []metadata.QuotaEntity) bool {
	if strict && len(ent) != len(cs) {
		return false
	}
	for _, comp := range cs {
		i := slices.IndexFunc(ent, func(e metadata.QuotaEntity) bool { return e.Type == comp.EntityType })
		if i < 0 {
			return false
		}
		name := ent[i].Name
		switch comp.MatchType {
		case quotaMatchExact:
			if name == nil || *name != *comp.Match {
				return false
			}
		case quotaMatchDefault:
			if name != nil {
				return false
			}
		}
	}
	return true
}
