package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// IncrementalAlterConfigs: versions 0-1 (v1 flexible). SET and DELETE change one topic
// override each; APPEND and SUBTRACT add or remove items of a list config (cleanup.policy),
// starting from its effective value, and are INVALID_CONFIG on other configs. A resource's
// operations are validated together and applied all or none. BROKER resources (a broker id,
// or "" for the cluster default) change dynamic broker configs (broker_configs.go); a
// read-only one is INVALID_REQUEST naming it. GROUP resources change a group's configs
// (group_configs.go), validated as Kafka validates them (INVALID_CONFIG). CLIENT_METRICS
// resources change a client-metrics subscription (client_metrics.go): APPEND and SUBTRACT
// on its metrics and match lists.
func init() {
	register(api{key: int16(kmsg.IncrementalAlterConfigs), min: 0, max: 1, handle: handleIncrementalAlterConfigs, catalog: catalogTopic})
}

func handleIncrementalAlterConfigs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := duplicateResources(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	b.admin.Lock()
	defer b.admin.Unlock()
	for _, r := range req.Resources {
		err := b.configDenied(c, acl.OpAlterConfigs, r.ResourceType, r.ResourceName)
		if err == nil {
			err = b.alterConfigsLocked(r.ResourceType, r.ResourceName, dups, req.ValidateOnly,
				func(cur map[string]string) (map[string]string, error) {
					ops := make([]configOp, len(r.Configs))
					for i, c := range r.Configs {
						ops[i] = configOp{name: c.Name, op: c.Op, value: c.Value}
					}
					if r.ResourceType == kmsg.ConfigResourceTypeBroker {
						return b.brokerConfigOps(cur, ops)
					}
					if r.ResourceType == kmsg.ConfigResourceTypeGroupConfig {
						return groupConfigOps(cur, ops)
					}
					if r.ResourceType == kmsg.ConfigResourceTypeClientMetrics {
						return clientMetricsOps(cur, ops)
					}
					return applyConfigOps(b.logDefaults(), cur, ops)
				})
		}
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
