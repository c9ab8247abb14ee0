package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// CreatePartitions: versions 0-3 (v2+ flexible). Topics only grow. An assignment, if given,
// names the replicas of each new partition (as many as the topic's replication factor, live
// brokers, none twice); without one the controller places them like the first ones. A request
// adding more than maxRecordsPerOperation partitions fails as a whole (POLICY_VIOLATION).
func init() {
	register(api{key: int16(kmsg.CreatePartitions), min: 0, max: 3, handle: handleCreatePartitions, catalog: catalogTopic})
}

func handleCreatePartitions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	counts := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	b.admin.Lock()
	defer b.admin.Unlock()
	tooLarge := tooLargeOperation(b.createPartitionsRecords(req, counts))
	for i := range req.Topics {
		rt := &req.Topics[i]
		n := counts[rt.Topic]
		if n == 0 {
			continue // a duplicate, answered at its first occurrence
		}
		counts[rt.Topic] = 0
		var err error
		if n > 1 {
			err = refuse(kerr.InvalidRequest, "topic %q appears %d times in the request", rt.Topic, n)
		} else if !b.authorizeTopic(c, acl.OpAlter, rt.Topic) {
			err = errTopicAuthorization(acl.OpAlter, rt.Topic)
		} else if tooLarge != nil {
			err = tooLarge
		} else if err = c.timedOut(req.TimeoutMillis); err == nil {
			err = b.createPartitionsLocked(c, rt, req.ValidateOnly)
		}
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic, st.ErrorCode, st.ErrorMessage = rt.Topic, errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createPartitionsRecords counts the partitions req would add to existing topics named once
// (a metadata record each). REQUIRES: b.admin held.
func (b *Broker) createPartitionsRecords(req *kmsg.CreatePartitionsRequest, counts map[string]int) int64 {
	var n int64
	for i := range req.Topics {
		rt := &req.Topics[i]
		if t, ok := b.cluster.Topic(rt.Topic); ok && counts[rt.Topic] == 1 && rt.Count > t.Partitions {
			n += int64(rt.Count - t.Partitions)
		}
	}
	return n
}

// createPartitionsLocked grows a topic to rt.Count partitions (each replica creates its logs
// when the metadata reaches it), the partitions added taken from the client's controller
// mutation quota (strict from v3, quotas.go), validate-only requests included, as Kafka's
// controller does. REQUIRES: b.admin held.
func (b *Broker) createPartitionsLocked(c *call, rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t, ok := b.cluster.Topic(rt.Topic)
	if !ok {
		return errNoTopic(rt.Topic)
	}
	switch {
	case internalTopic(rt.Topic):
		// Keys map to partitions by hash modulo the count: it must never change.
		return refuse(kerr.InvalidPartitions, "%s is an internal topic: its partition count is fixed", rt.Topic)
	case rt.Count == t.Partitions:
		return refuse(kerr.InvalidPartitions, "topic %q already has %d partitions", rt.Topic, t.Partitions)
	case rt.Count < t.Partitions:
		return refuse(kerr.InvalidPartitions, "topic %q has %d partitions, more than the %d requested: partitions can only be added", rt.Topic, t.Partitions, rt.Count)
	case rt.Count > metadata.MaxPartitions:
		return refuse(kerr.InvalidPartitions, "partition count %d is above logd's limit %d", rt.Count, metadata.MaxPartitions)
	}
	var assignment [][]int32
	if rt.Assignment != nil {
		if added := rt.Count - t.Partitions; int32(len(rt.Assignment)) != added {
			return refuse(kerr.InvalidReplicaAssignment, "%d partitions are added but %d assignments were given", added, len(rt.Assignment))
		}
		rf := 0
		if pa, ok := b.cluster.Partition(rt.Topic, 0); ok {
			rf = len(pa.Replicas) - len(pa.Adding) // not counting a reassignment's extra replicas
		}
		for i, a := range rt.Assignment {
			if err := b.checkReplicas(t.Partitions+int32(i), a.Replicas, rf); err != nil {
				return err
			}
			assignment = append(assignment, a.Replicas)
		}
	}
	if b.quotas.Active() {
		if err := b.takeMutations(c, rt.Count-t.Partitions, 3); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	if err := b.cluster.SetPartitions(rt.Topic, rt.Count, assignment); err != nil {
		return err
	}
	b.log.Info("added partitions", "topic", rt.Topic, "from", t.Partitions, "to", rt.Count)
	return nil
}
