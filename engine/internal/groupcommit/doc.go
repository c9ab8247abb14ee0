// Package groupcommit is the group committer of one log directory: a single flusher goroutine
// that batches the fdatasyncs of every segment dirtied since its last round and releases every
// append the round covers.
//
// Usage (one Committer per log directory):
//
//	c := groupcommit.New(groupcommit.Config{FS: fs, Dir: logDir})
//	defer c.Close()
//
//	// partition append, under the partition's own lock:
//	f.WriteAt(batch, pos)
//	seq, err := c.MarkDirty(f)
//	// after releasing the partition lock:
//	err = c.Wait(seq) // or c.Notify(seq, fn) to be called back
//
// # Sequence numbers and rounds
//
// Every MarkDirty / MarkDirDirty assigns the next sequence number (1, 2, 3, …) under c.mu,
// after recording the file or directory in the dirty set. A round covers the sequence numbers
// handed out since the previous round started; up to Depth rounds (default 2) are in flight at
// once, and Parallelism sync workers run the fdatasyncs of all of them:
//
//	 flusher, c.mu held             workers, no lock held            flusher, c.mu held
//	┌───────────────────────┐  ┌──────────────────────────────┐  ┌─────────────────────────┐
//	│ seq of round = c.seq  │  │ fdatasync each file (a file  │  │ oldest round in flight  │
//	│ take the dirty sets   │→ │ whose sync is still running  │→ │ complete? syncedSeq =   │
//	│ queue one job a file  │  │ for an earlier round waits   │  │ its seq, wake its Wait- │
//	│ (or park it behind    │  │ for it), then SyncDir each   │  │ ers, collect its Notify │
//	│ that file's running   │  │ dirty directory              │  │ callbacks               │
//	│ sync)                 │  └──────────────────────────────┘  └─────────────────────────┘
//	└───────────────────────┘   then, no lock: Notify fns in seq order, OnSync, next release.
//
// A write made before MarkDirty returned seq s is in the dirty set of the first round whose
// seq is ≥ s, so that round's fdatasync covers it. Rounds are demand-driven: one starts when a
// Wait, Notify or Flush asks for a sequence number no started round covers and fewer than
// Depth rounds are in flight. Batching comes from load (appends that arrive during a round
// share the next one), never from a timer. A request that arrives while a round syncs starts
// the next round at once: with Depth 1 it would wait for the rest of the current round and
// then the whole next one (about two rounds at the tail); with Depth 2 its sync starts now,
// and only a file the earlier round is still syncing waits for that one sync, not for the
// round. Rounds that complete out of order are held until every earlier round completed. Dirty
// files nobody waits for (acks=1 on a topic without flush settings, as in Kafka) are synced
// only by the next round someone asks for, by Flush, or by Close.
//
// One file never has two fdatasyncs in flight: Linux records a write-back error once per
// open file description, and of two fsyncs racing on one descriptor only the first to check
// sees it; the other returns success although pages it was to make durable were lost. So a
// later round's sync of a file parks behind the running one and starts when it returns.
// SyncAndForget (an idle segment about to be closed) follows the same rule: its own sync
// waits for the committer's, and rounds that want the file meanwhile park behind it and take
// its result. Different files (partitions) and different rounds sync in parallel. Directories
// are synced with a descriptor of their own per SyncDir, so their syncs need no such rule.
//
// # Invariants
//
//   - syncedSeq ≤ startedSeq ≤ seq, each non-decreasing; at most Depth rounds in flight, at
//     most one sync per file running or queued, the others parked behind it in round order.
//   - Wait(s) returns nil, and Notify(s, fn) calls fn(nil), only once syncedSeq ≥ s; rounds
//     release in the order they started, whatever order their syncs end in.
//   - Notify callbacks released by one round run in ascending seq order (ties in call order);
//     rounds release in order, so the flusher's callbacks are globally in seq order. Wait
//     callers of a round are woken before its callbacks run, and may return first.
//   - After the first Sync or SyncDir error the committer is failed forever: no retry (the
//     kernel may already have dropped the dirty pages), every waiter not yet covered and every
//     later MarkDirty gets the same error, which wraps ErrLogDirOffline and the cause and names
//     the file. A later round that completed before an earlier one failed is never released;
//     an earlier round that completed is released even if a later one then fails. Jobs still
//     queued end without syncing.
//   - A Forgotten file is never synced after Forget returns, and is never closed under a sync
//     in progress (Forget drops the file's parked syncs and waits for its running one).
//
// # Lock rules
//
// c.mu guards the sequence numbers, the dirty sets, the rounds in flight and their job
// counts, the per-file sync state, the job queue, the pending Notify list, the failure and
// closing state and the statistics; see the field comments. It is held only for a few map and
// slice operations, never across an fsync, a SyncDir or a callback (Notify fns, OnSync,
// OnFailure): a worker takes a job under c.mu, syncs without it and records the result under
// it. Forget may wait (on c.syncDone) for its file's running sync, but never for callbacks,
// so a callback that takes a partition lock cannot deadlock with a Forget made under that
// lock.
package groupcommit
