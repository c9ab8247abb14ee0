package group

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memJournal is an in-memory Journal; fail makes appends fail.
type memJournal struct {
	mu   sync.Mutex
	recs [][]Record // by partition, in append order
	fail bool
}

func (j *memJournal) Append(partition int32, recs []Record) (Durable, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail {
		return nil, errors.New("journal offline")
	}
	for int(partition) >= len(j.recs) {
		j.recs = append(j.recs, nil)
	}
	j.recs[partition] = append(j.recs[partition], recs...)
	return func(done func(error)) { done(nil) }, nil
}

// AppendTxn appends recs as pending records of the producer's transaction: memJournal has
// no markers, so they stay pending (LogJournal's tests cover markers).
func (j *memJournal) AppendTxn(partition int32, producerID int64, _ int16, recs []Record) (Durable, error) {
	tagged := make([]Record, len(recs))
	for i, r := range recs {
		tagged[i] = Record{Key: r.Key, Value: r.Value, pending: true, producerID: producerID}
	}
	return j.Append(partition, tagged)
}

// live is the last-write-wins image, as LogJournal replays it, then the pending records.
func (j *memJournal) live(yield func(Record) bool) {
	j.mu.Lock()
	img := map[string][]byte{}
	var pending []Record
	for _, p := range j.recs {
		for _, r := range p {
			if r.pending {
				pending = append(pending, r)
			} else if r.Value == nil {
				delete(img, string(r.Key))
			} else {
				img[string(r.Key)] = r.Value
			}
		}
	}
	j.mu.Unlock()
	for k, v := range img {
		if !yield(Record{Key: []byte(k), Value: v}) {
			return
		}
	}
	for _, r := range pending {
		if !yield(r) {
			return
		}
	}
}

type fixture struct {
	t     *testing.T
	clock *ManualClock
	j     *memJournal
	c     *Coordinator
	ids   int
}

func newFixture(t *testing.T, modify func(*Config)) *fixture {
	f := &fixture{t: t, clock: NewManualClock(time.Unix(1_700_000_000, 0)), j: &memJournal{}}
	f.c = New(f.config(modify), f.j, nil)
	t.Cleanup(f.c.Close)
	return f
}

func (f *fixture) config(modify func(*Config)) Config {
	cfg := Config{Partitions: 3, InitialRebalanceDelay: 100 * time.Millisecond, Clock: f.clock,
		NewMemberID: func(client string) string { f.ids++; return fmt.Sprintf("%s-%d", client, f.ids) }}
	if modify != nil {
		modify(&cfg)
	}
	return cfg
}

// restart builds a new coordinator from the journal's live records.
func (f *fixture) restart() {
	f.c.Close()
	f.c = New(f.config(nil), f.j, f.j.live)
}

func joinReq(group, member, client string, protos ...string) JoinRequest {
	r := JoinRequest{Group: group, MemberID: member, ClientID: client, ProtocolType: "consumer",
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second, RequireKnownMemberID: true}
	if len(protos) == 0 {
		protos = []string{"range"}
	}
	for _, p := range protos {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: []byte(p + "-meta")})
	}
	return r
}

// ready returns the result if one is available.
func ready[T any](ch <-chan T) (T, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

func mustReady[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	v, ok := ready(ch)
	if !ok {
		t.Fatal("no answer yet")
	}
	return v
}

func mustErr(t *testing.T, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("error %v, want %v", got, want)
	}
}

// joinFull does the KIP-394 two-step join and returns the parked channel and member id.
func (f *fixture) joinFull(req JoinRequest) (<-chan JoinResult, string) {
	f.t.Helper()
	return joinTwoStep(f.t, f.c, req)
}

// joinTwoStep is the KIP-394 two-step join of one member on c.
func joinTwoStep(t *testing.T, c *Coordinator, req JoinRequest) (<-chan JoinResult, string) {
	t.Helper()
	first := mustReady(t, c.Join(req))
	mustErr(t, first.Err, kerr.MemberIDRequired)
	req.MemberID = first.MemberID
	return c.Join(req), first.MemberID
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}
