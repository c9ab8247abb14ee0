package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Replication's own measurements (issue 15's RF=3 breakdown): how long the leader's appends
// take to commit, and what the followers' fetches bring back. *Metrics implements
// replication.Observer with them.
const (
	// ReplicationCommit is the time from a leader's append to the high watermark passing it
	// (every in-sync replica fetched past it): acks=all's replication cost, whatever the
	// leader's own fsync took meanwhile.
	ReplicationCommit = "logd_replication_commit_seconds"
	// ReplicaFetch is the round trip of a follower's fetch that brought record batches.
	ReplicaFetch = "logd_replica_fetch_seconds"
	// ReplicaFetchEmpty is the round trip of a follower's fetch that brought nothing: the
	// leader's long poll (replica.fetch.wait.max.ms) expired with no append to wake it.
	ReplicaFetchEmpty = "logd_replica_fetch_empty_seconds"
	// ReplicaFetchBytes counts the record batch bytes followers appended from their leaders.
	ReplicaFetchBytes = "logd_replica_fetch_bytes_total"
)

// replicationMetrics are the histograms and counter above.
type replicationMetrics struct {
	commit, fetch, fetchEmpty prometheus.Histogram
	fetchBytes                prometheus.Counter
}

// newReplicationMetrics creates replication's metrics and registers them on reg.
func newReplicationMetrics(reg *prometheus.Registry) replicationMetrics {
	r := replicationMetrics{
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ReplicationCommit, Buckets: stageBuckets,
			Help: "Leader: time from an append to the high watermark passing it (every in-sync replica has it).",
		}),
		fetch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ReplicaFetch, Buckets: requestBuckets,
			Help: "Follower: round trip of a fetch from a leader that brought record batches (Kafka's replica FetchRequestRateAndTimeMs).",
		}),
		fetchEmpty: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ReplicaFetchEmpty, Buckets: requestBuckets,
			Help: "Follower: round trip of a fetch from a leader that brought nothing (its long poll expired).",
		}),
		fetchBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ReplicaFetchBytes, Help: "Follower: record batch bytes appended from leaders (Kafka's ReplicaFetcherManager BytesPerSec).",
		}),
	}
	reg.MustRegister(r.commit, r.fetch, r.fetchEmpty, r.fetchBytes)
	return r
}

// Committed records the time from a leader's append to its commit (replication.Observer).
// A nil Metrics records nothing.
func (m *Metrics) Committed(d time.Duration) {
	if m == nil {
		return
	}
	m.replication.commit.Observe(d.Seconds())
}

// ReplicaFetched records one follower fetch round trip and the bytes it appended
// (replication.Observer). A nil Metrics records nothing.
func (m *Metrics) ReplicaFetched(bytes int, d time.Duration) {
	if m == nil {
		return
	}
	if bytes == 0 {
		m.replication.fetchEmpty.Observe(d.Seconds())
		return
	}
	m.replication.fetch.Observe(d.Seconds())
	m.replication.fetchBytes.Add(float64(bytes))
}
