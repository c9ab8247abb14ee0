package connect

import (
	"context"
	"errors"
	"fmt"
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
func (h *Herder) newSourceTxn(run *taskRun, config map[string]string) (*sourceTxn, error) {
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
	// Fence the task's earlier instances before the task reads its offsets (Java's
	// initTransactions at task start), then read the offsets topic to its end: whatever a
	// zombie committed is then in the offsets the task resumes from, and it can commit no more.
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
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

// noExactlyOnce is Java's answer to a fencing request on a worker without exactly-once
// source support.
const noExactlyOnce = "This worker does not have exactly-once source support enabled."

// FenceZombies fences the transactional producers of every task of a source connector
// (Java's internal PUT /connectors/{name}/fence, which the leader serves): an
// InitProducerId per transactional id bumps its epoch, so an instance of the task still
// running on a worker that lost it can no longer write, and its open transaction is aborted.
func (d *Distributed) FenceZombies(ctx context.Context, name string) error {
	if !d.cfg.exactlyOnceEnabled() {
		return badRequest(noExactlyOnce)
	}
	if err := d.leaderOnly(); err != nil {
		return err
	}
	d.mu.Lock()
	_, ok := d.configs[name]
	tasks := len(d.taskConfigs[name])
	d.mu.Unlock()
	if !ok {
		return notFound("Connector %s not found", name)
	}
	for i := range tasks {
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
