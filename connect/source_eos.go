package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// transactionalID is the transactional id of a source task with exactly-once support, Kafka
// Connect's <group.id>-<connector>-<task>: a task's next instance, wherever it runs, takes
// the same id, and its InitProducerId fences the previous one (a zombie on a worker that was
// cut off) and aborts its open transaction.
func transactionalID(groupID, connector string, task int) string {
	return fmt.Sprintf("%s-%s-%d", groupID, connector, task)
}

// sourceTxn is the transactional producer of a source task on a worker with
// exactly.once.source.support=enabled (KIP-618): the task's records and their source offsets
// go to the cluster in one transaction, committed at the connector's transaction.boundary
// (every poll that returned records, or every transaction.boundary.interval.ms).
type sourceTxn struct {
	cl       *kgo.Client
	offsets  *topicOffsets
	boundary string        // poll or interval
	interval time.Duration // interval boundary: time between commits (0: offset.flush.interval.ms)
	open     bool          // a transaction has begun and is not yet committed
}

// newSourceTxn starts the task's transactional producer; config is the connector's.
func (h *Herder) newSourceTxn(ctx context.Context, run *taskRun, config map[string]string) (*sourceTxn, error) {
	offsets, ok := h.offsets.(*topicOffsets)
	if !ok {
		return nil, errors.New("exactly-once source support needs the offsets topic of distributed mode")
	}
	var problems []string
	eo := parseExactlyOnce(config, func(_, msg string) { problems = append(problems, msg) })
	if len(problems) > 0 {
		return nil, errors.New(problems[0])
	}
	if eo.boundary == "connector" {
		return nil, errors.New("the connector does not define transaction boundaries: transaction.boundary=connector is not supported")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.cfg.Bootstrap...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.TransactionalID(transactionalID(h.cfg.GroupID, run.id.Connector, run.id.Task)),
		kgo.RecordPartitioner(sourcePartitioner{kgo.StickyKeyPartitioner(nil)}), kgo.ProducerLinger(5*time.Millisecond),
		kgo.AllowAutoTopicCreation())
	if err != nil {
		return nil, err
	}
	// The leader's round of zombie fencing first (Java's preflight fencing): the producers of
	// every task of the previous generation are fenced, even of tasks this generation dropped.
	if h.fenceBeforeStart != nil {
		if err := h.retryFencing(ctx, run); err != nil {
			cl.Close()
			return nil, err
		}
	}
	// Fence the task's earlier instances before the task reads its offsets (Java's
	// initTransactions at task start), then read the offsets topic to its end: whatever a
	// zombie committed is then in the offsets the task resumes from, and it can commit no more.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("initializing the transactional producer of %s: %w", run.id, err)
	}
	if err := offsets.log.readToEnd(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return &sourceTxn{cl: cl, offsets: offsets, boundary: eo.boundary, interval: eo.interval}, nil
}

// begin opens a transaction unless one is open.
func (t *sourceTxn) begin() error {
	if t.open {
		return nil
	}
	if err := t.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	t.open = true
	return nil
}

// commit ends the open transaction: it waits for the task's records, adds the offsets of
// everything acknowledged to the offsets topic in the same transaction, commits, and only then
// hands the offsets to SourceTask.Commit. A produce error aborts the transaction and fails
// the task (as does being fenced by a newer instance of the task).
func (t *sourceTxn) commit(h *Herder, run *taskRun, inflight *sourceInflight, task SourceTask) error {
	if !t.open {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing the transaction's records: %w", err)
	}
	if err := inflight.failure(); err != nil {
		t.abort(ctx)
		return err
	}
	list, offsets := acknowledged(inflight)
	recs, err := t.offsets.records(run.id.Connector, list)
	if err != nil {
		t.abort(ctx)
		return err
	}
	if len(recs) > 0 {
		if err := t.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.abort(ctx)
			return fmt.Errorf("writing offsets to %s in the transaction: %w", t.offsets.topic, err)
		}
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.open = false
		return fmt.Errorf("committing the transaction of %s: %w", run.id, err)
	}
	t.open = false
	for _, r := range recs {
		t.offsets.applyRecord(r)
	}
	h.committed(run, task, offsets)
	return nil
}

// abort aborts the open transaction (best effort: the task fails anyway).
func (t *sourceTxn) abort(ctx context.Context) {
	t.open = false
	t.cl.AbortBufferedRecords(ctx)
	t.cl.EndTransaction(ctx, kgo.TryAbort)
}

// close stops the producer; an open transaction is left to the coordinator's timeout or the
// task's next instance, which aborts it.
func (t *sourceTxn) close() { t.cl.Close() }

// retryFencing runs the connector's fencing round before the task starts, retrying with
// back-off (no leader during a rebalance, a leader that refuses, a broker error) until it
// succeeds or the task is stopped: the task never starts before its round succeeded.
func (h *Herder) retryFencing(ctx context.Context, run *taskRun) error {
	backoff := 100 * time.Millisecond
	for {
		err := h.fenceBeforeStart(ctx, run.id.Connector)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("zombie fencing before starting %s: %w", run.id, err)
		}
		h.log.Warn("zombie fencing before starting a task: retrying", "task", run.id.String(), "err", err)
		sleepCtx(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// taskCountPrefix starts the key of a task count record in the config topic (Java's
// KafkaConfigBackingStore.TASK_COUNT_RECORD_PREFIX), value {"task-count":<n>}: the number
// of tasks whose producers must be fenced before another generation of the connector's
// task configs starts.
const taskCountPrefix = "tasks-fencing-"

// preflightHeader marks a fencing request a worker sends the leader before starting a task.
const preflightHeader = "X-Logd-Connect-Preflight"

// preflightFence has the leader (this worker, or over REST) run the connector's fencing
// round before a task of it starts here.
func (d *Distributed) preflightFence(ctx context.Context, name string) error {
	d.mu.Lock()
	leader, base := d.isLeader, d.leaderURL
	d.mu.Unlock()
	switch {
	case leader:
		return d.FenceZombies(ctx, name, true)
	case base == "":
		return errors.New("no known leader: a rebalance is underway")
	}
	return callLeader(ctx, http.MethodPut, base, "/connectors/"+url.PathEscape(name)+"/fence", nil, preflightHeader)
}

// noExactlyOnce is Java's answer to a fencing request on a worker without exactly-once
// source support.
const noExactlyOnce = "This worker does not have exactly-once source support enabled."

// FenceZombies is the leader's round of zombie fencing for a source connector (Java's
// DistributedHerder.fenceZombieSourceTasks, internal PUT /connectors/{name}/fence). When task
// configs were committed after the connector's last task count record (tasks-fencing-<name>)
// and that record or the new generation has more than one task, the transactional producers
// of every task the record counts are fenced — an InitProducerId per id bumps its epoch and
// aborts its open transaction, so a zombie of a task the new generation dropped can no longer
// commit — and then a task count record with the new task count is written (right away
// when there was no record, or one task before and after: the task's own InitProducerId
// fences its predecessor). New task configs committed during the round fail it (409), as
// Java's. A request that is not a worker's preflight (an operator's) also fences the current
// generation's producers, as logd's fence always did. Rounds run one at a time.
func (d *Distributed) FenceZombies(ctx context.Context, name string, preflight bool) error {
	if !d.cfg.exactlyOnceEnabled() {
		return badRequest(noExactlyOnce)
	}
	if err := d.leaderOnly(); err != nil {
		return err
	}
	d.fenceMu.Lock()
	defer d.fenceMu.Unlock()
	if err := d.configLog.readToEnd(ctx); err != nil {
		return fmt.Errorf("reading the config topic before zombie fencing: %w", err)
	}
	d.mu.Lock()
	config, ok := d.configs[name]
	tasks := len(d.taskConfigs[name])
	recorded, hasRecord := d.taskCounts[name]
	pending, gen := d.fencePending[name], d.taskGens[name]
	d.mu.Unlock()
	if !ok {
		return notFound("Connector %s not found", name)
	}
	if p, found := Lookup(config["connector.class"]); found && p.Kind != Source {
		return badRequest("Connector %s is not a source connector", name)
	}
	fence := 0
	if pending && hasRecord && (recorded != 1 || tasks != 1) {
		fence = recorded
	}
	if !preflight {
		fence = max(fence, tasks)
	}
	if err := d.fenceProducers(ctx, name, fence); err != nil {
		return err
	}
	if !pending {
		return nil
	}
	if err := d.configLog.readToEnd(ctx); err != nil {
		return fmt.Errorf("reading the config topic after zombie fencing: %w", err)
	}
	d.mu.Lock()
	newer := d.taskGens[name] != gen
	d.mu.Unlock()
	if newer {
		return conflict("Fencing failed because new task configurations were generated for the connector")
	}
	return d.writeConfig([2]any{taskCountPrefix + name, map[string]any{"task-count": int32(tasks)}})
}

// fenceProducers fences the transactional producers of a connector's tasks 0..n-1.
func (d *Distributed) fenceProducers(ctx context.Context, name string, n int) error {
	for i := range n {
		id := transactionalID(d.cfg.GroupID, name, i)
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		var err error
		for {
			var resp *kmsg.InitProducerIDResponse
			resp, err = req.RequestWith(ctx, d.inner.producer)
			if err == nil {
				err = kerr.ErrorForCode(resp.ErrorCode)
			}
			// The coordinator answers CONCURRENT_TRANSACTIONS while it aborts the open one.
			if !errors.Is(err, kerr.ConcurrentTransactions) || ctx.Err() != nil {
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("fencing the producer of task %s-%d (transactional id %s): %w", name, i, id, err)
		}
	}
	return nil
}
