package broker

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// AlterConfigs: versions 0-2 (v2+ flexible). The legacy alter: a topic's given configs
// replace its whole override set (null values are dropped, as Kafka does). The new set is
// validated whole before anything is stored, then applied to the topic's open logs.
//
// BROKER resources (a broker id, or "" for the cluster default) replace the resource's
// dynamic broker configs the same way (broker_configs.go); a read-only broker config is
// INVALID_REQUEST, the code Kafka gives for broker configs that cannot change at run time.
// GROUP resources replace a group's configs (group_configs.go).
// CLIENT_METRICS resources replace a subscription's configs (client_metrics.go).
func init() {
	register(api{key: int16(kmsg.AlterConfigs), min: 0, max: 2, handle: handleAlterConfigs, catalog: catalogTopic})
}

func handleAlterConfigs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dups := duplicateResources(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	b.admin.Lock()
	defer b.admin.Unlock()
	for _, r := range req.Resources {
		err := b.configDenied(c, acl.OpAlterConfigs, r.ResourceType, r.ResourceName)
		if err == nil {
			err = b.alterConfigsLocked(r.ResourceType, r.ResourceName, dups, req.ValidateOnly,
				func(map[string]string) (map[string]string, error) {
					out := make(map[string]string, len(r.Configs))
					for _, c := range r.Configs {
						if _, dup := out[c.Name]; dup {
							return nil, refuse(kerr.InvalidRequest, "config %q appears twice", c.Name)
						}
						if c.Value != nil {
							out[c.Name] = *c.Value
						}
					}
					if r.ResourceType == kmsg.ConfigResourceTypeBroker || r.ResourceType == kmsg.ConfigResourceTypeGroupConfig ||
						r.ResourceType == kmsg.ConfigResourceTypeClientMetrics {
						return out, nil // alterBrokerConfigsLocked, alterGroupConfigsLocked or alterClientMetricsLocked checks them
					}
					if err := checkTopicConfigs(b.logDefaults(), out); err != nil {
						return nil, err
					}
					return out, nil
				})
		}
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// resourceKey names a config resource.
func resourceKey(typ kmsg.ConfigResourceType, name string) string {
	return strconv.Itoa(int(typ)) + "/" + name
}

// duplicateResources returns the resources named more than once in a request: Kafka refuses
// all of their entries with INVALID_REQUEST.
func duplicateResources(n int, at func(int) (kmsg.ConfigResourceType, string)) map[string]bool {
	seen := make(map[string]bool, n)
	dups := map[string]bool{}
	for i := 0; i < n; i++ {
		k := resourceKey(at(i))
		if seen[k] {
			dups[k] = true
		}
		seen[k] = true
	}
	return dups
}

// alterConfigsLocked alters one resource's configs: newOverrides computes and validates the
// topic's new override set, or the broker resource's new dynamic configs, from the current
// ones. REQUIRES: b.admin held.
func (b *Broker) alterConfigsLocked(typ kmsg.ConfigResourceType, name string, dups map[string]bool,
	validateOnly bool, newOverrides func(cur map[string]string) (map[string]string, error)) error {
	if dups[resourceKey(typ, name)] {
		return refuse(kerr.InvalidRequest, "resource %q appears more than once in the request", name)
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, err := b.topicResource(name)
		if err != nil {
			return err
		}
		next, err := newOverrides(t.Configs)
		if err != nil || validateOnly {
			return err
		}
		return b.setTopicConfigsLocked(name, next)
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerConfigsLocked(name, validateOnly, newOverrides)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigsLocked(name, validateOnly, newOverrides)
	case kmsg.ConfigResourceTypeClientMetrics:
		return b.alterClientMetricsLocked(name, validateOnly, newOverrides)
	default:
		return refuse(kerr.InvalidRequest, "unsupported config resource type %d", typ)
	}
}
