// Package cluster makes logd brokers one cluster: each Node is a broker plus a voter of the
// Raft metadata quorum (metadata.Quorum), as in KRaft's combined mode.
//
// # Roles
//
//   - Every node applies the replicated ClusterState. Its view (an immutable copy, swapped
//     atomically at every change) answers the broker's catalog reads: topics, partitions,
//     live brokers, the controller.
//   - The Raft leader is the active controller (controller.go): it registers brokers, keeps
//     their heartbeats in memory and fences those whose session ran out, unfences brokers
//     that caught up, serves ISR changes (AlterPartition), producer id blocks and topic
//     changes. Brokers reach it over its Kafka listener with KRaft's own requests
//     (BrokerRegistration, BrokerHeartbeat, AlterPartition, AllocateProducerIds); topic
//     changes a non-controller receives are sent on to it as the client's request
//     (CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs).
//   - Every node runs its broker's lifecycle (lifecycle.go): register, heartbeat, controlled
//     shutdown.
//   - Every node's metadata listener (reconcile.go) turns the partitions assigned to it into
//     broker roles, in the order the state changed: Lead when the state names it leader (with
//     the leader epoch), Follow the named leader otherwise, stop when there is no leader or
//     it is no longer a replica, remove the logs of deleted topics.
//   - Consumer groups: the broker runs a group coordinator for each __consumer_offsets
//     partition it leads (broker/groups.go), journaling through that partition's leader with
//     acks=all; FindCoordinator names the group's partition leader.
//
// # Timeouts (the failover trade-off)
//
// A dead leader is replaced once the controller fences it: after SessionTimeout without a
// heartbeat (broker.session.timeout.ms; default 1 s here, 9 s in Kafka). If the dead node was
// also the controller, Raft first elects a new one (HeartbeatTimeout and ElectionTimeout,
// 500 ms each), whose sessions all start at its election. Shorter timeouts fail over faster
// and fence brokers that merely paused (GC, a busy machine) more often; a fenced broker
// rejoins by itself once its heartbeats get through again, after catching up.
//
// # Locks
//
// Node.mu guards the controller connection used by catalog changes; the lifecycle loop owns
// its own connection. The view is an atomic pointer, the active controller another; neither
// is held across a call. The reconcile loop's state is owned by its goroutine.
package cluster
