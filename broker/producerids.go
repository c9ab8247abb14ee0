package broker

import (
	"fmt"
	"sync"

	"github.com/logd/logd/metadata"
)

// producerIDs allocates producer ids from blocks the cluster's controller hands out
// (AllocateProducerIDs), unique across brokers, failovers and restarts. Unused ids of the
// current block are lost at a restart, as in Kafka. The zero value is ready.
type producerIDs struct {
	mu    sync.Mutex // guards the fields below; held across a block request (once per block)
	next  int64      // next id to hand out
	limit int64      // ids below limit belong to the current block
}

// allocate returns a new producer id.
func (a *producerIDs) allocate(c Cluster) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.limit {
		first, err := c.AllocateProducerIDs()
		if err != nil {
			return -1, fmt.Errorf("reserve producer id block: %w", err)
		}
		a.next, a.limit = first, first+metadata.ProducerIDBlockSize
	}
	id := a.next
	a.next++
	return id, nil
}
