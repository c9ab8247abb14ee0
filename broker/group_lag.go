package broker

import (
	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
)

// groupLag reports, for the logd_group_lag metric, every committed offset's consumer lag:
// the partition's high watermark (what a consumer can read up to) minus the committed
// offset, as kafka-consumer-groups computes it: the groups of the coordinators loaded here
// (those of the __consumer_offsets partitions this broker leads). It skips partitions whose
// log is not open: a scrape never loads __consumer_offsets or opens a log.
func (b *Broker) groupLag(yield func(group, topic string, partition int32, lag int64)) {
	for _, coord := range b.loadedCoordinators() {
		b.coordinatorLag(coord, yield)
	}
}

// loadedCoordinators is every coordinator already loaded, for the __consumer_offsets
// partitions this broker leads.
func (b *Broker) loadedCoordinators() []*group.Coordinator {
	var out []*group.Coordinator
	for _, lg := range b.groups.loaded() {
		out = append(out, lg.coord)
	}
	return out
}

// coordinatorLag reports the lag of one coordinator's committed offsets.
func (b *Broker) coordinatorLag(coord *group.Coordinator, yield func(group, topic string, partition int32, lag int64)) {
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
