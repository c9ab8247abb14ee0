// Package testcluster launches and controls logd processes for tests and tools: a cluster of
// Nodes `logd serve` processes that can be killed, paused, stopped, restarted and cut off from
// each other by a network partition.
//
//	c, err := testcluster.Start(ctx, testcluster.Config{Binary: "bin/logd", Nodes: 3, Dir: dir})
//	defer c.Close()
//	c.Nodes[0].Kill()              // SIGKILL
//	c.Nodes[0].Restart(ctx)        // same flags, same data directory
//	c.Nodes[1].Isolate()           // partition node 2 from everyone, both directions
//	c.Nodes[1].Heal()
//
// # Network
//
// When run as root with `ip` available (the container this was written in), every node runs
// in its own network namespace with two veths: eth0 on a client bridge that also carries an
// address of the caller's namespace, and eth1 on a peer bridge that carries no address. Each
// node holds its address on eth0 and a /32 route to every other node through eth1, so nodes
// talk to each other (Kafka replication and Raft alike) only over the peer bridge, and the
// caller talks to nodes only over the client bridge:
//
//	caller 10.213.K.254 ── client bridge ldtcK ──┬── eth0 ┐ netns ldtcK-n1: logd on 10.213.K.1:9092,
//	                                             │        │ controller on 10.213.K.1:9093
//	                      peer bridge ldtcKp ────┼── eth1 ┘
//	                                             ├── (the same for n2, n3, …)
//
// Isolate detaches both of a node's veths from their bridges (`ip link set … nomaster`):
// packets to and from it go nowhere, in both directions and on connections already open,
// which stall (TCP retransmits, no RST) as behind a real partition; the links stay up inside
// the node, which sees nothing but silence. IsolateFromPeers detaches only eth1: the node is
// cut from the other nodes while the caller's clients still reach it, the minority side of a
// Jepsen partition. Heal plugs both back.
//
// Simpler means do not work in this container. Loopback aliases (127.0.0.x) give no way to
// cut a node's own connections: outbound connections from any process pick 127.0.0.1 as
// their source, so a node's connections cannot be told from the test's without
// per-connection bookkeeping; iptables and nftables are not installed, and tc has neither
// the flower classifier nor the drop action nor netem. Namespaces give each node real
// addresses and bridge ports make a partition one command.
//
// Without root (or without `ip`), nodes listen on free ports of 127.0.0.1 and Isolate,
// IsolateFromPeers and Heal return ErrNoPartition. Bridges are named ldtcK and ldtcKp with K
// free at Start (subnet 10.213.K.0/24); the first's alias records the owning pid, so Start
// removes the bridges and namespaces of callers that died without Close.
//
// # Process lifetime
//
// Every process is started with a parent-death signal (SIGKILL), so a caller that crashes or
// is killed by a test timeout leaves no broker behind; Close stops them cleanly. Every wait is
// bounded.
package testcluster
