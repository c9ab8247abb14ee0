package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DescribeConfigs: versions 1-4 (Kafka 4 removed v0). TOPIC resources list every config logd
// honours (configs.go) with its value and source: DYNAMIC_TOPIC_CONFIG for the topic's
// overrides, else the broker's (STATIC_BROKER_CONFIG if logd's configuration changed Kafka's
// default, DEFAULT_CONFIG if not). BROKER resources, named by this broker's id, list every
// setting logd has, with the dynamic ones' sources (broker_configs.go); the empty name lists
// the cluster-wide dynamic defaults set. GROUP resources list the share group configs logd
// honours, the group's value (GROUP_CONFIG) or the broker's (group_configs.go).
// CLIENT_METRICS resources list the configs the subscription sets (client_metrics.go).
// Sensitive values are null, as Kafka's.
func init() {
	register(api{key: int16(kmsg.DescribeConfigs), min: 1, max: 4, handle: handleDescribeConfigs})
}

func handleDescribeConfigs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var entries []configEntry
		var err error
		err = b.configDenied(c, acl.OpDescribeConfigs, r.ResourceType, r.ResourceName)
		switch {
		case err != nil:
		case r.ResourceType == kmsg.ConfigResourceTypeTopic:
			t, terr := b.topicResource(r.ResourceName)
			if err = terr; err == nil {
				entries = b.topicConfigEntries(t.Configs, r.ConfigNames)
			}
		case r.ResourceType == kmsg.ConfigResourceTypeBroker:
			entries, err = b.describeBrokerConfigs(r.ResourceName, r.ConfigNames)
		case r.ResourceType == kmsg.ConfigResourceTypeGroupConfig:
			entries, err = b.describeGroupConfigs(r.ResourceName, r.ConfigNames)
		case r.ResourceType == kmsg.ConfigResourceTypeClientMetrics:
			entries, err = b.describeClientMetrics(r.ResourceName, r.ConfigNames)
		default:
			err = refuse(kerr.InvalidRequest, "unsupported config resource type %d", r.ResourceType)
		}
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		for _, e := range entries {
			rr.Configs = append(rr.Configs, describedConfig(e, req.IncludeSynonyms, req.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func describedConfig(e configEntry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name, rc.Value = e.name, kmsg.StringPtr(e.value)
	if e.sensitive {
		rc.Value, rc.IsSensitive = nil, true
	}
	if e.value == "" && e.source == kmsg.ConfigSourceDefaultConfig {
		rc.Value = nil // no default: Kafka's null
	}
	rc.ReadOnly = e.readOnly
	rc.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
	rc.Source = e.source
	rc.ConfigType = e.typ
	if synonyms {
		for _, s := range e.synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.name, kmsg.StringPtr(s.value), s.source
			if e.sensitive {
				cs.Value = nil
			}
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, cs)
		}
	}
	if docs {
		rc.Documentation = kmsg.StringPtr(e.doc)
	}
	return rc
}
