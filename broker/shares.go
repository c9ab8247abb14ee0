package broker

import (
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/net/server"
	"github.com/logd/logd/segment"
	"github.com/logd/logd/share"
)

// Share groups (KIP-932): the glue between the share APIs (76-79) and package share. One
// share.Coordinator per broker holds the groups this broker coordinates (the leader of the
// group's __consumer_offsets partition, found with FindCoordinator key type GROUP as for
// consumer groups), the members' share sessions and the share partitions of the partitions
// it leads. A share fetch reads batches from the log, copies their bytes (no sendfile: the
// acquired ranges decide what is sent) and acquires their records. Share-partition state
// persists in __share_group_state (share_state.go).

func init() {
	errorCodes = append(errorCodes, []errorMapping{
		{share.ErrUnknownMember, kerr.UnknownMemberID},
		{share.ErrFencedMemberEpoch, kerr.FencedMemberEpoch},
		{share.ErrGroupNotFound, kerr.GroupIDNotFound},
		{share.ErrGroupMaxSize, kerr.GroupMaxSizeReached},
		{share.ErrGroupNotEmpty, kerr.NonEmptyGroup},
		{share.ErrInvalidRequest, kerr.InvalidRequest},
		{share.ErrSessionNotFound, kerr.ShareSessionNotFound},
		{share.ErrInvalidSessionEpoch, kerr.InvalidShareSessionEpoch},
		{share.ErrSessionLimit, kerr.ShareSessionLimitReached},
		{share.ErrInvalidRecordState, kerr.InvalidRecordState},
	}...)
}

// newShareCoordinator builds the share coordinator from Config.Share, zero fields taking
// Kafka's defaults.
func (b *Broker) newShareCoordinator() *share.Coordinator {
	b.cfg.Share = b.cfg.Share.WithDefaults()
	cfg := b.cfg.Share
	cfg.Available, cfg.Persist, cfg.Load = b.shareRecordsAvailable, b.persistShareState, b.loadShareSnapshot
	cfg.GroupConfigs = b.groupConfigsOf
	return share.New(cfg)
}

// useShareSession checks a ShareFetch's or ShareAcknowledge's group and member ids and
// applies sr (its epoch and partitions) to the member's share session. On failure it sets
// the response's top-level error and reports false.
func (b *Broker) useShareSession(group, member *string, sr share.SessionRequest, code *int16, msg **string) (share.SessionResult, bool) {
	if group == nil || *group == "" || member == nil || *member == "" {
		m := "GroupId and MemberId must be set"
		*code, *msg = kerr.InvalidRequest.Code, &m
		return share.SessionResult{}, false
	}
	sr.Group, sr.Member = *group, *member
	res, err := b.shares.UseSession(sr)
	if err != nil {
		m := err.Error()
		*code, *msg = errorCode(err), &m
		return share.SessionResult{}, false
	}
	return res, true
}

// ConnClosed is server.ConnCloser: the share sessions opened on a closed connection end and
// their members' records are released (Kafka's SharePartitionManager does the same when a
// connection disconnects).
func (b *Broker) ConnClosed(sess *server.Session) {
	b.shares.ConnClosed(sess)
	b.telemetry.ConnClosed(sess)
}

// shareRecordsAvailable wakes the fetches parked on a partition whose records were released
// (share fetches look again; plain fetches read once more and park again).
func (b *Broker) shareRecordsAvailable(topicID [16]byte, p int32) {
	t, ok := b.cluster.TopicByID(metadata.TopicID(topicID))
	if !ok {
		return
	}
	b.mu.RLock()
	part := b.parts[engine.TopicPartition{Topic: t.Name, Partition: p}]
	b.mu.RUnlock()
	if part != nil {
		part.waiters.wake()
	}
}

// shareTopic resolves a topic a share group member subscribes to.
func (b *Broker) shareTopic(name string) (share.TopicInfo, bool) {
	t, ok := b.assignableTopic(name)
	if !ok || internalTopic(name) {
		return share.TopicInfo{}, false
	}
	return share.TopicInfo{ID: t.ID, Name: t.Name, Partitions: t.Partitions}, true
}

// shareGroupConflict is GROUP_ID_NOT_FOUND's reason when id is a classic or consumer group:
// a group id has one type (Kafka's GroupCoordinatorService). "" when it is not.
func (b *Broker) shareGroupConflict(id string) string {
	coord, lerr := b.groupCoordinator(id)
	if lerr != nil {
		return ""
	}
	for _, l := range coord.List() {
		if l.Group == id {
			return fmt.Sprintf("Group %s is not a share group.", id)
		}
	}
	return ""
}

// shareRead is one partition's read for a share fetch: the bytes of whole batches and each
// batch's offsets.
type shareRead struct {
	bytes   []byte
	batches []share.Batch
	ends    []int // ends[i]: the end of batches[i] in bytes
}

// readShareBatches reads the batches of l from offset from, below upTo, about maxBytes
// (the first batch whole), and marks control batches and (readCommitted) aborted
// transactions' batches to be skipped.
func readShareBatches(l *engine.Log, from, upTo int64, maxBytes int32, readCommitted bool) (shareRead, error) {
	reg, err := l.Read(from, maxBytes, upTo)
	if err != nil {
		return shareRead{}, err
	}
	defer reg.Release()
	if reg.Len == 0 {
		return shareRead{}, nil
	}
	buf := make([]byte, reg.Len) // Read bounds Len by maxBytes, or one batch below message.max.bytes
	if _, err := reg.File.ReadAt(buf, reg.Pos); err != nil && err != io.EOF {
		return shareRead{}, err
	}
	var aborted []engine.AbortedTxn
	if readCommitted {
		aborted = l.AbortedTxns(from, upTo)
	}
	r := shareRead{bytes: buf}
	for pos := 0; pos < len(buf); {
		h, err := segment.ParseHeader(buf[pos:])
		if err != nil || h.Size() > len(buf)-pos {
			return shareRead{}, fmt.Errorf("share fetch read a bad batch at offset %d: %w", from, segment.ErrCorrupt)
		}
		skip := h.IsControl()
		if h.IsTransactional() && !skip {
			for _, a := range aborted {
				if a.ProducerID == h.ProducerID && h.BaseOffset >= a.FirstOffset && h.BaseOffset <= a.LastOffset {
					skip = true
					break
				}
			}
		}
		pos += h.Size()
		r.batches = append(r.batches, share.Batch{First: h.BaseOffset, Last: h.LastOffset(), Skip: skip})
		r.ends = append(r.ends, pos)
	}
	return r, nil
}

// shareOffsetByTime is share.LogOffsets.ByTime for l below end: the offset of the first
// record whose timestamp is at least ts, as ListOffsets by timestamp finds it
// (share.auto.offset.reset=by_duration, resolved like Kafka's SharePartition through its
// ListOffsets path).
func (b *Broker) shareOffsetByTime(l *engine.Log, end int64) func(ts int64) (int64, bool) {
	return func(ts int64) (int64, bool) {
		off, found, err := l.OffsetForTimestamp(ts)
		if err != nil || !found || off >= end {
			return 0, false
		}
		_, off, err = b.refineTimestampOffset(l, off, ts)
		return off, err == nil && off >= 0 && off < end
	}
}

// through returns the bytes of the batches up to the last one holding an acquired offset.
func (r shareRead) through(acquired []share.Acquired) []byte {
	if len(acquired) == 0 {
		return nil
	}
	last := acquired[len(acquired)-1].Last
	for i, bt := range r.batches {
		if bt.Last >= last {
			return r.bytes[:r.ends[i]]
		}
	}
	return r.bytes
}

// persistShareGroup appends what a share group's coordinator persists of it (rec: its epoch
// and subscribed topics, Kafka's ShareGroupMetadata and ShareGroupStatePartitionMetadata
// records) to the group's __consumer_offsets partition, so that the group survives a restart
// without members (restoringShareGroups). The wait reports durability.
func (b *Broker) persistShareGroup(rec *share.GroupRecord) (group.Durable, error) {
	lg, lerr := b.groups.get(b, rec.Group)
	if lerr != nil {
		return nil, lerr
	}
	t, ok := b.cluster.Topic(offsetsTopic)
	if !ok {
		return nil, kerr.NotCoordinator
	}
	mk, pk := share.GroupRecordKeys(rec.Group)
	mv, pv := share.GroupRecordValues(*rec)
	return lg.journal.Append(group.PartitionFor(rec.Group, t.Partitions), []group.Record{{Key: mk, Value: mv}, {Key: pk, Value: pv}})
}

// restoringShareGroups is the share groups' part of loading a __consumer_offsets partition:
// it passes recs (the journal's one-shot replay) on, restoring each share group recorded
// there (known again without members, with its epoch and the share partitions of its
// subscribed topics) as it goes by.
func (b *Broker) restoringShareGroups(recs func(yield func(group.Record) bool)) func(yield func(group.Record) bool) {
	return func(yield func(group.Record) bool) {
		for r := range recs {
			rec, deleted, ok, err := share.ParseGroupRecord(r.Key, r.Value)
			switch {
			case err != nil:
				b.log.Warn("unreadable share group record skipped", "err", err)
			case !ok:
			case deleted:
				b.shares.Forget(rec.Group)
			default:
				b.shares.Restore(rec)
			}
			if !yield(r) {
				return
			}
		}
	}
}

// shareGroupType is a share group's type and protocol type in ListGroups.
const shareGroupType = "share"

// coordinatesGroup reports whether this broker is id's coordinator now.
func (b *Broker) coordinatesGroup(id string) bool {
	_, lerr := b.groupCoordinator(id)
	return lerr == nil
}

// shareStateIn reports whether a share group state (share.Listing.State) passes a ListGroups
// state filter.
func shareStateIn(states map[group.State]bool, state string) bool {
	st, ok := group.ParseState(state)
	return ok && states[st]
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
