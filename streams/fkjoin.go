package streams

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// JoinForeignKey joins table t with table other by a foreign key (Kafka's KTable
// foreign-key join, KIP-213): each row (k, v) of t joins the row of other whose key is
// fk(k, v), into f(k, v, other value), kept in the table's store name. The tables need
// not be co-partitioned by the same key: t's rows subscribe to other's keys through
// the topic `<app>-<name>-subscription-registration-topic` (keyed by the foreign key,
// partitioned as other), other's partitions keep the subscriptions in the store
// `<name>-subscription-store` and answer through `<app>-<name>-subscription-response-topic`
// (back to the partition of t's row). Every answer carries a hash of the value of t it
// was asked for; one arriving after that value changed is stale and dropped. A row
// leaves the result when either side loses it or its foreign key changes to one other
// lacks; a foreign key encoding to nil joins nothing. other's keys must be encoded by
// its key serde as the foreign keys are, and both tables' topics must have the same
// partition count (as every input).
func JoinForeignKey[K, V, KO, VO, VR any](t *Table[K, V], other *Table[KO, VO], name string, fk func(K, V) KO, f func(K, V, VO) VR, results Serde[VR]) *Table[K, VR] {
	if f == nil {
		t.b.fail("JoinForeignKey(%q): nil function", name)
	}
	return joinForeignKey(t, other, name, fk, false, results, func(k K, v V, vo *VO) VR { return f(k, v, *vo) })
}

// LeftJoinForeignKey is JoinForeignKey keeping every row of t: f gets nil while other
// lacks the row's foreign key (or the foreign key encodes to nil).
func LeftJoinForeignKey[K, V, KO, VO, VR any](t *Table[K, V], other *Table[KO, VO], name string, fk func(K, V) KO, f func(K, V, *VO) VR, results Serde[VR]) *Table[K, VR] {
	if f == nil {
		t.b.fail("LeftJoinForeignKey(%q): nil function", name)
	}
	return joinForeignKey(t, other, name, fk, true, results, f)
}

// Subscription instructions (Kafka's SubscriptionWrapper.Instruction): what the
// subscribed partition does with a registration.
const (
	fkDeleteAndPropagate   = 0 // the row left t: drop the subscription, answer "no row"
	fkDeleteNoPropagate    = 1 // the row's foreign key changed: drop the old subscription
	fkPropagateNull        = 2 // subscribe; answer with other's value, or none
	fkPropagateIfAvailable = 3 // subscribe; answer only if other has the key (inner join)
)

// Subscription registration value (our own format, not Kafka's SubscriptionWrapper):
//
//	version 0 (1 byte) ‖ instruction (1) ‖ has hash (1) ‖ hash (16, if has hash)
//	‖ primary partition (4, BE) ‖ primary key (rest)
//
// Subscription response value:
//
//	version 0 (1 byte) ‖ has hash (1) ‖ hash (16, if has hash) ‖ has value (1)
//	‖ other's value (rest, if has value)
//
// Subscription store: key len(foreign key) (4, BE) ‖ foreign key ‖ primary key
// (Kafka's CombinedKey layout), value hash (16) ‖ primary partition (4, BE).
const fkHashLen = 16

// fkHash is the 128-bit FNV-1a hash of a value of t as stored (Kafka uses Murmur3's
// 128-bit hash); nil for no value.
func fkHash(value []byte) []byte {
	if value == nil {
		return nil
	}
	h := fnv.New128a()
	h.Write(value)
	return h.Sum(nil)
}

// fkSubscription is a decoded registration.
type fkSubscription struct {
	instruction byte
	hash        []byte // nil: the row is gone
	partition   int32
	primaryKey  []byte
}

func (s fkSubscription) encode() []byte {
	out := []byte{0, s.instruction, 0}
	if s.hash != nil {
		out[2] = 1
		out = append(out, s.hash...)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(s.partition))
	return append(out, s.primaryKey...)
}

func decodeFKSubscription(b []byte) (fkSubscription, error) {
	var s fkSubscription
	if len(b) < 3 || b[0] != 0 || b[1] > fkPropagateIfAvailable || b[2] > 1 {
		return s, fmt.Errorf("streams: a foreign-key subscription of %d bytes: want version 0, an instruction ≤ 3 and a hash flag", len(b))
	}
	s.instruction = b[1]
	hashed := b[2] == 1
	b = b[3:]
	if hashed {
		if len(b) < fkHashLen {
			return s, fmt.Errorf("streams: a foreign-key subscription is truncated in its hash (%d bytes left)", len(b))
		}
		s.hash, b = b[:fkHashLen], b[fkHashLen:]
	}
	if len(b) < 4 {
		return s, fmt.Errorf("streams: a foreign-key subscription is truncated in its partition (%d bytes left)", len(b))
	}
	s.partition, s.primaryKey = int32(binary.BigEndian.Uint32(b)), b[4:]
	return s, nil
}

// fkResponse is a decoded response.
type fkResponse struct {
	hash  []byte // the hash of the row the answer is for, nil for a row that is gone
	value []byte // other's value, nil if it has none
}

func (r fkResponse) encode() []byte {
	out := []byte{0, 0}
	if r.hash != nil {
		out[1] = 1
		out = append(out, r.hash...)
	}
	if r.value == nil {
		return append(out, 0)
	}
	return append(append(out, 1), r.value...)
}

func decodeFKResponse(b []byte) (fkResponse, error) {
	var r fkResponse
	if len(b) < 3 || b[0] != 0 || b[1] > 1 {
		return r, fmt.Errorf("streams: a foreign-key response of %d bytes: want version 0 and a hash flag", len(b))
	}
	hashed := b[1] == 1
	b = b[2:]
	if hashed {
		if len(b) < fkHashLen+1 {
			return r, fmt.Errorf("streams: a foreign-key response is truncated in its hash (%d bytes left)", len(b))
		}
		r.hash, b = b[:fkHashLen], b[fkHashLen:]
	}
	switch {
	case len(b) < 1 || b[0] > 1:
		return r, fmt.Errorf("streams: a foreign-key response lacks its value flag")
	case b[0] == 1:
		r.value = append([]byte{}, b[1:]...) // an empty value is a value, not none
	}
	return r, nil
}

// combinedKey is the subscription store's key: len(fk) ‖ fk ‖ primary key.
func combinedKey(fk, pk []byte) []byte {
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(fk)+len(pk)), uint32(len(fk)))
	return append(append(out, fk...), pk...)
}

// joinForeignKey builds the four parts of a foreign-key join: the registration of t's
// rows (in t's tasks), the subscription store answering them and following other's
// changes (in other's tasks), and the resolution of answers into the result (in t's
// tasks again).
func joinForeignKey[K, V, KO, VO, VR any](t *Table[K, V], other *Table[KO, VO], name string, fk func(K, V) KO, left bool, results Serde[VR], f func(K, V, *VO) VR) *Table[K, VR] {
	b := t.b
	switch {
	case other.b != b:
		b.fail("foreign-key join %q: the tables are of different builders", name)
	case t.wagg != nil || other.wagg != nil:
		b.fail("foreign-key join %q: a windowed table cannot be joined", name)
	case fk == nil:
		b.fail("foreign-key join %q: nil foreign-key extractor", name)
	case results == nil:
		b.fail("foreign-key join %q: nil serde", name)
	}
	subStore, fkStore := name+"-subscription-store", name+"-subscription-fk-store"
	registration, response := name+"-subscription-registration-topic", name+"-subscription-response-topic"
	for _, suffix := range []string{registration, response} {
		if b.parts[suffix] {
			b.fail("foreign-key join %q: topic %s used twice", name, suffix)
		}
		b.parts[suffix] = true
	}
	b.addStore(storeSpec{name: name})
	b.addStore(storeSpec{name: subStore})
	b.addStore(storeSpec{name: fkStore})
	out := b.child(nil, "fk-join-result", func(n *node) func(*recordContext, any, any) error { return n.forward })
	subscribe := instructionFor(left)

	// resolve sets (vo != nil or left) or deletes the result of row k.
	resolve := func(c *recordContext, k K, kb []byte, v *V, vo *VO) error {
		var r VR
		ok := v != nil && (vo != nil || left)
		if ok {
			r = f(k, *v, vo)
		}
		return setResult(c, c.t.store(name), out, k, kb, r, ok, results)
	}

	// Registration: each change of a row of t subscribes it to its foreign key (and
	// unsubscribes it from the previous one, kept in fkStore).
	b.child(t.n, "fk-join-register", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kk := k.(K)
			kb, err := t.keys.Encode(kk)
			if err != nil || kb == nil {
				return err
			}
			fks := c.t.store(fkStore)
			oldFK, hadFK, err := fks.get(kb)
			if err != nil {
				return err
			}
			send := func(fkb []byte, instruction byte, hash []byte) {
				s := fkSubscription{instruction: instruction, hash: hash, partition: c.t.id, primaryKey: kb}
				c.t.send(c.t.a.internalTopic(registration), -1, fkb, s.encode(), c.ts)
			}
			vv, present := v.(V)
			if !present { // the row left t
				if !hadFK {
					return resolve(c, kk, kb, nil, nil) // it had no foreign key: its result is here
				}
				send(oldFK, fkDeleteAndPropagate, nil)
				return fks.delete(c, kb)
			}
			raw, _, err := c.t.store(t.store).get(kb)
			if err != nil {
				return err
			}
			newFK, err := other.keys.Encode(fk(kk, vv))
			if err != nil {
				return fmt.Errorf("streams: encoding a foreign key for join %s: %w", name, err)
			}
			if newFK == nil { // no foreign key: joins nothing, resolved here
				if hadFK {
					send(oldFK, fkDeleteNoPropagate, nil)
					if err := fks.delete(c, kb); err != nil {
						return err
					}
				}
				return resolve(c, kk, kb, &vv, nil)
			}
			instruction := subscribe
			if hadFK && !bytes.Equal(oldFK, newFK) {
				send(oldFK, fkDeleteNoPropagate, nil)
				instruction = fkPropagateNull // the old foreign key's result must go, even inner
			}
			send(newFK, instruction, fkHash(raw))
			return fks.put(c, kb, newFK)
		}
	})

	// The subscribed side: registrations (partitioned as other) update the subscription
	// store and are answered with other's current value.
	respond := func(c *recordContext, s fkSubscription, value []byte) {
		r := fkResponse{hash: s.hash, value: value}
		c.t.send(c.t.a.internalTopic(response), s.partition, s.primaryKey, r.encode(), c.ts)
	}
	b.child(b.source(internalTopicPlaceholder(registration)), "fk-join-subscribe", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			fkb, _ := k.([]byte)
			s, err := decodeFKSubscription(bytesOf(v))
			if err != nil {
				return err
			}
			if fkb == nil {
				return fmt.Errorf("streams: a foreign-key subscription without a foreign key")
			}
			ss := c.t.store(subStore)
			ck := combinedKey(fkb, s.primaryKey)
			switch s.instruction {
			case fkDeleteAndPropagate:
				if err := ss.delete(c, ck); err != nil {
					return err
				}
				respond(c, s, nil)
				return nil
			case fkDeleteNoPropagate:
				return ss.delete(c, ck)
			}
			if s.hash == nil {
				return fmt.Errorf("streams: a foreign-key subscription without the hash of its row")
			}
			if err := ss.put(c, ck, binary.BigEndian.AppendUint32(append([]byte{}, s.hash...), uint32(s.partition))); err != nil {
				return err
			}
			value, found, err := c.t.store(other.store).get(fkb)
			if err != nil {
				return err
			}
			if found || s.instruction == fkPropagateNull {
				respond(c, s, value)
			}
			return nil
		}
	})
	// A change of other answers every row subscribed to its key.
	b.child(other.n, "fk-join-foreign-change", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, _ any) error {
			fkb, err := other.keys.Encode(k.(KO))
			if err != nil || fkb == nil {
				return err
			}
			value, _, err := c.t.store(other.store).get(fkb)
			if err != nil {
				return err
			}
			prefix := append([]byte{dataPrefix}, combinedKey(fkb, nil)...)
			subs, err := c.t.store(subStore).scan(prefix, prefixEnd(prefix), false)
			if err != nil {
				return err
			}
			for _, e := range subs {
				if len(e.value) != fkHashLen+4 {
					return fmt.Errorf("streams: store %s: a subscription of %d bytes, want %d", subStore, len(e.value), fkHashLen+4)
				}
				respond(c, fkSubscription{hash: e.value[:fkHashLen], partition: int32(binary.BigEndian.Uint32(e.value[fkHashLen:])),
					primaryKey: e.sk[4+len(fkb):]}, value)
			}
			return nil
		}
	})

	// Resolution: an answer whose hash is not the current row's is stale and dropped.
	b.child(b.source(internalTopicPlaceholder(response)), "fk-join-resolve", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kb, _ := k.([]byte)
			r, err := decodeFKResponse(bytesOf(v))
			if err != nil {
				return err
			}
			if kb == nil {
				return fmt.Errorf("streams: a foreign-key response without a primary key")
			}
			raw, found, err := c.t.store(t.store).get(kb)
			if err != nil {
				return err
			}
			if !bytes.Equal(fkHash(raw), r.hash) {
				c.t.a.metrics.StaleForeignKeyResponses.Add(1)
				return nil
			}
			kk, err := decode(t.keys, kb, "key of store "+t.store)
			if err != nil {
				return err
			}
			var this *V
			if found {
				vv, err := decodeStored(t.values, raw, t.store)
				if err != nil {
					return err
				}
				this = &vv
			}
			var that *VO
			if r.value != nil {
				vo, err := decodeStored(other.values, r.value, other.store)
				if err != nil {
					return err
				}
				that = &vo
			}
			return resolve(c, kk, kb, this, that)
		}
	})
	return &Table[K, VR]{b: b, n: out, store: name, keys: t.keys, values: results}
}

// instructionFor is the instruction of a registration whose foreign key did not change.
func instructionFor(left bool) byte {
	if left {
		return fkPropagateNull
	}
	return fkPropagateIfAvailable
}

// bytesOf is a raw record value, nil for a null one.
func bytesOf(v any) []byte {
	b, _ := v.([]byte)
	return b
}

// prefixEnd is the least key after every key starting with prefix (prefix must not be
// all 0xff, which a data key never is: it starts with dataPrefix).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte{}, prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
