package streams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Interactive queries read the stores of the tasks open on this instance, as of their
// last commit (what the changelog holds; uncommitted writes are invisible). A key
// lives in the task numbered by Kafka's default partitioner (murmur2 of its bytes), as
// its records do; Locate says which instance has that task.

// ErrNotLocal is the error of a query for a key whose task is not open on this
// instance; Locate finds the instance where it is.
var ErrNotLocal = errors.New("streams: the key's task is not open on this instance (Locate finds the one that has it)")

// errNotRunning is the error of a query before Run checked the topics (the number of
// tasks is not known yet).
var errNotRunning = errors.New("streams: the application is not running yet (Run has not checked its topics)")

// KeyLocation is where a key's task runs.
type KeyLocation struct {
	Partition int32  // the task: the partition number of the key in every input
	Endpoint  string // the Config.Endpoint of the instance running it ("" if it set none)
	Local     bool   // the task is open on this instance
}

// keyTask returns the task number of a key's bytes.
func (a *App) keyTask(kb []byte) (int32, error) {
	n := a.tasks.Load()
	switch {
	case n == 0:
		return 0, errNotRunning
	case kb == nil:
		return 0, errors.New("streams: a null key has no task")
	}
	return int32(taskPartitioner{}.ForTopic("").Partition(&kgo.Record{Key: kb, Partition: -1}, int(n))), nil
}

// withStore runs f on store name of task p, if the task is open here, holding the
// registry so that the task cannot close meanwhile.
func (a *App) withStore(p int32, name string, f func(*kvStore) error) error {
	a.liveMu.RLock()
	defer a.liveMu.RUnlock()
	t := a.live[p]
	if t == nil {
		return ErrNotLocal
	}
	s := t.stores[name]
	if s == nil {
		return fmt.Errorf("streams: the topology has no store %q", name)
	}
	return f(s)
}

// QueryKey returns the value of key k in the key-value store name (a table, an
// aggregation, a join result or a processor's store).
func QueryKey[K, V any](a *App, name string, k K, keys Serde[K], values Serde[V]) (V, bool, error) {
	var (
		v     V
		found bool
	)
	kb, err := keys.Encode(k)
	if err != nil {
		return v, false, fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
	}
	p, err := a.keyTask(kb)
	if err != nil {
		return v, false, err
	}
	err = a.withStore(p, name, func(s *kvStore) error {
		if s.spec.kind != keyValueStore {
			return fmt.Errorf("streams: store %s is windowed: use QueryWindows", name)
		}
		dk := append([]byte{dataPrefix}, kb...)
		es, err := s.iterate(s.db, dk, append(dk, 0))
		if err != nil || len(es) == 0 {
			return err
		}
		found = true
		v, err = decodeStored(values, es[0].value, name)
		return err
	})
	return v, found, err
}

// QueryRange calls f with every entry of the key-value store name, in the tasks open
// on this instance, whose encoded key is in [from, to] bytewise (nil: unbounded), task
// by task in key order, until f returns false.
func QueryRange[K, V any](a *App, name string, from, to *K, keys Serde[K], values Serde[V], f func(K, V) bool) error {
	lower, upper := []byte{dataPrefix}, []byte{dataPrefix + 1}
	if from != nil {
		kb, err := keys.Encode(*from)
		if err != nil {
			return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
		}
		lower = append(lower, kb...)
	}
	if to != nil {
		kb, err := keys.Encode(*to)
		if err != nil {
			return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
		}
		upper = append(append([]byte{dataPrefix}, kb...), 0)
	}
	a.liveMu.RLock()
	ids := make([]int32, 0, len(a.live))
	for id := range a.live {
		ids = append(ids, id)
	}
	a.liveMu.RUnlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		var es []keyedEntry
		err := a.withStore(id, name, func(s *kvStore) error {
			if s.spec.kind != keyValueStore {
				return fmt.Errorf("streams: store %s is windowed: use QueryWindows", name)
			}
			var err error
			es, err = s.iterate(s.db, lower, upper)
			return err
		})
		if errors.Is(err, ErrNotLocal) {
			continue // closed since
		}
		if err != nil {
			return err
		}
		for _, e := range es {
			k, err := decode(keys, e.sk, "key of store "+name)
			if err != nil {
				return err
			}
			v, err := decodeStored(values, e.value, name)
			if err != nil {
				return err
			}
			if !f(k, v) {
				return nil
			}
		}
	}
	return nil
}

// QueryWindows calls f with the windows of key k in the windowed aggregation store
// name, in time order, until f returns false: tumbling, hopping and sliding windows
// starting in [from, to], sessions overlapping [from, to] (ending at or after from and
// starting at or before to). Tumbling and hopping windows are kept for their retention
// (see WithRetention; an expired one is not returned), other windows until they close
// (sliding windows a little longer).
func QueryWindows[K, V any](a *App, name string, k K, from, to int64, keys Serde[K], values Serde[V], f func(Windowed[K], V) bool) error {
	kb, err := keys.Encode(k)
	if err != nil {
		return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
	}
	p, err := a.keyTask(kb)
	if err != nil {
		return err
	}
	type window struct {
		start, end int64
		value      []byte
	}
	var ws []window
	err = a.withStore(p, name, func(s *kvStore) error {
		d := func(sk []byte) []byte { return append([]byte{dataPrefix}, sk...) }
		switch {
		case s.spec.kind == timeWindowStore:
			// Expired windows (start + retention ≤ stream time) answer nothing, even
			// before the store drops them at its next commit (as Kafka's fetch).
			st, ok, err := s.meta(metaStreamTime)
			if err != nil {
				return err
			}
			if ok && st > math.MinInt64+s.spec.retention {
				from = max(from, st-s.spec.retention+1)
			}
			if from > to {
				return nil
			}
			es, err := s.iterate(s.db, d(windowStoreKey(from, nil)), d(windowStoreKey(to+1, nil)))
			for _, e := range es {
				if bytes.Equal(e.sk[8:], kb) {
					start := windowStoreStart(e.sk)
					ws = append(ws, window{start, start + s.spec.size, e.value})
				}
			}
			return err
		case s.spec.kind == keyedWindowStore && s.spec.size > 0:
			es, err := s.iterate(s.db, d(keyedTimeKey(kb, from)), d(keyedTimeKey(kb, to+1)))
			for _, e := range es {
				_, times, err := splitKeyedTimeKey(e.sk, 1)
				if err != nil {
					return err
				}
				if len(e.value) < 8 {
					return fmt.Errorf("streams: store %s: a sliding window value of %d bytes, want at least 8", name, len(e.value))
				}
				ws = append(ws, window{times[0], times[0] + s.spec.size, e.value[8:]})
			}
			return err
		case s.spec.kind == sessionStore:
			es, err := s.iterate(s.db, d(keyedTimeKey(kb, from)), d(keyedTimeKey(kb, math.MaxInt64-1)))
			for _, e := range es {
				_, times, err := splitKeyedTimeKey(e.sk, 2)
				if err != nil {
					return err
				}
				if times[1] <= to {
					ws = append(ws, window{times[1], times[0], e.value})
				}
			}
			return err
		}
		return fmt.Errorf("streams: store %s holds no windowed aggregation", name)
	})
	if err != nil {
		return err
	}
	for _, w := range ws {
		v, err := decodeStored(values, w.value, name)
		if err != nil {
			return err
		}
		if !f(Windowed[K]{Key: k, Start: w.start, End: w.end}, v) {
			return nil
		}
	}
	return nil
}

// Locate returns where the task of key k runs, asking the group's coordinator which
// member has it and reading that member's endpoint from its subscription.
func Locate[K any](ctx context.Context, a *App, k K, keys Serde[K]) (KeyLocation, error) {
	kb, err := keys.Encode(k)
	if err != nil {
		return KeyLocation{}, fmt.Errorf("streams: encoding a key: %w", err)
	}
	p, err := a.keyTask(kb)
	if err != nil {
		return KeyLocation{}, err
	}
	loc := KeyLocation{Partition: p}
	a.liveMu.RLock()
	loc.Local = a.live[p] != nil
	a.liveMu.RUnlock()
	groups, err := kadm.NewClient(a.admin).DescribeGroups(ctx, a.cfg.ApplicationID)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		return loc, fmt.Errorf("streams: describing group %s: %w", a.cfg.ApplicationID, err)
	}
	for _, m := range groups[a.cfg.ApplicationID].Members {
		asg, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range asg.Topics {
			if _, input := a.sources[t.Topic]; !input || !slices.Contains(t.Partitions, p) {
				continue
			}
			if meta, ok := m.Join.AsConsumer(); ok {
				_, loc.Endpoint, _ = parseMemberUserData(meta.UserData)
			}
			return loc, nil
		}
	}
	return loc, fmt.Errorf("streams: no member of group %s has task %d (a rebalance in progress?)", a.cfg.ApplicationID, p)
}
