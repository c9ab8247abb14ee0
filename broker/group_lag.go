package broker

import "github.com/logd/logd/engine"

// groupLag reports, for the logd_group_lag metric, every committed offset's consumer lag:
// the partition's high watermark (what a consumer can read up to) minus the committed
// offset, as kafka-consumer-groups computes it. It reports nothing until the coordinator
// is loaded and skips partitions whose log is not open: a scrape never loads
// __consumer_offsets or opens a log.
func (b *Broker) groupLag(yield func(group, topic string, partition int32, lag int64)) {
	coord := b.groups.Load()
	if coord == nil {
		return
	}
	for _, g := range coord.List() {
		for _, o := range coord.FetchOffsets(g.Group, nil) {
			if o.Offset.Offset < 0 {
				continue
			}
			b.mu.RLock()
			part := b.parts[engine.TopicPartition{Topic: o.Topic, Partition: o.Partition}]
			b.mu.RUnlock()
			if part == nil {
				continue
			}
			yield(g.Group, o.Topic, o.Partition, max(part.log.HighWatermark()-o.Offset.Offset, 0))
		}
	}
}
