package broker

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/metadata"
)

// Producer ids are unique across restarts: ids are handed out from blocks whose end is
// persisted before the first id of the block is used. The file holds one decimal number, the
// first id not yet reserved; after a restart allocation resumes there, skipping what was left
// of the last block (Kafka's ProducerIdManager does the same with blocks from the controller).
const (
	producerIDFileName  = "producer-id-block"
	producerIDBlockSize = 1000
)

// producerIDs allocates producer ids. The zero value is ready: on a single node it loads its
// file on first use; in a cluster it asks the controller for blocks (allocateClustered).
type producerIDs struct {
	mu     sync.Mutex // guards the fields below; held across the block file write (once per block)
	loaded bool
	next   int64 // next id to hand out
	limit  int64 // ids below limit are reserved on disk
}

// allocate returns a new producer id.
func (a *producerIDs) allocate(fs vfs.FS, dir string) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.loadLocked(fs, dir); err != nil {
		return -1, err
	}
	if a.next >= a.limit {
		limit := a.next + producerIDBlockSize
		data := []byte(strconv.FormatInt(limit, 10) + "\n")
		if err := vfs.WriteFileAtomic(fs, dir, filepath.Join(dir, producerIDFileName), data); err != nil {
			return -1, fmt.Errorf("reserve producer id block: %w", err)
		}
		a.limit = limit
	}
	id := a.next
	a.next++
	return id, nil
}

// allocateClustered returns a new producer id from blocks the cluster's controller hands
// out (AllocateProducerIDs), unique across brokers and failovers. Unused ids of the current
// block are lost at a restart, as in Kafka.
func (a *producerIDs) allocateClustered(c Cluster) (int64, error) {
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

// issued reports whether id was handed out by this directory at some time.
func (a *producerIDs) issued(fs vfs.FS, dir string, id int64) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.loadLocked(fs, dir); err != nil {
		return false, err
	}
	return id >= 0 && id < a.next, nil
}

// REQUIRES: a.mu held.
func (a *producerIDs) loadLocked(fs vfs.FS, dir string) error {
	if a.loaded {
		return nil
	}
	name := filepath.Join(dir, producerIDFileName)
	data, err := vfs.ReadFile(fs, name)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		a.next, a.limit = 0, 0
	case err != nil:
		return err
	default:
		n, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if perr != nil || n < 0 {
			return fmt.Errorf("producer id file %s is corrupt: %q", name, data)
		}
		a.next, a.limit = n, n
	}
	a.loaded = true
	return nil
}
