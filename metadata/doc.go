// Package metadata holds the cluster's metadata: Quorum, the Raft-replicated cluster state
// (the KRaft idea on hashicorp/raft) — brokers, topics, partition assignments, leaders, leader
// and partition epochs, ISRs, configs, producer id blocks and finalized feature levels
// (features.go: UpdateFeatures' SetFeatureLevels, stamped with the controller's clock when
// proposed), dynamic broker configs (broker_configs.go: AlterBrokerConfigs, per broker id
// and for the cluster default), group configs (group_configs.go: AlterGroupConfigs) and
// client-metrics subscriptions (client_metrics.go: AlterClientMetrics, KIP-714). Every logd
// node runs one; a single node's is a quorum of one voter.
//
// Data directories of the release before the quorum kept a single node's topics in a JSON
// file (logd-metadata.json) and its producer id block in another: ReadLegacy reads them once,
// the ImportTopics command brings them into the quorum, RetireLegacy renames them (legacy.go).
//
// # The replicated state machine
//
//	Raft log entry  = EncodeCommand(command)        JSON {"op": ..., "body": ...}
//	ClusterState    = Apply(entry 1) … Apply(entry n), or a snapshot + the entries after it
//
// ClusterState.Apply is deterministic: no clock, no randomness, maps iterated in sorted order,
// so every voter computes the same state. What needs time or chance is decided by the
// controller (the Raft leader) before it proposes: new topic ids, broker liveness (Heartbeats
// stays in the controller's memory; only its FenceBroker/UnfenceBroker decisions are logged),
// a feature change's epoch. UnregisterBroker (unregister.go) removes a registration after its
// leaderships and ISR places, as fencing does. Log directories (dirs.go, KIP-858): a
// registration names the broker's online directories, AssignReplicasToDirs records each
// replica's directory, and DirectoriesOffline (a heartbeat's OfflineLogDirs) takes the
// replicas of a failed directory out of their ISRs and leaderships, as fencing does for one
// partition at a time.
//
// Invariants after every command (checked by TestApplyIsDeterministic): every partition's ISR
// is a non-empty subset of its replicas; a partition's leader is NoLeader or an ISR member that
// is registered, unfenced and not shutting down, with its replica in an online directory; the
// leader epoch changes exactly when the leader does and the partition epoch with every change
// of the partition, so a proposal based on an older partition epoch (AlterPartition) is
// refused. Leaders come from the ISR; a replica outside it leads only with
// unclean.leader.election.enable=true on the topic or an explicit unclean ElectLeaders.
//
// Controller is the active controller's broker lifecycle on top of a Quorum: registration,
// heartbeats (kept in memory), fencing brokers whose session ran out, unfencing brokers that
// caught up, controlled shutdown. A node builds one when it becomes the Raft leader (after a
// Barrier, so its state is current).
//
// # Raft
//
// Quorum runs hashicorp/raft with the TCP transport on the controller listener (secured by
// RaftSecurity when that listener is SSL or SASL: raftstream.go's stream layer authenticates
// each connection before Raft reads a byte of it), LogStore (our
// own Raft log, see its doc for the choice and its fsync rules) and hashicorp's file snapshot
// store. Without voters it bootstraps a one-voter quorum of itself (single-node logd): without
// a controller listener too, its transport is Raft's in-memory one (a lone voter sends
// nothing), and its heartbeat timeout is Raft's minimum, so it elects itself in 5-10 ms
// instead of waiting out a timeout meant for a leader it does not have (with a listener it
// may grow, and keeps the ordinary timeouts). With voters every
// node bootstraps the same voter list on first start. Snapshots (the state as JSON) are taken
// every SnapshotThreshold entries and the log is compacted behind them, so it stays small.
// The TCP transport is wrapped (quorum_status.go) so the leader records each voter's last
// index and reply times from its AppendEntries answers: Quorum.Status, DescribeQuorum's source.
//
// # Growing and shrinking the quorum (KIP-853)
//
// The voter set is hashicorp/raft's configuration, in the Raft log, so every change survives
// restarts (quorum_membership.go). To grow: a new node opens its quorum with Join (no voter
// set, empty log: it bootstraps nothing); the leader adds it as an observer (AddObserver,
// raft.AddNonvoter: it replicates, neither votes nor counts for commits); AddVoter
// (AddRaftVoter) promotes it once its log has reached the leader's commit index and records
// its metadata directory id (SetVoterDirectory, in ClusterState.VoterDirs). To shrink:
// RemoveVoter (RemoveRaftVoter, raft.RemoveServer), refused for a directory id that is not
// the voter's (ErrVoterNotFound) or the last voter; a leader removing itself hands its
// leadership to another voter first. One change at a time (ErrVoterChangeInProgress). A
// one-voter quorum with a controller listener keeps Raft's ordinary timeouts (only one
// without, which can never grow, starts in milliseconds): a 5 ms leader lease would make a
// grown leader step down at every scheduling hiccup.
package metadata
