package restproxy

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadata asks the cluster for its brokers and the named topics (nil: all of them). It
// does not use kadm's metadata calls: they answer from the client's cache for up to 5 s, so a
// topic created through the proxy would be missing from the next listing.
func (p *Proxy) metadata(ctx context.Context, topics []string) (kadm.Metadata, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, p.session(ctx).cl)
	if err != nil {
		return kadm.Metadata{}, err
	}
	m := kadm.Metadata{Controller: resp.ControllerID, Topics: kadm.TopicDetails{}}
	if resp.ClusterID != nil {
		m.Cluster = *resp.ClusterID
	}
	for _, b := range resp.Brokers {
		m.Brokers = append(m.Brokers, kadm.BrokerDetail{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		td := kadm.TopicDetail{Topic: *t.Topic, ID: t.TopicID, IsInternal: t.IsInternal, Partitions: kadm.PartitionDetails{}, Err: kerr.ErrorForCode(t.ErrorCode)}
		for _, pt := range t.Partitions {
			td.Partitions[pt.Partition] = kadm.PartitionDetail{
				Topic: *t.Topic, Partition: pt.Partition, Leader: pt.Leader, LeaderEpoch: pt.LeaderEpoch,
				Replicas: pt.Replicas, ISR: pt.ISR, OfflineReplicas: pt.OfflineReplicas, Err: kerr.ErrorForCode(pt.ErrorCode),
			}
		}
		m.Topics[*t.Topic] = td
	}
	return m, nil
}
