package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// standbys keeps a thread's standby tasks (Config.StandbyReplicas) warm: their stores,
// opened under the same directories as active ones, follow the changelogs in a
// goroutine of their own, so that a task moving here on a failover restores only the
// few records the standby had not yet applied. A task becoming active here takes its
// directory from the standby first (activate); the standby resumes when it leaves.
type standbys struct {
	th   *thread
	want atomic.Pointer[[]int32] // the standby tasks of the last assignment

	mu     sync.Mutex                    // guards the fields below; never held by the thread across processing
	active map[int32]bool                // tasks open as active on this thread: never standbys
	stores map[int32]map[string]*kvStore // open standby stores by task and name
	cl     *kgo.Client                   // consumes the standby stores' changelog partitions; nil if none
	byPart map[string]map[int32]*kvStore // changelog topic → partition → store, for cl's records
}

func newStandbys(th *thread) *standbys {
	return &standbys{th: th, active: map[int32]bool{}, stores: map[int32]map[string]*kvStore{}}
}

// set records the standby tasks of a new assignment (from the balancer).
func (sb *standbys) set(tasks []int32) {
	tasks = slices.Clone(tasks)
	sb.want.Store(&tasks)
}

// held returns the standby tasks of the last assignment, which the member announces in
// its next subscription so that they stay here.
func (sb *standbys) held() []int32 {
	if p := sb.want.Load(); p != nil {
		return *p
	}
	return nil
}

// activate closes task p's standby stores, if any, so that the active task can open
// them; the standby stays away from p until deactivate.
func (sb *standbys) activate(p int32) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.active[p] = true
	if _, ok := sb.stores[p]; ok {
		sb.closeLocked(p)
		sb.resetClientLocked()
	}
}

// deactivate lets task p be a standby again.
func (sb *standbys) deactivate(p int32) {
	sb.mu.Lock()
	delete(sb.active, p)
	sb.mu.Unlock()
}

// run follows the changelogs until ctx ends, then closes the standby stores.
func (sb *standbys) run(ctx context.Context) {
	defer func() {
		sb.mu.Lock()
		for p := range sb.stores {
			sb.closeLocked(p)
		}
		if sb.cl != nil {
			sb.cl.Close()
			sb.cl = nil
		}
		sb.mu.Unlock()
	}()
	for ctx.Err() == nil {
		if err := sb.step(ctx); err != nil && ctx.Err() == nil {
			sb.th.a.log.Warn("standby", "thread", sb.th.id, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// step reconciles the standby tasks with the assignment, then applies what one poll
// of the changelogs brings.
func (sb *standbys) step(ctx context.Context) error {
	sb.mu.Lock()
	err := sb.reconcileLocked(ctx)
	cl := sb.cl
	sb.mu.Unlock()
	if err != nil {
		return err
	}
	if cl == nil {
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	fs := cl.PollFetches(pctx)
	cancel()
	for _, fe := range fs.Errors() {
		if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) && !errors.Is(fe.Err, kgo.ErrClientClosed) {
			return fmt.Errorf("standby fetch of %s partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.cl != cl {
		return nil // the standby set changed meanwhile: these records are re-read
	}
	var errs []error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		s := sb.byPart[p.Topic][p.Partition]
		if s == nil || len(p.Records) == 0 {
			return
		}
		b := s.db.NewBatch()
		for _, r := range p.Records {
			if err := s.applyChangelog(b, r); err != nil {
				errs = append(errs, err)
				b.Close()
				return
			}
		}
		if err := s.commitRestoreBatch(b, p.Records[len(p.Records)-1].Offset+1); err != nil {
			errs = append(errs, err)
			return
		}
		sb.th.a.metrics.StandbyRecords.Add(int64(len(p.Records)))
	})
	return errors.Join(errs...)
}

// reconcileLocked opens the stores of new standby tasks (restoring them to the
// changelogs' ends), closes those no longer wanted, and remakes the client when the
// set changed.
//
// REQUIRES: sb.mu held.
func (sb *standbys) reconcileLocked(ctx context.Context) error {
	want := map[int32]bool{}
	if w := sb.want.Load(); w != nil {
		for _, p := range *w {
			if !sb.active[p] {
				want[p] = true
			}
		}
	}
	changed := false
	for p := range sb.stores {
		if !want[p] {
			sb.closeLocked(p)
			changed = true
		}
	}
	names := make([]string, 0, len(sb.th.a.topo.stores))
	for name := range sb.th.a.topo.stores {
		names = append(names, name)
	}
	sort.Strings(names)
	for p := range want {
		if _, ok := sb.stores[p]; ok || len(names) == 0 {
			continue
		}
		stores := map[string]*kvStore{}
		for _, name := range names {
			s, err := openStore(ctx, sb.th.a, sb.th.a.topo.stores[name], p)
			if err != nil {
				for _, s := range stores {
					s.close()
				}
				return fmt.Errorf("opening standby task %d: %w", p, err)
			}
			stores[name] = s
		}
		sb.stores[p] = stores
		changed = true
		sb.th.a.log.Info("standby task opened", "thread", sb.th.id, "task", p)
	}
	if changed || (sb.cl == nil && len(sb.stores) > 0) {
		return sb.resetClientLocked()
	}
	return nil
}

// resetClientLocked remakes the client to consume every standby store's changelog
// partition from its checkpoint.
//
// REQUIRES: sb.mu held.
func (sb *standbys) resetClientLocked() error {
	if sb.cl != nil {
		sb.cl.Close()
		sb.cl = nil
	}
	sb.byPart = map[string]map[int32]*kvStore{}
	offsets := map[string]map[int32]kgo.Offset{}
	for p, stores := range sb.stores {
		for _, s := range stores {
			from, _, err := s.meta(metaCheckpoint)
			if err != nil {
				return err
			}
			if offsets[s.changelog] == nil {
				offsets[s.changelog] = map[int32]kgo.Offset{}
				sb.byPart[s.changelog] = map[int32]*kvStore{}
			}
			offsets[s.changelog][p] = kgo.NewOffset().At(from)
			sb.byPart[s.changelog][p] = s
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	a := sb.th.a
	opts := []kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...), kgo.ConsumePartitions(offsets)}
	if a.cfg.ProcessingGuarantee == ExactlyOnceV2 {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(append(opts, a.cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	sb.cl = cl
	return nil
}

// closeLocked closes task p's standby stores.
//
// REQUIRES: sb.mu held.
func (sb *standbys) closeLocked(p int32) {
	for name, s := range sb.stores[p] {
		if err := s.close(); err != nil {
			sb.th.a.log.Warn("closing a standby store", "store", name, "task", p, "err", err)
		}
	}
	delete(sb.stores, p)
	sb.th.a.log.Info("standby task closed", "thread", sb.th.id, "task", p)
}
