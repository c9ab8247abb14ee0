// Package share is logd's share groups (KIP-932, Kafka's queues): many consumers read the
// same partitions, each record is locked by the member that acquired it and acknowledged one
// by one. It holds the group membership a coordinator keeps (ShareGroupHeartbeat,
// ShareGroupDescribe), the share sessions of the members fetching from this broker and the
// share partitions of the partitions led here (ShareFetch, ShareAcknowledge), modelled on
// Kafka's GroupCoordinatorService (share groups), SharePartitionManager and SharePartition.
// It reads no log itself: the broker reads batches and hands their offsets in.
//
// # Membership
//
// A member joins with epoch 0 and a subscription; every change of membership,
// subscriptions or a subscribed topic's partition count bumps the group epoch, and the
// member's next heartbeat gets the new epoch and its assignment at once (share groups have
// no revocation: a partition may be read by several members). The assignor spreads
// partitions like Kafka's simple assignor (every partition assigned; more members than
// partitions share them). A member's epoch must be its current or previous one
// (FENCED_MEMBER_EPOCH); -1 leaves; a member silent for group.share.session.timeout.ms is
// removed. Leaving or expiring releases every record the member holds.
//
// # Share partitions
//
//	offsets:  ... done ... │ start (SPSO) ── in-flight records ── │ end (SPEO) ... never acquired ...
//	record:   Available ─acquire─► Acquired ─accept─► Acknowledged
//	                         │  ▲      ├─reject/gap─► Archived
//	                         │  └renew─┤
//	                         └◄release, lock expiry, member gone─┘ (Archived once delivered
//	                                                               share.delivery.count.limit times)
//
// A share partition starts, when first fetched, at the high watermark
// (share.auto.offset.reset=latest), the log start (earliest) or the first record at most a
// duration old (by_duration:<ISO-8601 duration>, found through LogOffsets.ByTime, the
// ListOffsets-by-timestamp path; the high watermark when none is that recent). The session
// timeout, heartbeat interval, lock duration, delivery count limit, in-flight record limit,
// offset reset, isolation level and whether locks may be renewed are the group's own
// configs where it has them (Config.GroupConfigs: GROUP config resources, GroupSettings),
// else Config's. Acquisition takes whole
// batches from the first available offset (up to MaxRecords, and at most
// group.share.partition.max.record.locks in flight), counts a delivery per record and locks
// it for share.record.lock.duration.ms: one timer per acquisition, which releases the
// records still held under it. Control batches and, for read_committed, aborted
// transactions' batches are archived without delivery. The start offset moves past every
// Acknowledged or Archived record; retention moving the log start past it archives the
// records deleted. Acknowledgements are all-or-nothing per partition: an offset not held by
// the member refuses the partition's batch with INVALID_RECORD_STATE.
//
// # Share sessions
//
// A ShareFetch with epoch 0 opens the member's session (replacing an older one, whose
// records are released); later requests must carry the session's next epoch
// (INVALID_SHARE_SESSION_EPOCH; SHARE_SESSION_NOT_FOUND without a session); epoch -1 closes
// it after its acknowledgements and releases what the member still holds, as does the
// closing of the connection that opened it (ConnClosed). Fetches add
// partitions to the session and ForgottenTopicsData removes them.
//
// # Durability
//
// Every change of a share partition's start offset or delivery states (acknowledgements,
// releases, lock expiries, members leaving, resets) hands a Snapshot to Config.Persist, in
// order, under the lock: the broker appends it to __share_group_state as Kafka's
// ShareSnapshot record (records.go) when it leads the share partition's state partition,
// keeping the state and leader epochs the share coordinator APIs (83-87, answered by the
// broker) set, and otherwise writes it through those APIs on the broker that leads it
// (WriteShareGroupState; a reset, Snapshot.Reset, is an InitializeShareGroupState with the
// next state epoch). ShareAcknowledge and AlterShareGroupOffsets wait for its durability. A
// share partition first used on a broker starts from its snapshot (Config.Load, a
// ReadShareGroupState when another broker holds it). Acquisitions are not persisted: after
// a restart or a failover an acquired record is available again, with the delivery count of
// the last snapshot.
// When the broker finds the persisted state fenced (FENCED_STATE_EPOCH: it was initialized
// anew elsewhere, with a state epoch newer than the one the share partition was loaded
// with), whether it holds the state partition itself or another broker does, the write
// fails, Reload drops the share partition, and its next use loads it again.
//
// A share group's coordinator persists the group itself (group_records.go: Kafka's
// ShareGroupMetadata and ShareGroupStatePartitionMetadata records, written by the broker to
// __consumer_offsets whenever a heartbeat moves the group epoch): after a restart the group
// is known again without members (Restore), with its epoch and the share partitions of its
// subscribed topics. Members are not persisted: they rejoin (UNKNOWN_MEMBER_ID), as KIP-848
// consumers do after a coordinator restart.
//
// # Locks
//
// Coordinator.mu guards everything. Nothing of this package is taken under it; Config.Persist
// runs under it (the broker's journal append: replication.LeaderPartition.mu and
// engine.Log.mu, never an fsync wait), as does LogOffsets.ByTime (a read of the partition's
// time index, once per share partition created); Config.Load, Config.Available and timer
// callbacks run without it.
package share
