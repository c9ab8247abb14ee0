package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DeleteShareGroupOffsets: version 0 (kafka-share-groups --delete-offsets). Drops the share
// state of whole topics for a group without members (NON_EMPTY_GROUP otherwise): their next
// fetch starts at share.auto.offset.reset's offset. An unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION; an unknown group GROUP_ID_NOT_FOUND.
func init() {
	register(api{key: int16(kmsg.DeleteShareGroupOffsets), min: 0, max: 0, handle: handleDeleteShareGroupOffsets})
}

func handleDeleteShareGroupOffsets(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	if !b.authorizeGroup(c, acl.OpDelete, req.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	for _, t := range req.Topics {
		if !b.authorizeTopic(c, acl.OpRead, t.Topic) {
			msg := "not authorized to read topic " + t.Topic
			resp.ErrorCode, resp.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
			return resp, nil
		}
	}
	if _, code, msg := b.shareGroupPartitions(req.GroupID); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp, nil
	}
	for _, rt := range req.Topics {
		out := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		out.Topic = rt.Topic
		t, ok := b.cluster.Topic(rt.Topic)
		if !ok {
			out.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, out)
			continue
		}
		out.TopicID = t.ID
		if err := b.shares.DeleteOffsets(req.GroupID, t.ID); err != nil {
			msg := err.Error()
			resp.ErrorCode, resp.ErrorMessage, resp.Topics = errorCode(err), &msg, nil
			return resp, nil
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}
