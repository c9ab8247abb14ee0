// Package acl is logd's authorizer: Kafka's ACL model with the semantics of KRaft's
// StandardAuthorizer (metadata/.../authorizer/StandardAuthorizerData.java), enabled by
// authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer (empty: no
// authorization, as in Kafka).
//
// # The model
//
// An ACL (Binding) allows or denies a principal ("User:alice", or User:* for everyone)
// connecting from a host (an IP address, or * for any) one operation on the resources a
// pattern names: a resource type (TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN,
// USER) and a name, LITERAL (the name itself, or * for every resource of the type) or
// PREFIXED (every name starting with it). Codes are Kafka's wire codes.
//
// A request is decided (Authorizer.Authorize) in this order:
//
//  1. a principal of super.users is allowed everything;
//  2. the ACLs that apply are those of the resource's literal name, the literal *, and every
//     prefix of the name; among them, those of the principal (or User:*) and host (or *);
//  3. a DENY for the operation (or ALL) denies, whatever allows it;
//  4. an ALLOW for the operation, ALL, or an operation implying it allows: READ, WRITE,
//     DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS;
//  5. otherwise denied, unless no ACL at all applies to the resource (for anyone) and
//     allow.everyone.if.no.acl.found is true.
//
// AuthorizeByResourceType answers "may the principal do op on some resource of a type"
// (Kafka's Authorizer.authorizeByResourceType): InitProducerId of an idempotent producer
// needs IDEMPOTENT_WRITE on the cluster or WRITE on any topic (KIP-679).
//
// # Storage and the hot path
//
// ACLs live in the Raft metadata (metadata.CreateACLs, metadata.DeleteACLs), replicated to
// every node; CreateAcls and DeleteAcls go to the controller (the cluster package forwards
// them from other nodes). Each node's broker installs the ACLs of its metadata view with
// Update at every change (a version, the Raft index, keeps concurrent updates from going
// back); Update compiles an immutable index — per resource type, literal ACLs by name and
// prefixed ones by prefix with their distinct lengths — and publishes it with one atomic
// store. Authorize loads it with one atomic load, probes one map per distinct prefix length
// and allocates nothing (BenchmarkAuthorize: ~100 ns with 200 ACLs, 0 allocs).
//
// # The controllers' Raft
//
// Raft between the voters does not go through Authorize: the ACLs are in the quorum a peer
// is trying to reach. A secured controller listener (metadata.RaftSecurity) lets in, with an
// authorizer, only a peer whose principal (its certificate's mapped subject, or its SASL user)
// is in super.users (IsSuperUser), where Kafka's controllers need CLUSTER_ACTION on the
// cluster from each other.
//
// # What each API checks (broker/authz.go; Kafka's KafkaApis)
//
//	API                         checks                                   refusal
//	Produce                     WRITE on TRANSACTIONAL_ID (transactional TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
//	                            batches), WRITE on each topic            every partition; TOPIC_AUTHORIZATION_FAILED
//	Fetch                       consumer: READ on each topic;            TOPIC_AUTHORIZATION_FAILED per partition
//	                            follower: CLUSTER_ACTION
//	ListOffsets                 DESCRIBE on each topic                   TOPIC_AUTHORIZATION_FAILED per partition
//	Metadata                    DESCRIBE on each topic (all-topics:      TOPIC_AUTHORIZATION_FAILED per named topic
//	                            unauthorized ones left out);
//	                            auto-create: CREATE on cluster or topic
//	OffsetCommit                READ on the group, READ on each topic    GROUP_/TOPIC_AUTHORIZATION_FAILED
//	OffsetFetch                 DESCRIBE on the group; DESCRIBE on each  GROUP_AUTHORIZATION_FAILED;
//	                            topic (all-topics: unauthorized left out) TOPIC_AUTHORIZATION_FAILED per partition
//	FindCoordinator             DESCRIBE on the group / transactional id GROUP_/TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	JoinGroup, SyncGroup,       READ on the group                        GROUP_AUTHORIZATION_FAILED
//	Heartbeat, LeaveGroup,
//	ConsumerGroupHeartbeat
//	DescribeGroups,             DESCRIBE on each group                   GROUP_AUTHORIZATION_FAILED per group
//	ConsumerGroupDescribe
//	ListGroups                  DESCRIBE on the cluster, else on each    (groups left out)
//	DeleteGroups                DELETE on the group                      GROUP_AUTHORIZATION_FAILED
//	OffsetDelete                DELETE on the group, READ on each topic  GROUP_AUTHORIZATION_FAILED;
//	                                                                     TOPIC_AUTHORIZATION_FAILED per partition
//	ShareGroupHeartbeat,        READ on the group; DESCRIBE on each      GROUP_/TOPIC_AUTHORIZATION_FAILED
//	StreamsGroupHeartbeat       subscribed or source topic; to create    status MISSING_INTERNAL_TOPICS with
//	                            internal topics CREATE on the cluster,   "Unauthorized to CREATE on topics ..."
//	                            else on each (one denied: none created)
//	ShareFetch,                 READ on the group, READ on each topic    GROUP_AUTHORIZATION_FAILED;
//	ShareAcknowledge                                                     TOPIC_AUTHORIZATION_FAILED per partition
//	Share/StreamsGroupDescribe, DESCRIBE on each group                   GROUP_AUTHORIZATION_FAILED per group
//	DescribeShareGroupOffsets
//	AlterShareGroupOffsets,     READ / DELETE on the group, READ on      GROUP_/TOPIC_AUTHORIZATION_FAILED
//	DeleteShareGroupOffsets     each topic
//	CreateTopics                CREATE on the cluster or the topic;      TOPIC_AUTHORIZATION_FAILED per topic
//	                            its configs answered with DESCRIBE_CONFIGS (in its config error code)
//	DeleteTopics, DeleteRecords DELETE on the topic                      TOPIC_AUTHORIZATION_FAILED
//	CreatePartitions            ALTER on the topic                       TOPIC_AUTHORIZATION_FAILED
//	DescribeConfigs,            DESCRIBE_CONFIGS / ALTER_CONFIGS on the  TOPIC_/CLUSTER_/GROUP_AUTHORIZATION_FAILED
//	AlterConfigs, Incremental…  topic, cluster (broker) or group         per resource
//	InitProducerId              WRITE on the transactional id; without:  TRANSACTIONAL_ID_/CLUSTER_AUTHORIZATION_FAILED
//	                            IDEMPOTENT_WRITE on cluster or WRITE on
//	                            any topic
//	AddPartitionsToTxn          v0-3: WRITE on the id and each topic;    TRANSACTIONAL_ID_/TOPIC_AUTHORIZATION_FAILED
//	                            v4+ (brokers): CLUSTER_ACTION            (others OPERATION_NOT_ATTEMPTED)
//	AddOffsetsToTxn             WRITE on the id, READ on the group       TRANSACTIONAL_ID_/GROUP_AUTHORIZATION_FAILED
//	EndTxn                      WRITE on the transactional id            TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	TxnOffsetCommit             WRITE on the id, READ on group and topic as OffsetCommit
//	DescribeTransactions        DESCRIBE on each transactional id        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	ListTransactions            DESCRIBE on each id                      (left out)
//	DescribeProducers           READ on each topic                       TOPIC_AUTHORIZATION_FAILED
//	OffsetForLeaderEpoch        DESCRIBE on each topic; follower:        TOPIC_AUTHORIZATION_FAILED
//	                            CLUSTER_ACTION
//	DescribeAcls                DESCRIBE on the cluster                  CLUSTER_AUTHORIZATION_FAILED
//	CreateAcls, DeleteAcls,     ALTER on the cluster                     CLUSTER_AUTHORIZATION_FAILED
//	ElectLeaders, AlterPartition-
//	Reassignments
//	ListPartitionReassignments, DESCRIBE on the cluster                  CLUSTER_AUTHORIZATION_FAILED
//	DescribeLogDirs, DescribeUser-
//	ScramCredentials
//	AlterUserScramCredentials   ALTER on the cluster                     CLUSTER_AUTHORIZATION_FAILED per user
//	CreateDelegationToken       for an owner other than the requester    DELEGATION_TOKEN_AUTHORIZATION_FAILED
//	                            (KIP-373): CREATE_TOKENS on that USER
//	DescribeDelegationToken     a token not owned or renewable by the    (left out)
//	                            requester: DESCRIBE on its
//	                            DELEGATION_TOKEN or DESCRIBE_TOKENS on
//	                            its owner's USER
//	Create/Renew/Expire…Token   sent on by another broker: the sender    (the principal it names is
//	                            needs CLUSTER_ACTION                     ignored)
//	WriteTxnMarkers, Broker-    CLUSTER_ACTION                           CLUSTER_AUTHORIZATION_FAILED
//	Registration, BrokerHeart-
//	beat, AlterPartition,
//	AllocateProducerIds
//
// ApiVersions, SaslHandshake, SaslAuthenticate, DescribeCluster, GetTelemetrySubscriptions and
// PushTelemetry check nothing; Renew and ExpireDelegationToken check ownership instead (owner
// or renewer, else DELEGATION_TOKEN_OWNER_MISMATCH), as Kafka.
// Metadata, DescribeCluster and DescribeGroups report KIP-430 authorized operations when
// asked (every supported operation without an authorizer, as Kafka). Every denial a client
// asked about by name is logged at INFO ("authorization denied", with principal, host,
// operation and resource: Kafka's authorizer audit log); filtered listings are not.
//
// Brokers talk to each other with their listener's principal: as in Kafka, that principal
// must hold CLUSTER_ACTION (usually by being in super.users: User:ANONYMOUS for a PLAINTEXT
// inter-broker listener; on a SASL one the broker's own login, e.g. User:broker from
// listener.name.<l>.<mechanism>.sasl.jaas.config's username, and a SASL listener never
// serves an unauthenticated, ANONYMOUS connection).
package acl
