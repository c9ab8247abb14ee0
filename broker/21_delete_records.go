package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DeleteRecords: versions 0-2. Offset -1 means the high watermark; an offset past it is
// OFFSET_OUT_OF_RANGE (the engine's rule). The answer's LowWatermark is the new log start.
// Segments wholly below it are deleted at once; the rest of the log start's segment stays on
// disk but is never read again.
func init() {
	register(api{key: int16(kmsg.DeleteRecords), min: 0, max: 2, handle: handleDeleteRecords})
}

func handleDeleteRecords(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		t := &resp.Topics[ti]
		t.Topic = rt.Topic
		denied := !b.authorizeTopic(c, acl.OpDelete, rt.Topic)
		t.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			p := &t.Partitions[pi]
			p.Default()
			p.Partition = rp.Partition
			p.LowWatermark = -1
			if denied {
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			part, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				p.ErrorCode = errorCode(err)
				continue
			}
			off := rp.Offset
			if off == -1 {
				off = part.log.HighWatermark()
			}
			low, err := part.log.DeleteRecordsBefore(off)
			if err != nil {
				p.ErrorCode = errorCode(err)
				continue
			}
			p.LowWatermark = low
		}
	}
	return resp, nil
}
