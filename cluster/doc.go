// Package cluster makes logd brokers one cluster: each Node is a broker plus a voter of the
// Raft metadata quorum (metadata.Quorum), as in KRaft's combined mode. A single `logd serve`
// is a cluster of one: the same Node, a quorum of one voter, every partition led with an ISR
// of one. There is no other broker path, so every test of the broker runs what production
// runs.
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
//     (BrokerRegistration, BrokerHeartbeat, AlterPartition, AllocateProducerIds,
//     AssignReplicasToDirs); topic
//     changes a non-controller receives are sent on to it as the client's request
//     (CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs; a BROKER resource's dynamic
//     configs as an AlterConfigs of the whole set, broker_configs.go), and so are UpdateFeatures
//     (features.go), UnregisterBroker (unregister.go), DescribeQuorum (quorum_status.go:
//     only the Raft leader knows each voter's progress) and Create/Renew/ExpireDelegationToken
//     (delegation_tokens.go: with the requester's principal in a tagged field; the controller
//     also removes expired tokens).
//   - The voters speak Raft to each other on the controller listener, secured as
//     Config.ControllerSecurity says (metadata.RaftSecurity: mTLS for SSL, a SASL exchange
//     for SASL_PLAINTEXT and SASL_SSL, super.users with an authorizer); a peer that fails is
//     refused before Raft sees it, so only the cluster's controllers can vote or replicate.
//   - Every node runs its broker's lifecycle (lifecycle.go): register, heartbeat, controlled
//     shutdown. Its log directories (dirs.go, KIP-858): the registration names the online
//     ones, each heartbeat the offline ones (the controller then moves the leadership of
//     their partitions), and AssignReplicasToDirs tells the controller which directory holds
//     each replica. Once it knows the cluster's id it writes it to every directory's
//     meta.properties (cluster.id, as Kafka's format would have).
//   - Every node's metadata listener (reconcile.go) turns the partitions assigned to it into
//     broker roles, in the order the state changed: Lead when the state names it leader (with
//     the leader epoch), Follow the named leader otherwise, stop when there is no leader or
//     it is no longer a replica, remove the logs of deleted topics. Before each pass it has
//     the broker apply the dynamic broker configs (Broker.ApplyDynamicConfigs), so logs open
//     with the topic defaults in force.
//   - Consumer groups: the broker runs a group coordinator for each __consumer_offsets
//     partition it leads (broker/groups.go), journaling through that partition's leader with
//     acks=all; FindCoordinator names the group's partition leader.
//   - Transactions: likewise a transaction coordinator for each __transaction_state partition
//     it leads (broker/txns.go, package txn); the new leader of a partition resumes its
//     transactions (markers of prepared ones sent again, ongoing ones keep their timeout).
//
// # A cluster of one
//
// A Node without Voters bootstraps a quorum of itself on first start, in the data directory
// (__cluster_metadata), and opens no controller port: its Raft transport is hashicorp/raft's
// in-memory one. A lone voter never sends a Raft message (it votes for itself and commits
// alone), so any transport would carry nothing; the in-memory one needs no port to choose,
// bind, or collide with another process on (an ephemeral loopback port would, and would be
// one more thing a zero-config start can fail on). Its address is a fixed name
// (inmem:node-ID), so the Raft configuration in the log stays valid across restarts. Started
// later with --controller-listen and no voters, the same directory runs on TCP as the same
// one-voter quorum and can grow (a leader puts its own listener's address in the Raft
// configuration when the one there is stale: metadata.Quorum's updateOwnAddress).
//
// # Growing and shrinking (KIP-853)
//
// A node started with a controller listener and no voters can grow. A new node with
// Config.JoinVia (serve's --controller-quorum-bootstrap-servers: Kafka addresses of brokers of
// the cluster) opens its quorum member with an empty log and no voter set, and announces its
// controller listener with ControllerRegistration to those brokers (runAnnounce,
// quorum_membership.go) until the quorum's leader has added it as an observer: it then
// replicates the metadata, registers its broker and serves. The active controller takes an
// observer that stopped out of the Raft configuration (metadata.ObserverExpiry: after Kafka's
// 5-minute observer session, or a few seconds once its broker is fenced); an observer that no
// longer hears from a leader announces itself again, to JoinVia's brokers and those its
// metadata lists, and is added anew. AddRaftVoter and RemoveRaftVoter
// (Node.AddVoter, Node.RemoveVoter) run on the leader or are sent on to it; a leader asked to
// remove itself hands over its leadership first and the request goes again to the new one.
// The Raft configuration is in the log: restarts need neither JoinVia nor voters.
//
// Start-up is what a single node waits for before it serves, and it is short:
//
//   - Raft: hashicorp/raft v1.8.0 starts every node as a follower that waits a heartbeat
//     timeout (randomized up to twice that) for a leader before running for election, even a
//     lone voter: 0.5-1 s with the cluster's 500 ms. A one-voter quorum without a controller
//     listener uses Raft's minimum, 5 ms (metadata.OpenQuorum); the vote and term are still
//     fsync'd before it leads. One with a listener (it may grow) waits the 0.5-1 s.
//   - The lifecycle registers as soon as this node becomes the controller and heartbeats
//     right after registering, so the broker is unfenced (and elected leader of its
//     partitions) within milliseconds rather than heartbeat intervals.
//   - A restarted single node's previous incarnation is still registered (a lone broker has
//     no one to hand leadership to at shutdown). Its controller — this process — knows that
//     incarnation is gone and replaces it at once instead of waiting out its session.
//
// Node.Ready is closed once the broker is registered, unfenced, the older metadata imported
// and the broker's roles taken; `logd serve` of a one-voter quorum says "logd ready" then.
// Measured on an empty data directory (2 shared cores): "logd ready" at startup=33-56 ms, the
// first Metadata naming a controller 50-80 ms after the process starts, against 1.0-2.6 s for
// a one-voter quorum before (whose startup= did not include the election). Most of what is
// left is fsyncs: the bootstrap, the term and vote, the first entries.
//
// Topic changes (CreateTopic, DeleteTopic, SetPartitions) return once this node's metadata
// listener has applied them (bounded wait): a single node leads a new topic before the client
// hears back, and a deleted topic's logs are gone before its name can be reused.
// These waits (and AllocateProducerIDs' round trip) block their caller: the broker calls
// them from its own small catalog queues, never from a network worker (broker/deferred.go,
// catalogQueue, says why a queue and not a callback).
//
// # Older data directories
//
// A data directory of the release before the quorum holds its metadata in
// logd-metadata.json and producer-id-block (see metadata.ReadLegacy). Start reads them; the
// node's first term as controller imports them (metadata.ImportTopics: the old cluster id,
// topics with their ids, partition counts and configs, all on this node; producer ids go on
// above the old block) and renames the files *.imported, so a topic deleted later stays
// deleted. The partition logs and __consumer_offsets are used where they are: a group maps to
// the same offsets partition as before (group.PartitionFor over the same partition count).
//
// # Tests of the broker package
//
// The broker's internal tests build their broker through broker.StartNode, which the
// external test file broker/node_test.go (package broker_test) sets to start a one-voter
// Node. This package imports broker, so internal broker tests cannot import it; an external
// test file can (Go builds this package against the broker under test), and the hook keeps
// the internal tests' access to the broker's internals. The alternatives cost more: moving
// every broker test to an external package (they read the broker's state directly), or
// splitting this package so a part of it builds without broker.
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
// Node.mu guards the controller connection used by topic changes (and the directory
// assignments of runDirAssignments); the lifecycle loop owns its own connection. The view is an atomic pointer, the active controller another; neither
// is held across a call. The reconcile loop's state is owned by its goroutine; it publishes
// the view index it applied last (an atomic), which topic changes wait for holding only the
// broker's admin lock, never taken by that loop. The older metadata to import is an atomic
// pointer, cleared by the controller loop once imported.
package cluster
