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
// after recording the file or directory in the dirty set. A round is:
//
//	        c.mu held                 no lock held                  c.mu held
//	┌──────────────────────┐ ┌───────────────────────────────┐ ┌─────────────────────────┐
//	│ roundSeq = seq       │ │ fdatasync each dirty file     │ │ syncedSeq = roundSeq    │
//	│ swap dirty ↔ inflight│→│ (≤ Parallelism at once), then │→│ wake Wait()ers of round │
//	│ startedSeq = roundSeq│ │ SyncDir each dirty directory  │ │ collect covered Notifys │
//	└──────────────────────┘ └───────────────────────────────┘ └─────────────────────────┘
//	                                                   then, no lock: Notify fns in seq order,
//	                                                   OnSync; the next round starts at once.
//
// A write made before MarkDirty returned seq s is in the dirty set of the first round with
// roundSeq ≥ s, so that round's fdatasync covers it. Rounds are demand-driven: one starts when
// a Wait, Notify or Flush asks for a sequence number no started round covers, and then as soon
// as the previous round ends while such a request is pending. Batching comes from load (appends
// that arrive during a round share the next one), never from a timer. Dirty files nobody waits
// for (acks=1 on a topic without flush settings, as in Kafka) are synced only by the next round
// someone asks for, by Flush, or by Close. With W writers that each
// wait for their append before the next, the writers settle into two cohorts that alternate
// rounds (one syncs while the other writes), so a round releases about W/2 appends.
//
// # Invariants
//
//   - syncedSeq ≤ startedSeq ≤ seq, each non-decreasing; at most one round is in flight.
//   - Wait(s) returns nil, and Notify(s, fn) calls fn(nil), only once syncedSeq ≥ s.
//   - Notify callbacks released by one round run in ascending seq order (ties in call order);
//     rounds release in order, so the flusher's callbacks are globally in seq order. Wait
//     callers of a round are woken before its callbacks run, and may return first.
//   - After the first Sync or SyncDir error the committer is failed forever: no retry (the
//     kernel may already have dropped the dirty pages), every waiter not yet covered and every
//     later MarkDirty gets the same error, which wraps ErrLogDirOffline and the cause and names
//     the file.
//   - A Forgotten file is never synced after Forget returns, and is never closed under a sync
//     in progress (Forget waits for that sync).
//
// # Lock rules
//
// c.mu guards the sequence numbers, the dirty sets, the pending Notify list, the failure and
// closing state and the statistics; see the field comments. It is held only for a few map and
// slice operations, never across an fsync, a SyncDir or a callback (Notify fns, OnSync,
// OnFailure). The flusher owns the round's job slices without a lock; the sync workers read
// them between a start token and WaitGroup.Done. Forget may wait (on c.syncDone) for the
// in-flight fsync phase, but never for callbacks, so a callback that takes a partition lock
// cannot deadlock with a Forget made under that lock.
package groupcommit
