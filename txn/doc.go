// Package txn is logd's transaction coordinator (KIP-98, KIP-360, KIP-890 part 1's
// verification), modelled on Kafka's TransactionCoordinator, TransactionStateManager and
// TransactionMetadata: the state of every transactional id of one __transaction_state
// partition, InitProducerId, AddPartitionsToTxn (and AddOffsetsToTxn, which adds the group's
// __consumer_offsets partition), EndTxn, the transaction timeout, DescribeTransactions and
// ListTransactions; and transaction version 2 (KIP-890 part 2) per transaction, as the
// client speaks it: partitions added implicitly by partition leaders, an epoch bump on every
// EndTxn v5 (see "Transaction version 2" below).
//
// # State machine
//
// A pure, deterministic core like package group: every request is a method call under the
// transactional id's lock, every timeout goes through an injected group.Clock (ManualClock
// in tests), answers go to reply callbacks (called once, with no lock held), and the
// markers go to an injected sender (Config.SendMarkers) whose completion is a callback too.
//
//	                 InitProducerId (epoch+1, or a new producer id once exhausted)
//	                ┌──────────────┐
//	                ▼              │
//	(new id) ──► Empty ──AddPartitions──► Ongoing ──EndTxn(commit)──► PrepareCommit ──markers written──► CompleteCommit
//	                                       │  ▲                                                            │
//	                                       │  └──────────────── AddPartitions ─────────────────────────────┤
//	                                       │                                                               │
//	                                       ├──EndTxn(abort)──────────────────► PrepareAbort ──markers──► CompleteAbort
//	                                       └──timeout, or InitProducerId of a new producer
//	                                          (epoch+1: fences the old one)──► PrepareAbort
//
// Complete states go back to Ongoing on the next AddPartitions and to Empty on
// InitProducerId. An id idle in Empty or Complete* for transactional.id.expiration.ms
// (7 days) becomes Dead: a tombstone is written and it leaves the map, so the next
// InitProducerId starts it afresh. PrepareEpochFence is a Kafka state this coordinator reads
// but never enters (the fence is written as PrepareAbort at the bumped epoch, as Kafka
// writes it).
//
// Rules kept from Kafka: a request of another producer id gets INVALID_PRODUCER_ID_MAPPING,
// of another epoch PRODUCER_FENCED; while a change of the id is being written, or its
// transaction is in a Prepare state, every change gets CONCURRENT_TRANSACTIONS (clients
// retry); a duplicate EndTxn of a completed transaction succeeds and one of the other
// outcome gets INVALID_TXN_STATE, any EndTxn of one completing CONCURRENT_TRANSACTIONS
// (answers checked against Apache Kafka 4.3.1 with transaction version 1). KIP-360: InitProducerId
// with the current producer id and epoch bumps the epoch, with the previous epoch (a retry
// whose answer was lost) answers the same again, with anything else PRODUCER_FENCED. An
// epoch at Short.MAX_VALUE-1 or above is exhausted: the next InitProducerId moves the id to a
// new producer id at epoch 0. The timeout runs from the transaction's start (the first
// AddPartitions); on expiry the transaction is aborted with the epoch bumped, so the
// timed-out producer is fenced.
//
// # Transaction version 2
//
// A transaction speaks version 2 when its last AddPartitions or EndTxn came from a v2
// client (Produce v12's and TxnOffsetCommit v5's implicit adds, EndTxn v5). Then, as Kafka's
// TransactionCoordinator.endTransaction: EndTxn writes its Prepare state at epoch+1 (the
// markers carry it; the client's next transaction runs at it, so nothing sent at the old
// epoch can join a later transaction: KAFKA-17754), and at an exhausted epoch also a next
// producer id, which the Complete state moves to at epoch 0 (the answer gives it at once;
// the previous producer id is kept for the retry). Retry rules: in Prepare states the
// epoch just bumped from and the bumped one (ErrConcurrentTransactions; Kafka fences the
// bumped one, which only the live client holds: it ends its next transaction before the
// markers of the last are written, an abort right after a commit), in Complete states that epoch or the
// previous producer id at Short.MAX_VALUE-1 (success, the same answer), in Ongoing and Empty
// only the current epoch (so a late EndTxn is PRODUCER_FENCED). A v2 abort with the current
// epoch and nothing ongoing bumps the epoch as an empty transaction. A timeout or fence
// bumps the epoch once, as under version 1: the timed-out v2 producer's EndTxn abort at its
// old epoch is then a retry, answered with the bumped epoch (Apache Kafka 4.3.1 answers
// every one of these cases the same way, checked with raw requests, except the one noted).
// The markers carry the transaction's version (Markers.TxnVersion; WriteTxnMarkers v2,
// KIP-1228, when the leader speaks it): at version 2 a leader refuses a marker whose epoch
// is not above the producer's while the producer's transaction is open there, so a late
// marker of one transaction cannot end the next, which runs at the epoch it carried.
//
// # Persistence: __transaction_state
//
// One record per change, Kafka's schemas (kmsg TxnMetadataKey v0 / TxnMetadataValue v0, v1
// for a version 2 transaction):
//
//	key   int16 version 0 │ string transactional id
//	value int16 version 0 │ int64 producer id │ int16 epoch │ int32 timeout ms │ int8 state │
//	      [topic, [partition]] │ int64 last update ms │ int64 start ms (-1: none)
//	value v1: the same, flexible (compact strings and arrays), with tagged fields
//	      0 previous producer id, 1 next producer id, 2 client transaction version
//
// A change is applied in memory only once its record is durable (for the broker: committed
// by the in-sync replicas); the request is answered then. EndTxn is answered once
// PrepareCommit/PrepareAbort is durable; the markers follow, and the Complete state is
// written once every partition has its marker. The records go through group.Journal (the
// broker uses group.LogJournal over the partition's log, the same append/replay the group
// coordinator uses); New replays the partition's live records: Prepare states send their
// markers again, Ongoing transactions keep their deadline (start + timeout). A coordinator
// that loses its partition is closed (ErrNotCoordinator); its successor resumes from the log.
//
// # Locks
//
// Coordinator.mu (the id map, never held while calling out) and entry.mu (one id's state),
// never nested: an entry's lock is taken with no coordinator lock held. No lock is held
// across a journal append's durability wait, a reply, Config.NewProducerID or
// Config.SendMarkers. Timer callbacks take entry.mu themselves; a ManualClock runs them with
// no clock lock held. The journal's own locks (group.LogJournal) are taken by Append,
// called with no txn lock held.
package txn
