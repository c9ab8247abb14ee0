// Package chaos checks logd under faults the way Jepsen checks Kafka: a workload of
// idempotent producers (acks=all) and assign-mode consumers runs against a testcluster while a
// fault is injected and healed, then every partition is read to its end and the history is
// checked for Jepsen's anomaly classes (see Check and Report); a transactional workload is
// checked for the transaction anomalies the same way (see CheckTxn and TxnReport).
//
// The checkers, the workloads and the EndTxn delayer build everywhere and their unit tests run
// in the default suite. The fault scenarios and the failover-time measurement start real clusters
// and sit behind the chaos build tag:
//
//	make chaos            # go test -tags chaos -count=1 -v -timeout 30m ./chaos
//	make failover-bench   # TestFailoverTime alone
//
// TestChaos runs each scenario on a fresh 3-node cluster (1 node, kill-leader only, if the
// binary has no cluster mode; CHAOS_NODES overrides, CHAOS_LOGD names another binary):
// kill -9 of a partition leader and of the controller, SIGSTOP of a leader for longer than the
// broker session, a leader cut off from everyone, a leader and the controller cut off from
// their peers while clients still reach them, and a rolling SIGTERM restart. Zero anomalies is
// the bar. TestNegativeControl repeats the minority-leader partition with acks=1 producers and
// requires lost writes, so a checker or fault that stopped biting fails too. TestFailoverTime
// kills a leader under a steady acks=all producer five times and requires a median failover
// of at most 2s.
//
// TestTxnChaos does the same for transactions (TxnWorkload, CheckTxn). An idempotent producer
// writes an input topic; three consume-transform-produce workers (franz-go's
// GroupTransactSession, one group, read_committed) copy each input value into a transaction
// over the output topic's partitions that also commits their input offsets; two producers
// write transactions of 2 to 5 records of their own across the output's partitions; workers
// and producers abort a fifth of their transactions on purpose. Every record names its
// transaction, its place and the transaction's size (TxnValue). Two read_committed consumers
// poll the output throughout. After the fault the writers stop, the workers drain the input,
// a non-transactional sentinel is appended to every output partition, and the output is read
// to the sentinels with read_committed and with read_uncommitted. CheckTxn counts Jepsen's
// transaction anomalies: aborted reads (G1a), reads before the commit was asked for, torn
// transactions, lost transactions and inputs, inputs carried twice, duplicated records,
// non-monotonic, skipped and divergent read_committed polls, records nobody wrote, and
// Check's anomalies on the input. Scenarios: kill -9 of the node coordinating most
// transactional ids (FindCoordinator key type 1), kill -9 of an output partition leader that
// coordinates none of them (the ids are picked so), that coordinator cut off from everyone,
// the same coordinator cut off from its peers while clients still reach it, and endtxn-delay: one producer dials through an EndTxnDelayer that holds three of its
// EndTxn requests past the client's timeout, so the client retries, moves on, and the held
// request reaches the coordinator during a later transaction (KAFKA-17754). Under transaction
// version 1 that late EndTxn ends the wrong transaction, in logd as in Kafka; the scenario
// then logs its anomalies instead of failing, and must show none once the cluster finalizes
// transaction version 2.
//
// Node logs of each scenario go to chaos/.logs/<scenario>.log (txn-<scenario>.log for the
// transaction scenarios; endtxn-delay also writes the delayed producer's franz-go log to
// txn-endtxn-delay-client.log).
package chaos
