package broker

import (
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListConfigResources: versions 0-1 (KIP-1000: v0 lists client-metrics resources, what
// `kafka-client-metrics --list` asks; KIP-1142: v1 any resource type). The resources that
// have configurations: topics (every topic, internal ones included), brokers and broker
// loggers (the live brokers' ids), groups (those whose coordinator is here, as ListGroups
// lists them) and client-metrics subscriptions (client_metrics.go, by name). An empty type
// list in v1 means every type; a type without configurations is UNSUPPORTED_VERSION.
func init() {
	register(api{key: int16(kmsg.ListConfigResources), min: 0, max: 1, handle: handleListConfigResources})
}

// Config resource types (Kafka's ConfigResource.Type) ListConfigResources lists.
const (
	configResourceTopic         = 2
	configResourceBroker        = 4
	configResourceBrokerLogger  = 8
	configResourceClientMetrics = 16
	configResourceGroup         = 32
)

// listedConfigResourceTypes are the types an empty v1 list asks for, in answer order.
var listedConfigResourceTypes = []int8{configResourceTopic, configResourceBroker, configResourceBrokerLogger, configResourceClientMetrics, configResourceGroup}

func handleListConfigResources(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListConfigResourcesRequest)
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	types := []int8{configResourceClientMetrics}
	if c.version() >= 1 {
		types = req.ResourceTypes
		if len(types) == 0 {
			types = listedConfigResourceTypes
		}
	}
	for _, typ := range types {
		if !slices.Contains(listedConfigResourceTypes, typ) {
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			return resp, nil
		}
	}
	add := func(typ int8, name string) {
		r := kmsg.NewListConfigResourcesResponseConfigResource()
		r.Name, r.Type = name, typ
		resp.ConfigResources = append(resp.ConfigResources, r)
	}
	for _, typ := range slices.Compact(slices.Clone(types)) {
		switch typ {
		case configResourceTopic:
			for _, t := range b.cluster.Topics() {
				add(typ, t.Name)
			}
		case configResourceBroker, configResourceBrokerLogger:
			for _, br := range b.cluster.Brokers() {
				add(typ, strconv.Itoa(int(br.ID)))
			}
		case configResourceClientMetrics:
			for _, name := range b.listClientMetrics() {
				add(typ, name)
			}
		case configResourceGroup:
			coords, lerr := b.groupCoordinators()
			if lerr != nil {
				resp.ErrorCode, resp.ConfigResources = lerr.Code, nil
				return resp, nil
			}
			for _, coord := range coords {
				for _, l := range coord.List() {
					add(typ, l.Group)
				}
			}
		}
	}
	return resp, nil
}
