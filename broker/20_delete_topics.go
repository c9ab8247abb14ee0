package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// DeleteTopics: versions 1-6 (Kafka 4 removed v0). v6+ names topics by name or by id.
// A deletion removes the metadata first, so the topic is gone for every request from then
// on, then each partition's log and directory. Fetches parked on a deleted partition end at
// their MaxWait.
func init() {
	register(api{key: int16(kmsg.DeleteTopics), min: 1, max: 6, handle: handleDeleteTopics, catalog: catalogTopic})
}

func handleDeleteTopics(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if c.version() < 6 {
		targets = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			targets[i].Topic = &req.TopicNames[i]
		}
	}
	key := func(t kmsg.DeleteTopicsRequestTopic) string {
		if t.Topic != nil {
			return "name:" + *t.Topic
		}
		return "id:" + metadata.TopicID(t.TopicID).String()
	}
	counts := make(map[string]int, len(targets))
	for _, t := range targets {
		counts[key(t)]++
	}
	b.admin.Lock()
	defer b.admin.Unlock()
	for _, rt := range targets {
		k := key(rt)
		n := counts[k]
		if n == 0 {
			continue // a duplicate, answered at its first occurrence
		}
		counts[k] = 0
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		err := c.timedOut(req.TimeoutMillis)
		var t metadata.Topic
		switch {
		case err != nil:
		case n > 1:
			err = refuse(kerr.InvalidRequest, "topic %s appears %d times in the request", k, n)
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			err = refuse(kerr.InvalidRequest, "give a topic name or a topic id, not both")
		case rt.Topic != nil && !b.authorizeTopic(c, acl.OpDelete, *rt.Topic):
			err = errTopicAuthorization(acl.OpDelete, *rt.Topic)
		case rt.Topic != nil:
			t, err = b.deleteRequestedTopic(c, *rt.Topic)
		case rt.TopicID == [16]byte{}:
			err = refuse(kerr.InvalidRequest, "neither a topic name nor a topic id was given")
		default:
			if found, ok := b.cluster.TopicByID(rt.TopicID); ok && !b.authorizeTopic(c, acl.OpDelete, found.Name) {
				err = errTopicAuthorization(acl.OpDelete, found.Name)
			} else if ok {
				t, err = b.deleteRequestedTopic(c, found.Name)
			} else {
				err = refuse(kerr.UnknownTopicID, "unknown topic id %s", metadata.TopicID(rt.TopicID))
			}
		}
		if t.Name != "" {
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteRequestedTopic deletes a topic's metadata, its partitions taken from the client's
// controller mutation quota (strict from v5, quotas.go), and returns what it was. Every replica, this
// one too, then removes its partitions' logs when the deletion reaches its metadata listener
// (RemoveTopic); once the metadata is gone no partition of the topic can be opened
// (Broker.partition checks under openMu). REQUIRES: b.admin held.
func (b *Broker) deleteRequestedTopic(c *call, name string) (metadata.Topic, error) {
	if internalTopic(name) {
		return metadata.Topic{}, refuse(kerr.InvalidTopicException, "%s is an internal topic: a coordinator's log", name)
	}
	if t, ok := b.cluster.Topic(name); ok && b.quotas.Active() {
		if err := b.takeMutations(c, t.Partitions, 5); err != nil {
			return metadata.Topic{}, err
		}
	}
	t, err := b.cluster.DeleteTopic(name)
	if err != nil {
		return metadata.Topic{}, err
	}
	b.log.Info("deleted topic", "topic", name, "partitions", t.Partitions, "id", t.ID.String())
	return t, nil
}
