package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/logd/logd/internal/vfs"
)

// PartitionOffset is one source partition and its offset (nil: none, a tombstone).
type PartitionOffset struct {
	Partition map[string]any
	Offset    map[string]any
}

// offsetStore keeps source offsets. Keys and values are the bytes Kafka Connect keeps in its
// offsets topic: key ["<connector>",{partition}] and value {offset}, both schemaless JSON with
// object keys sorted, so that a partition written twice is the same key.
type offsetStore interface {
	// get returns the offset of a connector's source partition, nil if none.
	get(connector string, partition map[string]any) (map[string]any, error)
	// put stores offsets durably (an offset nil removes the partition).
	put(connector string, offsets []PartitionOffset) error
	// list returns every stored partition of the connector, ordered by key.
	list(connector string) ([]PartitionOffset, error)
}

// schemalessJSON is the JsonConverter Kafka Connect stores offsets with (schemas.enable=false).
var schemalessJSON = &jsonConverter{replaceNull: true}

// offsetKey is the offsets-topic key of a connector's source partition.
func offsetKey(connector string, partition map[string]any) ([]byte, error) {
	return schemalessJSON.FromConnect("", nil, []any{connector, partition})
}

// parseOffsetKey reads an offsets-topic key; ok is false for keys of another shape.
func parseOffsetKey(key []byte) (connector string, partition map[string]any, ok bool) {
	_, v, err := schemalessJSON.ToConnect("", key)
	if err != nil {
		return "", nil, false
	}
	arr, _ := v.([]any)
	if len(arr) != 2 {
		return "", nil, false
	}
	connector, ok1 := arr[0].(string)
	partition, ok2 := arr[1].(map[string]any)
	return connector, partition, ok1 && ok2
}

// parseOffsetValue reads an offsets-topic value (nil: a tombstone).
func parseOffsetValue(value []byte) (map[string]any, error) {
	if value == nil {
		return nil, nil
	}
	_, v, err := schemalessJSON.ToConnect("", value)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("offset %s is not a JSON object", value)
	}
	return m, nil
}

// fileOffsets is standalone mode's offset.storage.file.filename. Java writes a serialized
// java.util.HashMap there; this runtime writes its own format instead, a JSON object from the
// offsets-topic key text to the offset value:
//
//	{"[\"file-source\",{\"filename\":\"/tmp/in.txt\"}]":{"position":1024}}
//
// replaced atomically on every put (temporary file, fsync, rename, fsync of the directory).
type fileOffsets struct {
	path string
	mu   sync.Mutex
	data map[string]json.RawMessage // guarded by mu
}

func openFileOffsets(path string) (*fileOffsets, error) {
	f := &fileOffsets{path: path, data: make(map[string]json.RawMessage)}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(b, &f.data); err != nil {
		return nil, fmt.Errorf("offset file %s is not a JSON object of offsets (was it written by Java's worker? this runtime keeps its own format): %w", path, err)
	}
	return f, nil
}

func (f *fileOffsets) get(connector string, partition map[string]any) (map[string]any, error) {
	k, err := offsetKey(connector, partition)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	v, ok := f.data[string(k)]
	f.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return parseOffsetValue(v)
}

func (f *fileOffsets) put(connector string, offsets []PartitionOffset) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := make(map[string]json.RawMessage, len(f.data)+len(offsets))
	for k, v := range f.data {
		next[k] = v
	}
	for _, po := range offsets {
		k, err := offsetKey(connector, po.Partition)
		if err != nil {
			return err
		}
		if po.Offset == nil {
			delete(next, string(k))
			continue
		}
		v, err := schemalessJSON.FromConnect("", nil, po.Offset)
		if err != nil {
			return err
		}
		next[string(k)] = v
	}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(vfs.Default, filepath.Dir(f.path), f.path, b); err != nil {
		return fmt.Errorf("writing offsets to %s: %w", f.path, err)
	}
	f.data = next
	return nil
}

func (f *fileOffsets) list(connector string) ([]PartitionOffset, error) {
	f.mu.Lock()
	keys := make([]string, 0, len(f.data))
	for k := range f.data {
		keys = append(keys, k)
	}
	f.mu.Unlock()
	slices.Sort(keys)
	var out []PartitionOffset
	for _, k := range keys {
		name, partition, ok := parseOffsetKey([]byte(k))
		if !ok || name != connector {
			continue
		}
		f.mu.Lock()
		v := f.data[k]
		f.mu.Unlock()
		off, err := parseOffsetValue(v)
		if err != nil {
			return nil, err
		}
		out = append(out, PartitionOffset{Partition: partition, Offset: off})
	}
	return out, nil
}
