package streams

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxPollRecords bounds the records one loop iteration processes before it may commit.
const maxPollRecords = 1000

// thread is one stream thread: one franz-go client, one member of the group, the tasks
// of the partition numbers assigned to it, and in ExactlyOnceV2 one transactional
// producer (the client's), transactional id `<app>-<instance>-<thread>`.
//
// Rebalances are blocked while the loop works (kgo.BlockRebalanceOnPoll) and, exactly
// once, while a transaction is open; so the callbacks below never run during processing.
type thread struct {
	a    *App
	id   int
	cl   *kgo.Client
	sess *kgo.GroupTransactSession // ExactlyOnceV2 only

	mu         sync.Mutex      // guards the fields below; held by the loop and the callbacks
	tasks      map[int32]*task // by partition number
	owned      map[int32]bool  // partition numbers assigned; a task opens once its offsets were fetched
	inTxn      bool
	lastCommit time.Time

	errMu  sync.Mutex // guards failed; produce promises take it, never mu (Flush waits for them under mu)
	failed error      // the first failed produce or task opening

	fetchedMu sync.Mutex     // guards fetched; the offset-fetch callback takes it, never mu
	fetched   map[int32]bool // partition numbers whose committed offsets were fetched since assigned
	wake      chan struct{}  // ends the loop's poll when fetched grew (capacity 1)

	sb *standbys // Config.StandbyReplicas > 0 only
}

// newThread makes the thread's client; it joins the group on its first poll.
func newThread(a *App, id int) (*thread, error) {
	th := &thread{a: a, id: id, tasks: map[int32]*task{}, owned: map[int32]bool{}, fetched: map[int32]bool{}, wake: make(chan struct{}, 1), lastCommit: time.Now()}
	tb := taskBalancer{instance: a.cfg.InstanceID, endpoint: a.cfg.Endpoint}
	if a.cfg.StandbyReplicas > 0 {
		th.sb = newStandbys(th)
		tb.standbys, tb.onStandby, tb.held = a.cfg.StandbyReplicas, th.sb.set, th.sb.held
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumerGroup(a.cfg.ApplicationID),
		kgo.ConsumeTopics(a.inputs...),
		kgo.Balancers(tb),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RecordPartitioner(taskPartitioner{}),
		kgo.OnPartitionsAssigned(th.assigned),
		kgo.OnPartitionsRevoked(th.revoked),
		kgo.OnPartitionsLost(th.lost),
		kgo.AdjustFetchOffsetsFn(th.offsetsFetched),
		kgo.ClientID(fmt.Sprintf("%s-%s-%d", a.cfg.ApplicationID, a.cfg.InstanceID, id)),
	}
	if a.static {
		opts = append(opts, kgo.InstanceID(fmt.Sprintf("%s-%s-%d", a.cfg.ApplicationID, a.cfg.InstanceID, id)))
	}
	var err error
	if a.cfg.ProcessingGuarantee == ExactlyOnceV2 {
		opts = append(opts,
			kgo.TransactionalID(fmt.Sprintf("%s-%s-%d", a.cfg.ApplicationID, a.cfg.InstanceID, id)),
			kgo.TransactionTimeout(10*time.Second),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		th.sess, err = kgo.NewGroupTransactSession(append(opts, a.cfg.ClientOpts...)...)
		if err == nil {
			th.cl = th.sess.Client()
		}
	} else {
		th.cl, err = kgo.NewClient(append(opts, a.cfg.ClientOpts...)...)
	}
	if err != nil {
		return nil, fmt.Errorf("streams: thread %d: %w", id, err)
	}
	return th, nil
}

// run is the thread's loop: poll, process record by record in offset order per task,
// commit every CommitInterval. On ctx's end it commits, closes its tasks and leaves.
func (th *thread) run(ctx context.Context) error {
	if th.sb != nil {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { th.sb.run(sctx); close(done) }()
		defer func() { stop(); <-done }()
	}
	err := th.loop(ctx)
	th.mu.Lock()
	if err == nil {
		// Shut down gracefully: the last commit uses a fresh context.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = th.commitLocked(cctx)
		cancel()
	}
	th.closeTasksLocked(nil)
	th.mu.Unlock()
	th.cl.AllowRebalance() // leaving the group is a rebalance: Close waits for it otherwise
	if th.sess != nil {
		th.sess.Close()
	} else {
		th.cl.Close()
	}
	return err
}

func (th *thread) loop(ctx context.Context) error {
	for {
		// The poll waits at most until the next commit is due: an open transaction must
		// not outlive CommitInterval because no new record came.
		th.mu.Lock()
		due := th.lastCommit.Add(th.a.cfg.CommitInterval)
		for _, t := range th.tasks {
			if next := t.nextWallClock(); next < due.UnixMilli() {
				due = time.UnixMilli(next)
			}
		}
		th.mu.Unlock()
		pctx, cancel := context.WithDeadline(ctx, due)
		go func() { // a task whose offsets were fetched opens without waiting for records
			select {
			case <-th.wake:
				cancel()
			case <-pctx.Done():
			}
		}()
		fs := th.cl.PollRecords(pctx, maxPollRecords)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return errors.New("streams: client closed")
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			th.a.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		th.mu.Lock()
		err := th.openFetchedLocked(ctx)
		if err == nil {
			err = th.processLocked(ctx, fs)
		}
		if err == nil {
			err = th.punctuateLocked()
		}
		if err == nil && time.Since(th.lastCommit) >= th.a.cfg.CommitInterval {
			err = th.commitLocked(ctx)
		}
		inTxn := th.inTxn
		th.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !inTxn {
			th.cl.AllowRebalance()
		}
	}
}

// processLocked runs every fetched record through its task.
//
// REQUIRES: th.mu held.
func (th *thread) processLocked(ctx context.Context, fs kgo.Fetches) error {
	if fs.NumRecords() == 0 {
		return nil
	}
	if err := th.beginLocked(); err != nil {
		return err
	}
	var err error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if err != nil {
			return
		}
		t := th.tasks[p.Partition]
		if t == nil && th.owned[p.Partition] {
			if t, err = th.openLocked(ctx, p.Partition); err != nil {
				return
			}
		}
		if t == nil {
			err = fmt.Errorf("streams: records of %s partition %d, whose task this thread does not own", p.Topic, p.Partition)
			return
		}
		for _, r := range p.Records {
			if err = t.process(r); err != nil {
				return
			}
		}
		if n := len(p.Records); n > 0 {
			end := p.HighWatermark
			if th.sess != nil {
				end = p.LastStableOffset
			}
			th.a.metrics.setLag(p.Topic, p.Partition, end-p.Records[n-1].Offset-1)
		}
	})
	if err == nil {
		err = th.err()
	}
	return err
}

// openFetchedLocked opens the tasks assigned whose group offsets were fetched, records
// or none: a task whose previous owner consumed its partition to the end gets no
// record until the next one is produced, yet it is this instance's to query (Locate
// names this member as its owner).
//
// REQUIRES: th.mu held.
func (th *thread) openFetchedLocked(ctx context.Context) error {
	th.fetchedMu.Lock()
	var ids []int32
	for id := range th.fetched {
		if th.owned[id] && th.tasks[id] == nil {
			ids = append(ids, id)
		}
	}
	th.fetchedMu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if _, err := th.openLocked(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// openLocked opens and restores the task of partition number id. Not in the assignment
// callback: only once the group's offsets were fetched stably (KIP-447), so that a
// transaction the previous owner left open has ended and the changelog's last stable
// offset includes it if it committed.
//
// REQUIRES: th.mu held.
func (th *thread) openLocked(ctx context.Context, id int32) (*task, error) {
	if th.sb != nil {
		th.sb.activate(id)
	}
	t, err := openTask(ctx, th, id)
	if err != nil {
		if th.sb != nil {
			th.sb.deactivate(id)
		}
		return nil, err
	}
	th.tasks[id] = t
	th.a.log.Info("task assigned", "thread", th.id, "task", id)
	return t, nil
}

// beginLocked begins a transaction, exactly once, if none is open.
//
// REQUIRES: th.mu held.
func (th *thread) beginLocked() error {
	if th.sess == nil || th.inTxn {
		return nil
	}
	if err := th.sess.Begin(); err != nil {
		return fmt.Errorf("streams: beginning a transaction: %w", err)
	}
	th.inTxn = true
	return nil
}

// punctuateLocked runs the wall-clock punctuations that are due.
//
// REQUIRES: th.mu held.
func (th *thread) punctuateLocked() error {
	now := time.Now().UnixMilli()
	for _, t := range th.tasks {
		if t.nextWallClock() > now {
			continue
		}
		if err := th.beginLocked(); err != nil {
			return err
		}
		if err := t.punctuate(WallClockTime, now); err != nil {
			return err
		}
	}
	return th.err()
}

// commitLocked makes everything processed so far durable: at least once, flush the
// producer, commit the offsets, apply the stores; exactly once, end the transaction and
// apply the stores if it committed or drop their writes if it aborted (the client then
// rewinds to the committed offsets, so the records are processed again).
//
// REQUIRES: th.mu held.
func (th *thread) commitLocked(ctx context.Context) error {
	th.lastCommit = time.Now()
	if th.sess != nil {
		if !th.inTxn {
			return nil
		}
		th.inTxn = false
		committed, err := th.sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("streams: ending a transaction: %w", err)
		}
		if err := th.err(); err != nil {
			return err
		}
		if !committed {
			th.a.metrics.Aborts.Add(1)
			for _, t := range th.tasks {
				t.discard()
			}
			return nil
		}
		th.a.metrics.Commits.Add(1)
		return th.applyLocked(nil)
	}
	if err := th.cl.Flush(ctx); err != nil {
		return fmt.Errorf("streams: flushing: %w", err)
	}
	if err := th.err(); err != nil {
		return err
	}
	if err := th.cl.CommitUncommittedOffsets(ctx); err != nil {
		// The outputs are written; the records will be processed again (at least once).
		th.a.log.Warn("committing offsets", "thread", th.id, "err", err)
	} else {
		th.a.metrics.Commits.Add(1)
	}
	return th.applyLocked(nil)
}

// applyLocked applies the uncommitted store writes of the tasks in only (all if nil).
//
// REQUIRES: th.mu held.
func (th *thread) applyLocked(only map[int32]bool) error {
	for id, t := range th.tasks {
		if only != nil && !only[id] {
			continue
		}
		if err := t.apply(); err != nil {
			return err
		}
	}
	return nil
}

// assigned notes newly assigned partition numbers; their tasks open once the group's
// offsets for them were fetched (offsetsFetched), or on their first records.
func (th *thread) assigned(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.fetchedMu.Lock()
	defer th.fetchedMu.Unlock()
	for _, id := range partitionNumbers(added) {
		th.owned[id] = true
		delete(th.fetched, id)
	}
}

// offsetsFetched notes the partition numbers whose committed offsets the client fetched
// after their assignment (stably, KIP-447); the loop opens their tasks. The offsets are
// kept as fetched.
func (th *thread) offsetsFetched(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	th.fetchedMu.Lock()
	defer th.fetchedMu.Unlock()
	for _, ps := range offsets {
		for id := range ps {
			th.fetched[id] = true
		}
	}
	select {
	case th.wake <- struct{}{}:
	default:
	}
	return offsets, nil
}

// revoked commits (at least once; exactly once has no open transaction here) and closes
// the tasks of the revoked partition numbers.
func (th *thread) revoked(ctx context.Context, _ *kgo.Client, gone map[string][]int32) {
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	if th.sess == nil {
		if err := th.commitLocked(ctx); err != nil {
			th.fail(err)
		}
	}
	th.closeTasksLocked(gone)
}

// lost closes the tasks of partitions taken away without a chance to commit; their
// uncommitted writes are dropped.
func (th *thread) lost(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.closeTasksLocked(gone)
}

// closeTasksLocked closes the tasks of the partition numbers in gone (all if nil).
//
// REQUIRES: th.mu held.
func (th *thread) closeTasksLocked(gone map[string][]int32) {
	ids := partitionNumbers(gone)
	if gone == nil {
		clear(th.owned)
		ids = ids[:0]
		for id := range th.tasks {
			ids = append(ids, id)
		}
	}
	th.fetchedMu.Lock()
	if gone == nil {
		clear(th.fetched)
	}
	for _, id := range ids {
		delete(th.fetched, id)
	}
	th.fetchedMu.Unlock()
	for _, id := range ids {
		delete(th.owned, id)
		th.a.metrics.forgetLag(id)
		if t := th.tasks[id]; t != nil {
			t.close()
			if th.sb != nil {
				th.sb.deactivate(id)
			}
			delete(th.tasks, id)
			th.a.log.Info("task closed", "thread", th.id, "task", id)
		}
	}
}

// partitionNumbers returns the distinct partition numbers of a topic → partitions map.
func partitionNumbers(m map[string][]int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, ps := range m {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// fail keeps the first failure met outside the loop (a produce, a callback); the loop
// returns it.
func (th *thread) fail(err error) {
	th.errMu.Lock()
	if th.failed == nil {
		th.failed = err
		th.a.log.Error("stream thread failing", "thread", th.id, "err", err)
	}
	th.errMu.Unlock()
}

// err returns the first failure kept by fail.
func (th *thread) err() error {
	th.errMu.Lock()
	defer th.errMu.Unlock()
	return th.failed
}
