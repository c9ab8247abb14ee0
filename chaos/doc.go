// Package chaos checks logd under faults the way Jepsen checks Kafka: a workload of
// idempotent producers (acks=all) and assign-mode consumers runs against a testcluster while a
// fault is injected and healed, then every partition is read to its end and the history is
// checked for Jepsen's anomaly classes (see Check and Report).
//
// The checker and the workload build everywhere and the checker's unit tests run in the
// default suite. The fault scenarios and the failover-time measurement start real clusters
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
// Node logs of each scenario go to chaos/.logs/<scenario>.log.
package chaos
