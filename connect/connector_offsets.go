package connect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ConnectorOffsets is the body of GET/PATCH /connectors/{name}/offsets (KIP-875). A sink
// connector's partitions are {"kafka_topic","kafka_partition"} with offset {"kafka_offset"};
// a source connector's are its own source partitions and offsets.
type ConnectorOffsets struct {
	Offsets []ConnectorOffset `json:"offsets"`
}

// ConnectorOffset is one partition and its offset (nil offset: remove it, in a PATCH).
type ConnectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// Message is the body of a successful offsets change.
type Message struct {
	Message string `json:"message"`
}

// offsetsOf returns a connector's plugin kind, checking it exists; stopped reports whether
// its offsets may be modified (STOPPED with no tasks).
func (h *Herder) offsetsOf(name string) (kind Kind, stopped bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.connectors[name]
	if !ok {
		return "", false, notFound("Connector %s not found", name)
	}
	return cs.plugin.Kind, cs.target == TargetStopped && len(cs.taskConfigs) == 0, nil
}

// Offsets returns a connector's committed offsets.
func (h *Herder) Offsets(ctx context.Context, name string) (*ConnectorOffsets, error) {
	kind, _, err := h.offsetsOf(name)
	if err != nil {
		return nil, err
	}
	return h.readOffsets(ctx, name, kind)
}

// readOffsets reads a connector's offsets: the offset store's for a source, the consumer
// group's for a sink.
func (h *Herder) readOffsets(ctx context.Context, name string, kind Kind) (*ConnectorOffsets, error) {
	out := &ConnectorOffsets{Offsets: []ConnectorOffset{}}
	if kind == Source {
		list, err := h.offsets.list(name)
		if err != nil {
			return nil, err
		}
		for _, po := range list {
			out.Offsets = append(out.Offsets, ConnectorOffset{Partition: po.Partition, Offset: po.Offset})
		}
		return out, nil
	}
	resp, err := h.admin.FetchOffsets(ctx, SinkGroup(name))
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("reading the offsets of group %s: %w", SinkGroup(name), err)
	}
	for _, o := range resp.Sorted() {
		if o.Err != nil || o.At < 0 {
			continue
		}
		out.Offsets = append(out.Offsets, ConnectorOffset{
			Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": int64(o.Partition)},
			Offset:    map[string]any{"kafka_offset": o.At},
		})
	}
	return out, nil
}

// AlterOffsets sets (or, for a nil offset, removes) offsets of a stopped connector.
func (h *Herder) AlterOffsets(ctx context.Context, name string, offsets []ConnectorOffset) (*Message, error) {
	if len(offsets) == 0 {
		return nil, badRequest("Partitions / offsets need to be provided for an alter offsets request")
	}
	if err := h.modifyOffsets(ctx, name, offsets, false); err != nil {
		return nil, err
	}
	return &Message{"The offsets for this connector have been altered successfully"}, nil
}

// ResetOffsets removes every offset of a stopped connector.
func (h *Herder) ResetOffsets(ctx context.Context, name string) (*Message, error) {
	if err := h.modifyOffsets(ctx, name, nil, true); err != nil {
		return nil, err
	}
	return &Message{"The offsets for this connector have been reset successfully"}, nil
}

func (h *Herder) modifyOffsets(ctx context.Context, name string, offsets []ConnectorOffset, reset bool) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	kind, stopped, err := h.offsetsOf(name)
	if err != nil {
		return err
	}
	if !stopped {
		return errNotStopped(name)
	}
	return h.writeOffsets(ctx, name, kind, offsets, reset)
}

// errNotStopped is Java's answer to an offsets change on a connector that is not stopped.
func errNotStopped(name string) error {
	return badRequest("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint", name)
}

// writeOffsets sets or resets a connector's offsets: the offset store's for a source, the
// consumer group's for a sink. The caller checked that the connector is stopped.
func (h *Herder) writeOffsets(ctx context.Context, name string, kind Kind, offsets []ConnectorOffset, reset bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if kind == Source {
		var list []PartitionOffset
		if reset {
			stored, err := h.offsets.list(name)
			if err != nil {
				return err
			}
			for _, po := range stored {
				list = append(list, PartitionOffset{Partition: po.Partition})
			}
		} else {
			for _, o := range offsets {
				if o.Partition == nil {
					return badRequest("Partition objects cannot be null")
				}
				list = append(list, PartitionOffset{Partition: o.Partition, Offset: o.Offset})
			}
		}
		return h.offsets.put(name, list)
	}
	group := SinkGroup(name)
	if reset {
		resp, err := h.admin.DeleteGroups(ctx, group)
		if err != nil {
			return fmt.Errorf("deleting group %s: %w", group, err)
		}
		for _, r := range resp {
			if r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
				return fmt.Errorf("deleting group %s: %w", group, r.Err)
			}
		}
		return nil
	}
	commit := make(kadm.Offsets)
	del := make(kadm.TopicsSet)
	for _, o := range offsets {
		topic, _ := o.Partition["kafka_topic"].(string)
		part, ok := asInt64(o.Partition["kafka_partition"])
		if topic == "" || !ok {
			return badRequest("Partition objects should contain the key 'kafka_topic' (a string) and 'kafka_partition' (an integer)")
		}
		if o.Offset == nil {
			del.Add(topic, int32(part))
			continue
		}
		at, ok := asInt64(o.Offset["kafka_offset"])
		if !ok || at < 0 {
			return badRequest("Offset objects should either be null or contain the key 'kafka_offset' with a non-negative integer value")
		}
		commit.Add(kadm.Offset{Topic: topic, Partition: int32(part), At: at, LeaderEpoch: -1})
	}
	if len(commit) > 0 {
		resp, err := h.admin.CommitOffsets(ctx, group, commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("committing offsets for group %s: %w", group, err)
		}
	}
	if len(del) > 0 {
		resp, err := h.admin.DeleteOffsets(ctx, group, del)
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return fmt.Errorf("deleting offsets of group %s: %w", group, err)
		}
	}
	return nil
}

// asInt64 reads a JSON integer (int64 from the runtime's parser, float64 from encoding/json).
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), x == float64(int64(x))
	case int:
		return int64(x), true
	}
	return 0, false
}
