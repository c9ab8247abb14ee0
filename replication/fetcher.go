package replication

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
)

// FetcherConfig configures a Fetcher (Kafka's names where they exist).
type FetcherConfig struct {
	// ReplicaID is this broker's id, sent in every request.
	ReplicaID int32
	// Addr is the leader broker's address (HOST:PORT).
	Addr string
	// Security is the leader's inter-broker listener's TLS and SASL (zero: PLAINTEXT).
	Security kwire.Security
	// MaxBytes and PartitionMaxBytes bound a fetch response and each partition in it
	// (replica.fetch.response.max.bytes, replica.fetch.max.bytes); zero means 10 MiB and 1 MiB.
	MaxBytes, PartitionMaxBytes int32
	// MaxWait is replica.fetch.wait.max.ms; zero means 500 ms.
	MaxWait time.Duration
	// Backoff is replica.fetch.backoff.ms, the wait before redialing and before fetching a
	// partition again after it failed; it doubles with each consecutive connection failure up
	// to MaxBackoff. Zero means 1 s and 30 s.
	Backoff, MaxBackoff time.Duration
	// Logger receives connection and partition failures; nil means slog.Default().
	Logger *slog.Logger
	// Fsync makes the follower wait until what a round appended is durable (fdatasync by
	// the log directory's group commit) before its next fetch reports the new log end to the
	// leader (logd.replica.fsync). With it an acks=all produce is acknowledged only once every
	// in-sync replica holds its batches on disk, not only in the page cache; without it (the
	// default, and Kafka's behaviour) only the leader's own fsync-before-ack makes them
	// durable, and losing them takes the leader's disk plus every follower's page cache
	// (e.g. a power loss of the whole cluster).
	Fsync bool
	// OnRemoved, if set, is called on the fetcher's goroutine when a partition stops being
	// fetched because the leader refused it in a way only new metadata can fix
	// (ErrFencedLeaderEpoch, ErrNotLeader, ErrNotReplicated). It must not call the Fetcher.
	OnRemoved func(tp engine.TopicPartition, err error)
	// Observer, if set, receives every fetch round trip (Observer.ReplicaFetched).
	Observer Observer
}

func (c *FetcherConfig) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = 10 << 20
	}
	if c.PartitionMaxBytes == 0 {
		c.PartitionMaxBytes = 1 << 20
	}
	if c.MaxWait == 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Fetcher replicates every partition this broker follows from one leader broker, over one
// connection, with one Fetch for all of them per round (Kafka's ReplicaFetcherThread). Each
// partition is a Follower: its truncation rounds first, then its share of the shared fetch.
// A broken connection is redialed after a backoff that doubles while dialing or the first
// request keeps failing; a partition whose answer failed sits out for one Backoff, so one bad
// partition neither stalls the others nor makes the fetch loop spin. While one sits out, the
// others' long poll ends when it is due, so it waits one Backoff, not also a MaxWait.
//
// Add and Remove are safe for concurrent use with Run; Run runs on one goroutine.
type Fetcher struct {
	cfg FetcherConfig

	// mu guards parts, and is held across every change a round makes to a partition's log
	// (a truncation, an append: disk writes, never network I/O), after checking that the
	// partition is still followed: once Remove returns, the fetcher no longer changes its log.
	mu      sync.Mutex
	parts   map[engine.TopicPartition]*fetcherPart // guarded by mu
	changed chan struct{}                          // wakes an idle Run; capacity 1

	conn *Conn // owned by Run's goroutine; nil while disconnected
}

// fetcherPart is one followed partition.
type fetcherPart struct {
	f          *Follower
	delayUntil time.Time // sits out until then after a failure; Run's goroutine only
}

// NewFetcher returns a Fetcher with no partitions; Run starts it.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	cfg.setDefaults()
	return &Fetcher{cfg: cfg, parts: map[engine.TopicPartition]*fetcherPart{}, changed: make(chan struct{}, 1)}
}

// Add starts following tp, led by this fetcher's broker in leaderEpoch, into log (replicated:
// ErrNotReplicated otherwise). It replaces an earlier Add of tp (a new leader epoch).
func (fe *Fetcher) Add(tp engine.TopicPartition, leaderEpoch int32, log ReplicaLog) error {
	f, err := NewFollower(tp, leaderEpoch, log, fetcherClient{fe}, fe.cfg.PartitionMaxBytes)
	if err != nil {
		return err
	}
	p := &fetcherPart{f: f}
	f.guard = func(change func() error) error {
		fe.mu.Lock()
		defer fe.mu.Unlock()
		if fe.parts[tp] != p {
			return errNotFollowed
		}
		return change()
	}
	fe.mu.Lock()
	fe.parts[tp] = p
	fe.mu.Unlock()
	select {
	case fe.changed <- struct{}{}:
	default:
	}
	return nil
}

// Follows reports whether tp is followed (added, not removed since).
func (fe *Fetcher) Follows(tp engine.TopicPartition) bool {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	_, ok := fe.parts[tp]
	return ok
}

// Remove stops following tp (this broker leads it now, the leader moved, the partition was
// deleted). When it returns, the fetcher no longer changes tp's log: a fetch in flight for it
// is discarded.
func (fe *Fetcher) Remove(tp engine.TopicPartition) {
	fe.mu.Lock()
	delete(fe.parts, tp)
	fe.mu.Unlock()
}

// Run fetches until ctx is done, then closes the connection and returns ctx's error.
func (fe *Fetcher) Run(ctx context.Context) error {
	defer func() {
		if fe.conn != nil {
			fe.conn.Close()
			fe.conn = nil
		}
	}()
	backoff := fe.cfg.Backoff
	for ctx.Err() == nil {
		fe.mu.Lock()
		parts := fe.snapshotLocked()
		fe.mu.Unlock()
		if len(parts) == 0 {
			select {
			case <-ctx.Done():
			case <-fe.changed:
			}
			continue
		}
		err := fe.round(ctx, parts)
		if err == nil {
			backoff = fe.cfg.Backoff
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fe.cfg.Logger.Warn("replica fetcher: connection to the leader failed; retrying", "leader", fe.cfg.Addr, "backoff", backoff.String(), "err", err)
		if fe.conn != nil {
			fe.conn.Close()
			fe.conn = nil
		}
		sleep(ctx, backoff)
		backoff = min(2*backoff, fe.cfg.MaxBackoff)
	}
	return ctx.Err()
}

// snapshotLocked lists the followed partitions, sorted (a request groups partitions by
// topic). REQUIRES: fe.mu held.
func (fe *Fetcher) snapshotLocked() []*fetcherPart {
	out := make([]*fetcherPart, 0, len(fe.parts))
	for _, p := range fe.parts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].f.tp, out[j].f.tp
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return out
}

// round runs one fetch for every partition not sitting out, dialing first if needed. It
// returns an error only when the connection failed.
func (fe *Fetcher) round(ctx context.Context, parts []*fetcherPart) error {
	if fe.conn == nil {
		c, err := Dial(ctx, fe.cfg.Addr, fe.cfg.ReplicaID, fe.cfg.Security)
		if err != nil {
			return err
		}
		fe.conn = c
	}
	now := time.Now()
	var fetches []PartitionFetch
	var fetching []*fetcherPart
	for _, p := range parts {
		if now.Before(p.delayUntil) {
			continue
		}
		if err := p.f.prepare(ctx); err != nil {
			if fe.conn.Err() != nil {
				return err
			}
			fe.failed(p, err)
			continue
		}
		fetches = append(fetches, PartitionFetch{TP: p.f.tp, CurrentLeaderEpoch: p.f.leaderEpoch, Offset: p.f.log.LogEndOffset()})
		fetching = append(fetching, p)
	}
	// When the first partition sitting out (before this round or since its truncation just
	// failed) is due.
	var next time.Time
	for _, p := range parts {
		if now.Before(p.delayUntil) && (next.IsZero() || p.delayUntil.Before(next)) {
			next = p.delayUntil
		}
	}
	if len(fetches) == 0 {
		if next.IsZero() { // every partition failed for good and was removed
			next = now.Add(fe.cfg.Backoff)
		}
		sleep(ctx, time.Until(next))
		return nil
	}
	// The long poll ends by the time a sitting-out partition is due: it rejoins the next
	// round, and an acks=all produce waiting for it must not also wait out the others' MaxWait.
	fe.conn.MaxWait = fe.cfg.MaxWait
	if !next.IsZero() {
		fe.conn.MaxWait = max(min(fe.cfg.MaxWait, time.Until(next)), time.Millisecond)
	}
	sent := time.Now()
	res, err := fe.conn.FetchMany(ctx, fetches, fe.cfg.MaxBytes, fe.cfg.PartitionMaxBytes)
	if err != nil {
		return err
	}
	took, appended := time.Since(sent), 0
	for i, p := range fetching {
		n, err := p.f.apply(ctx, res[i].FetchResult, res[i].Err)
		appended += n
		if err != nil {
			if fe.conn.Err() != nil {
				return err
			}
			fe.failed(p, err)
		}
	}
	if fe.cfg.Observer != nil {
		fe.cfg.Observer.ReplicaFetched(appended, took)
	}
	if fe.cfg.Fsync {
		// After every append of the round: one group-commit round of each directory covers
		// them all (the first wait starts it), rather than one per partition.
		for _, p := range fetching {
			if err := p.f.syncAppended(); err != nil {
				fe.failed(p, err)
			}
		}
	}
	return nil
}

// errNotFollowed drops a change to a partition removed while its fetch was in flight.
var errNotFollowed = errors.New("partition no longer followed")

// failed handles a partition's failure: removed when only new metadata can fix it, else
// retried after a backoff.
func (fe *Fetcher) failed(p *fetcherPart, err error) {
	if errors.Is(err, errNotFollowed) {
		return
	}
	if errors.Is(err, ErrFencedLeaderEpoch) || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNotReplicated) {
		fe.mu.Lock()
		if fe.parts[p.f.tp] == p {
			delete(fe.parts, p.f.tp)
		}
		fe.mu.Unlock()
		if fe.cfg.OnRemoved != nil {
			fe.cfg.OnRemoved(p.f.tp, err)
		}
		return
	}
	if !errors.Is(err, ErrOffsetOutOfRange) {
		fe.cfg.Logger.Warn("replica fetcher: partition failed; retrying", "partition", p.f.tp.String(), "err", err)
	}
	p.delayUntil = time.Now().Add(fe.cfg.Backoff)
}

// fetcherClient is the LeaderClient of a Fetcher's Followers: the fetcher's current
// connection. Only used on Run's goroutine, while connected.
type fetcherClient struct{ fe *Fetcher }

func (c fetcherClient) OffsetForLeaderEpoch(ctx context.Context, tp engine.TopicPartition, current, epoch int32) (engine.EpochEndOffset, error) {
	return c.fe.conn.OffsetForLeaderEpoch(ctx, tp, current, epoch)
}

func (c fetcherClient) Fetch(ctx context.Context, tp engine.TopicPartition, current int32, offset int64, maxBytes int32) (FetchResult, error) {
	return c.fe.conn.Fetch(ctx, tp, current, offset, maxBytes)
}

func (c fetcherClient) LogStartOffset(ctx context.Context, tp engine.TopicPartition, current int32) (int64, error) {
	return c.fe.conn.LogStartOffset(ctx, tp, current)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
