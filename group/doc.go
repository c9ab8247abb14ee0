// Package group is logd's consumer-group coordinator for the classic protocol (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, OffsetCommit/Fetch/Delete, DescribeGroups, ListGroups,
// DeleteGroups), for KIP-848's consumer protocol (ConsumerGroupHeartbeat,
// ConsumerGroupDescribe) and for KIP-1071's streams groups (StreamsGroupHeartbeat,
// StreamsGroupDescribe), modelled on Kafka's GroupCoordinator/GroupMetadataManager.
//
// # State machine
//
// A pure, deterministic core: every request is a method call under the group's lock, every
// timeout goes through an injected Clock (ManualClock in tests), and parked JoinGroup and
// SyncGroup answers are delivered to a reply callback (JoinFunc, SyncFunc; Join and Sync
// wrap it in a 1-buffered channel), called exactly once, possibly under the group's lock:
// it only hands the answer off. The broker parks the request (no goroutine waits) and its
// reply queues the response on the broker's completer.
//
//	Empty ─join─► PreparingRebalance ─all joined, or timer─► CompletingRebalance ─leader sync─► Stable
//	  ▲                 │ ▲                                       │                            │
//	  └─no members left─┘ └────── join / leave / expiry / protocol change ───────────────────────┘
//	Empty ─DeleteGroups, or every offset expired─► Dead (removed from the map)
//
// Kafka's rules kept: the first rebalance of an Empty group waits
// group.initial.rebalance.delay.ms, extended while members keep arriving, up to the
// rebalance timeout; the join completes early when every member rejoined and no KIP-394
// member id is outstanding; members that did not rejoin by the rebalance timeout are dropped;
// the protocol is the one every member supports with the most first-choice votes; members
// parked in JoinGroup or SyncGroup do not expire; a static member (group.instance.id)
// rejoining in Stable with the selected protocol unchanged takes its old place (and
// assignment) under a new member id without a rebalance, and the old id gets
// FENCED_INSTANCE_ID.
//
// # Consumer protocol (KIP-848)
//
// A group id is classic or consumer, never both: ConsumerGroupHeartbeat on a classic group
// with members gets GROUP_ID_NOT_FOUND, JoinGroup on a consumer group with members gets
// INCONSISTENT_GROUP_PROTOCOL; an empty group (offsets only) changes kind and keeps its
// offsets. Online migration of a live group between the protocols is not implemented.
//
// The coordinator owns the assignment. Every membership, subscription or assignor change,
// and every change of the subscribed topics' metadata (seen at each heartbeat through
// Config.Topics), bumps the group epoch once; a heartbeat then computes the target
// assignment of that epoch with the server-side assignor (uniform: balanced and sticky;
// range: contiguous ranges per topic). Each member reconciles toward its target
// incrementally (Kafka's CurrentAssignmentBuilder):
//
//	reconciled ─target moved─► unrevoked: its assignment minus the revoked partitions, epoch kept
//	unrevoked ─owned partitions no longer hold the revoked ones─► epoch := target epoch,
//	           with the target partitions nobody else holds ─► reconciled, or unreleased
//	unreleased ─previous owners revoke─► picks them up ─► reconciled
//
// Invariant: no partition is ever in two members' assignments (or one's assignment and
// another's revocation). A member that does not revoke within its rebalance timeout, or
// whose session (ConsumerSessionTimeout, 45 s) expires, is removed. Epoch checks: a higher
// epoch than the member's, or a lower one other than its previous epoch with a subset of
// its partitions, is FENCED_MEMBER_EPOCH; the client rejoins with epoch 0 under the same
// member id. Epoch -1 leaves; -2 (static members) keeps the instance's place and assignment
// until its session expires, for a restart under a new member id. OffsetCommit (v9+) and
// OffsetFetch v9 take the member epoch (STALE_MEMBER_EPOCH when it is not current).
//
// # Streams groups (KIP-1071, streams*.go)
//
// Kafka Streams with group.protocol=streams. A group id is classic, consumer or streams;
// only an empty classic group becomes a streams group (StreamsGroupHeartbeat on any other
// is GROUP_ID_NOT_FOUND, JoinGroup on a streams group INCONSISTENT_GROUP_PROTOCOL). The first
// member registers the topology (subtopologies: source, repartition and changelog topics,
// co-partition groups); later joins must send the same one at its epoch (an older epoch is
// answered STALE_TOPOLOGY, a different one at the same epoch INVALID_REQUEST, as Kafka 4.3
// supports no topology updates). Each heartbeat configures it against the topics
// (streams_topology.go, Kafka's InternalTopicManager): missing source topics and
// incorrectly partitioned topics are statuses, repartition topics take the largest input
// of the subtopology writing them, co-partitioned topics must agree, changelogs take the
// task count; missing internal topics are handed to the broker to create with the configs
// the topology asks for. Only a ready topology (every topic there) gets tasks; the group is
// NotReady until then.
//
// The group epoch is bumped by a new or changed member, a changed topic partition count or
// a topology becoming ready or not; the target assignment of that epoch comes from Kafka's
// sticky task assignor (streams_assignor.go: active tasks stay with their owner up to a
// balanced quota, then go to the least loaded process; standbys never share a process with
// their active task). The first member of an empty group waits streams.initial.rebalance.
// delay.ms (ASSIGNMENT_DELAYED) for others. Members reconcile as KIP-848 consumers do
// (Kafka's streams CurrentAssignmentBuilder):
//
//	reconciled ─target moved─► unrevoked: keeps what stays, must report the rest gone
//	unrevoked ─owned tasks no longer hold the revoked ones─► target epoch, with the tasks
//	           nobody holds ─► reconciled, or unreleased until the previous owners let go
//
// Invariant: an active task is given to a member only once no member holds it (assigned
// or being revoked) and the member's process holds it in no other role. Active tasks keep
// the epoch they were assigned at: an OffsetCommit at an older member epoch passes for the
// partitions of tasks assigned no later than that epoch (Kafka 4.3's per-task check), and
// TxnOffsetCommit goes through the same check. Sessions (streams.session.timeout.ms) and
// revocation (the member's rebalance timeout) expire members; epoch -1 leaves. As in Kafka
// 4.3.1: static membership, source topic regexes, task offsets and client-sent warm-up tasks
// are INVALID_REQUEST. Persisted are the group epoch (StreamsGroupMetadata, key 17) and the
// topology (StreamsGroupTopology, key 23): after a restart the group is Empty at that epoch
// with its topology (Kafka also writes members and assignments, keys 19-22).
//
// # Transactional offsets (TxnOffsetCommit, txn_offsets.go)
//
// A transactional producer's offsets (KIP-447's member and generation fencing) are written
// at once into the group's partition as a transactional batch of the producer, with its
// producer id and epoch and no sequence (Journal.AppendTxn; the engine appends it like
// Kafka's AppendOrigin.COORDINATOR: epoch checked, the producer's transaction opened, so the
// partition's last stable offset and .txnindex cover it), and answered once durable. They
// stay pending per producer id, invisible to OffsetFetch (Unstable: UNSTABLE_OFFSET_COMMIT
// when stable offsets are required), until the transaction's marker is in the partition:
// CompleteTxn then applies them in memory (COMMIT) or drops them (ABORT), writing nothing.
// Replay decides the same way from the log: pending per producer until its marker, a
// committed offset applied unless the partition's live record is later in the log (a plain
// commit and a transactional one are ordered by log position, as in Kafka), aborted ones
// dropped, open ones still pending; a plain tombstone drops the key's pending ones too, so
// an offset with a pending transactional commit does not expire (nor does a group holding
// pending offsets), as in Kafka.
//
// # Persistence: the __consumer_offsets log
//
// Records use Kafka's own key and value schemas (kmsg's OffsetCommitKey v1 / OffsetCommitValue
// v3, GroupMetadataKey v2 / GroupMetadataValue v3) in uncompressed record batches
// (segment.EncodeBatch), the layout Kafka's kafka-dump-log --offsets-decoder understands (not
// yet checked against it):
//
//	key   int16 version │ 0,1: group, topic, partition │ 2: group
//	value offset commit: offset, leader epoch, metadata, commit timestamp
//	      group metadata: protocol type, generation, protocol, leader, state time, members
//	      (id, instance id, client id/host, timeouts, subscription, assignment)
//	key 3: group (ConsumerGroupMetadataKey) │ value v0: group epoch
//	key 17: group (StreamsGroupMetadataKey) │ value v0: group epoch, metadata hash (0)
//	key 23: group (StreamsGroupTopologyKey) │ value v0: topology epoch, subtopologies
//	      null value: tombstone
//
// A group lives in partition abs(javaHashCode(group)) % partitions, Kafka's mapping. An
// OffsetCommit is acknowledged after the group commit that syncs its record; the in-memory
// offsets change at append time, in log order (a group's records are appended under its
// lock). A restart replays every partition from its log start, last write wins, tombstones
// delete, transactional records wait for their marker; classic groups with members come back Stable with their sessions restarted.
// Offsets go by OffsetDelete, expiry (offsets.retention.minutes) and the deletion of their
// topic (DeleteTopicOffsets, Kafka's onPartitionsDeleted), each as tombstones.
// Consumer groups persist only their group epoch (Kafka's member, target and current
// assignment records, keys 4-8, are not written): they come back Empty at that epoch, their
// members' heartbeats get UNKNOWN_MEMBER_ID and the clients rejoin with epoch 0, above
// every epoch used before, so an offset commit of a pre-restart epoch is refused.
//
// # Compaction
//
// __consumer_offsets is cleanup.policy=compact: the engine's log cleaner bounds it, keeping
// each key's last record and dropping tombstones delete.retention.ms after the clean that
// first reached them; this package never rewrites or deletes log data. Replay gives the same
// state from the whole log and from any compaction of it, because:
//   - a key names exactly one piece of state and is byte-identical every time it is written
//     (fixed key versions: offset commit v1 per group, topic and partition; group metadata
//     v2 and consumer group metadata v3 per group);
//   - a value is that state whole (no record is a delta of an earlier one), and replay keeps
//     only each key's last value, so it never depends on the order of records of different
//     keys (a group metadata record and its offsets are independent);
//   - transactional records: the cleaner drops aborted batches whatever their keys, never
//     maps them as a key's latest record, keeps a marker while data of its transaction
//     remains and cleans nothing past the last stable offset (an open transaction), so a
//     committed transactional record survives only with its COMMIT marker after it, and
//     one superseded by a later record of its key goes, as replay would ignore it;
//   - whatever goes is tombstoned: DeleteGroups and an expired group tombstone the group's
//     metadata record and every offset, OffsetDelete, offset expiry and a topic's
//     deletion (DeleteTopicOffsets) the offsets, a classic↔consumer conversion the other
//     kind's metadata record. Once a tombstone is
//     gone, so is every earlier record of its key.
//
// In a cluster the logs are replicated: the broker loads a Coordinator when it starts leading
// __consumer_offsets (replaying its local log, which as leader holds every committed record)
// and closes it with NOT_COORDINATOR when the lead ends (Coordinator.CloseWith). Its
// LogJournal writes every batch through JournalConfig.Append: the partition's replication
// leader, whose wait returns once the high watermark passed the batch, so a commit is
// acknowledged only once the in-sync replicas have it. The package itself knows nothing of replication.
//
// # Locks
//
// Coordinator.mu (group map) → group.mu (one group) → LogJournal.mu (closed flag; released
// before appending) → engine.Log.mu. Config.Topics is called under group.mu (the broker
// reads its metadata store, whose lock is never held while calling into the coordinator). Timer callbacks take group.mu themselves; a ManualClock runs them with
// no clock lock held. No coordinator lock is held across an fsync wait: callers wait on the
// returned functions after the locks are released.
package group
