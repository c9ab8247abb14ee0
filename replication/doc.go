// Package replication is ISR replication's logic: what a partition leader knows about its
// followers, when the high watermark moves, when the ISR shrinks or grows, when an acks=all
// produce is answered, and how a follower finds where its log diverged from a new leader's.
//
// The core is pure: Leader is a state machine fed with events (an append, a follower's fetch,
// the clock, the controller's answer) that returns a Ready describing what to do (set the log's
// high watermark, answer produce requests, send an ISR change to the controller). It does no
// I/O and reads no clock: every call takes the time, so tests drive it deterministically. A
// driver owns the sockets and the engine.Log and applies each Ready outside its locks, the
// way etcd's raft hands out Ready.
//
// # Roles and epochs
//
//	leader epoch      bumped by the controller on every leader change; stamped into batches
//	partition epoch   bumped by the controller on every change of leader, replicas or ISR;
//	                  an ISR change based on an older partition epoch is rejected
//	ISR               committed by the controller; the leader proposes changes (AlterPartition)
//	maximal ISR       committed ISR ∪ a proposed addition: a replica counts for the high
//	                  watermark as soon as its addition is proposed, a removal only once committed
//
// # When the high watermark may move (leader)
//
//	HW = min(leader LEO, LEO of every maximal-ISR follower,
//	         LEO of every other follower caught up within replica.lag.time.max.ms)
//
// and it only ever increases while one leader epoch lasts. A follower whose LEO is unknown
// (it has not fetched since this leader was elected) holds the HW where it is. Counting
// recently caught-up non-ISR followers (as Kafka does) keeps a follower that is catching up from
// being outrun forever by a leader whose ISR is itself alone.
//
// # ISR changes (leader)
//
//   - shrink: an ISR follower that has neither reached the leader's LEO nor been caught up within
//     replica.lag.time.max.ms is proposed out. "Caught up" follows Kafka: a fetch at or beyond the
//     leader's LEO at that fetch, or at or beyond the leader's LEO as of the previous fetch (then
//     it was caught up as of the previous fetch's time).
//   - expand: a follower outside the ISR joins once its LEO has reached both the HW and the start
//     offset of the current leader epoch (so it holds nothing from a diverged older epoch), and
//     the broker is eligible (not fenced, not shutting down).
//   - one change is in flight at a time; it is cleared when the controller commits a newer
//     partition epoch or the proposal fails, and proposed again from the current state.
//
// # acks=all
//
// Before the append: fewer committed ISR members than min.insync.replicas is
// NOT_ENOUGH_REPLICAS, and nothing is appended. After it: the request waits until the HW passes
// its last offset; then it succeeds, or gets NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank
// below min.insync.replicas meanwhile. A wait that ends without the HW passing the offset (the
// leader resigned, the request timed out) has an unknown outcome and is answered with a
// retriable error (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT), never a definite failure.
//
// # Truncation (follower)
//
// After a leader change a follower asks the leader (OffsetForLeaderEpoch) where the follower's
// latest epoch ended in the leader's log and truncates there (KIP-101). If the leader answers
// with an older epoch the follower does not have, the follower truncates to the end of its own
// largest epoch below that one and asks again (KIP-279), until it reaches a common epoch.
// DecideTruncation is one such step.
//
// # Drivers
//
// Follower is the follower-side driver of one partition: truncation rounds, then fetches whose
// batches are appended as they are (offsets and leader epochs kept) through a LeaderClient; a
// follower below the leader's log start (out of range, and ListOffsets earliest says so)
// restarts its log there (engine.Log.TruncateFullyAndStartAt). Conn is the LeaderClient over
// the Kafka protocol (Fetch v12, OffsetForLeaderEpoch v3 and ListOffsets v4, replica id set),
// framed by internal/kwire, logd's one Kafka wire client.
//
// Fetcher runs the Followers of every partition led by one broker over one connection, one
// Fetch for all of them per round (Kafka's ReplicaFetcherThread), redialing with backoff; the
// broker keeps one per leader (Broker.Follow). With FetcherConfig.Fsync (logd.replica.fsync)
// it waits for the group commit covering a round's appends before the next Fetch, whose
// offset is what the leader counts as the follower's log end: acks=all then means on every
// in-sync replica's disk. Without it (the default, as Kafka) a follower acknowledges what is
// in its page cache.
//
// LeaderPartition is the leader-side driver: the broker installs one per
// led partition with Broker.Lead; produce requests append through it, and every follower
// Fetch reports its fetch offset to it (FollowerFetched) before the broker reads up to the
// log end. The offset is judged against the log's own end offset, fed to the Leader first:
// an append wakes parked follower fetches before it reports the new end to the Leader, so a
// follower may report an end the Leader has not heard of yet. Both drivers need logs opened with engine.OpenOptions.Replicated
// (ErrNotReplicated otherwise), so the high watermark is replication's and is checkpointed.
// A new leader records its epoch's start at its log end when elected, as Kafka does.
//
// Measurements: an Observer (Config.Observer, FetcherConfig.Observer; the broker's metrics)
// gets each leader append's time to commit (appended → the high watermark passes it, timed
// by LeaderPartition, at most maxPendingCommits appends at once) and each follower fetch
// round trip with the bytes it brought, 0 when the leader's long poll expired empty.
//
// Transactions: the leader appends a transaction marker (WriteTxnMarkers) through
// LeaderPartition.AppendTxnMarker, with acks=all's check and wait. Followers copy markers
// and transactional batches like any batch; the engine rebuilds the same transaction state
// from them (open transactions, last stable offset, aborted transactions and .txnindex),
// and a truncation below a marker reopens its transaction. A marker counts as decided for the
// last stable offset only once the high watermark passes it.
package replication
