package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// The controller's APIs (KRaft's BrokerRegistration, BrokerHeartbeat, AlterPartition and
// AllocateProducerIds): brokers of a cluster send them to the active controller's Kafka
// listener. Any other node answers NOT_CONTROLLER.
func init() {
	register(api{key: int16(kmsg.BrokerRegistration), min: 0, max: 4, handle: handleBrokerRegistration, internal: true})
	register(api{key: int16(kmsg.BrokerHeartbeat), min: 0, max: 1, handle: handleBrokerHeartbeat, internal: true})
	register(api{key: int16(kmsg.AlterPartition), min: 0, max: 3, handle: handleAlterPartition, internal: true})
	register(api{key: int16(kmsg.AllocateProducerIDs), min: 0, max: 0, handle: handleAllocateProducerIDs, internal: true})
}

// activeController returns this node's controller services, or the error to answer.
func (b *Broker) activeController() (ControllerService, error) {
	return b.cluster.ActiveController()
}

func handleBrokerRegistration(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.BrokerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	resp.BrokerEpoch = -1
	ctl, err := b.authorizedController(c, acl.OpClusterAction)
	if err == nil && req.ClusterID != b.cluster.ClusterID() {
		err = refuse(kerr.InconsistentClusterID, "broker %d belongs to cluster %q, this is %q", req.BrokerID, req.ClusterID, b.cluster.ClusterID())
	}
	if err == nil {
		r := metadata.RegisterBroker{ID: req.BrokerID, Incarnation: metadata.TopicID(req.IncarnationID).String()}
		if req.Rack != nil {
			r.Rack = *req.Rack
		}
		for _, d := range req.LogDirs {
			r.LogDirs = append(r.LogDirs, metadata.TopicID(d))
		}
		// logd brokers send their inter-broker listener first (cluster.Node.register): its
		// address is the one other brokers dial.
		for i, l := range req.Listeners {
			if i == 0 {
				r.Host, r.Port = l.Host, int32(l.Port)
			}
			r.Listeners = append(r.Listeners, metadata.Endpoint{Name: l.Name, Protocol: metadata.SecurityProtocolName(l.SecurityProtocol), Host: l.Host, Port: int32(l.Port)})
		}
		var reg *metadata.BrokerRegistration
		if reg, err = ctl.RegisterBroker(r); err == nil {
			resp.BrokerEpoch = reg.Epoch
		}
	}
	resp.ErrorCode = errorCode(err)
	return resp, nil
}

func handleBrokerHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.BrokerHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	resp.IsFenced = true
	ctl, err := b.authorizedController(c, acl.OpClusterAction)
	if err == nil {
		var res metadata.HeartbeatResult
		offline := make([]metadata.TopicID, len(req.OfflineLogDirs))
		for i, d := range req.OfflineLogDirs {
			offline[i] = d
		}
		if res, err = ctl.Heartbeat(req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset, req.WantShutdown, offline); err == nil {
			resp.IsFenced, resp.ShouldShutdown, resp.IsCaughtUp = res.Fenced, res.ShouldShutdown, !res.Fenced
		}
	}
	resp.ErrorCode = errorCode(err)
	return resp, nil
}

func handleAlterPartition(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterPartitionRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	ctl, err := b.authorizedController(c, acl.OpClusterAction)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		name := rt.Topic
		if c.version() >= 2 {
			t, ok := b.cluster.TopicByID(rt.TopicID)
			if !ok {
				for _, rp := range rt.Partitions {
					sp := kmsg.NewAlterPartitionResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
				continue
			}
			name = t.Name
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			isr := rp.NewISR
			for _, e := range rp.NewEpochISR {
				isr = append(isr, e.BrokerID)
			}
			pa, err := ctl.AlterPartition(metadata.AlterPartition{BrokerID: req.BrokerID, BrokerEpoch: req.BrokerEpoch,
				Topic: name, Partition: rp.Partition, LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch, ISR: isr})
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = pa.Leader, pa.LeaderEpoch, pa.ISR, pa.PartitionEpoch
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func handleAllocateProducerIDs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AllocateProducerIDsRequest)
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	resp.ProducerIDStart = -1
	ctl, err := b.authorizedController(c, acl.OpClusterAction)
	if err == nil {
		var first int64
		if first, err = ctl.AllocateProducerIDs(req.BrokerID, req.BrokerEpoch); err == nil {
			resp.ProducerIDStart, resp.ProducerIDLen = first, metadata.ProducerIDBlockSize
		}
	}
	resp.ErrorCode = errorCode(err)
	return resp, nil
}
