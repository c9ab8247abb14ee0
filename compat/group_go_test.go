//go:build compat

package compat

// The Go clients' consumer-group members: franz-go, sarama and segmentio/kafka-go. They run as
// children of the test binary so that a scenario can kill one with SIGKILL: when
// COMPAT_GO_MEMBER names a client, init runs that member with the group line protocol of
// group_test.go on os.Args[1:] and exits before any test starts.
//
// Commits are synchronous, after each batch the member printed and before it polls again:
//   - franz-go: BlockRebalanceOnPoll, CommitOffsetsSync of the batch, then AllowRebalance.
//   - sarama: ConsumerGroup; after each batch of a claim, an OffsetCommit (v7) with the
//     session's generation and member id sent to the coordinator sarama found, because
//     sarama's own offset manager reports a failed commit only later, on Errors().
//   - kafka-go: ConsumerGroup generations with one partition Reader each, and
//     Generation.CommitOffsets after each record.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	client := os.Getenv("COMPAT_GO_MEMBER")
	if client == "" {
		return
	}
	os.Exit(goMemberMain(client, os.Args[1:]))
}

func testExecutable() (string, error) { return os.Executable() }

var memberOutMu sync.Mutex

func memberEmit(format string, args ...any) {
	memberOutMu.Lock()
	defer memberOutMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func memberLog(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
}

func partsString(ps []int32) string {
	if len(ps) == 0 {
		return "-"
	}
	ps = append([]int32(nil), ps...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	var out []string
	for _, p := range ps {
		out = append(out, strconv.Itoa(int(p)))
	}
	return strings.Join(out, ",")
}

func recLine(r rec) string {
	return fmt.Sprintf("REC %d %d %d %s", r.P, r.Off, r.TS, r.content())
}

// holdCommits is set by "nocommit" on stdin: the member keeps consuming and printing records
// but commits nothing more (a consumer that has not committed yet when it dies).
var holdCommits atomic.Bool

// stopSignal is closed when stdin says "stop" or ends; it handles "nocommit" too.
func stopSignal() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "stop":
				close(ch)
				return
			case "nocommit":
				holdCommits.Store(true)
				memberEmit("HOLDING")
			}
		}
		close(ch)
	}()
	return ch
}

// goMemberMain runs one member: args are BOOTSTRAP group TOPIC GROUP PROTOCOL.
func goMemberMain(client string, args []string) int {
	if len(args) != 5 || args[1] != "group" {
		memberEmit("ERR usage: BOOTSTRAP group TOPIC GROUP PROTOCOL (got %q)", args)
		return 2
	}
	boot, topic, group, protocol := args[0], args[2], args[3], args[4]
	if protocol != "classic" {
		memberEmit("ERR %s member: only the classic group protocol is driven", client)
		return 2
	}
	stop := stopSignal()
	var err error
	switch client {
	case "franz-go":
		err = franzMember(boot, topic, group, stop)
	case "sarama":
		err = saramaMember(boot, topic, group, stop)
	case "kafka-go":
		err = kafkaGoMember(boot, topic, group, stop)
	default:
		err = fmt.Errorf("unknown client %q", client)
	}
	if err != nil {
		memberEmit("ERR %s: %s", client, strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	memberEmit("DONE")
	return 0
}

// ---- franz-go ----

func franzMember(boot, topic, group string, stop <-chan struct{}) error {
	var mu sync.Mutex
	owned := map[int32]bool{}
	report := func(m map[string][]int32, add bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range m[topic] {
			if add {
				owned[p] = true
			} else {
				delete(owned, p)
			}
		}
		var ps []int32
		for p := range owned {
			ps = append(ps, p)
		}
		memberEmit("ASSIGNED %s", partsString(ps))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.ClientID("logd-compat-franz"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(groupSessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.RebalanceTimeout(20*time.Second), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { report(m, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { report(m, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { report(m, false) }),
	)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break // records of this poll are not printed, so not delivered
		}
		fs.EachError(func(t string, p int32, err error) { memberLog("fetch %s/%d: %v", t, p, err) })
		recs := fs.Records()
		offs := map[int32]kgo.EpochOffset{}
		for _, r := range recs {
			memberEmit("%s", recLine(fromKgo(r)))
			offs[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		}
		if len(offs) > 0 && !holdCommits.Load() {
			cctx, ccancel := context.WithTimeout(context.Background(), 15*time.Second)
			cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{topic: offs},
				func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
					if err != nil {
						memberLog("commit: %v", err)
						return
					}
					for _, t := range resp.Topics {
						for _, p := range t.Partitions {
							if p.ErrorCode != 0 {
								memberLog("commit %d: error code %d", p.Partition, p.ErrorCode)
							} else if o, ok := offs[p.Partition]; ok && t.Topic == topic {
								memberEmit("COMMITTED %d %d", p.Partition, o.Offset)
							}
						}
					}
				})
			ccancel()
		}
		cl.AllowRebalance()
	}
	cl.AllowRebalance()
	cl.Close() // leaves the group
	return nil
}

// ---- sarama ----

type saramaHandler struct {
	client       sarama.Client
	group, topic string
}

func (h *saramaHandler) Setup(sess sarama.ConsumerGroupSession) error {
	memberEmit("ASSIGNED %s", partsString(sess.Claims()[h.topic]))
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error {
	memberEmit("ASSIGNED -")
	return nil
}

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		var batch []*sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, m)
		case <-sess.Context().Done():
			return nil
		}
	drain:
		for len(batch) < 100 {
			select {
			case m, ok := <-claim.Messages():
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		for _, m := range batch {
			r := rec{P: m.Partition, Off: m.Offset, TS: m.Timestamp.UnixMilli(), Key: m.Key, Val: m.Value}
			for _, hd := range m.Headers {
				r.H = append(r.H, hdr{string(hd.Key), string(hd.Value)})
			}
			memberEmit("%s", recLine(r))
		}
		h.commit(sess, claim.Partition(), batch[len(batch)-1].Offset+1)
	}
}

// commit sends one OffsetCommit for p with the session's generation and reports the outcome.
func (h *saramaHandler) commit(sess sarama.ConsumerGroupSession, p int32, next int64) {
	if holdCommits.Load() {
		return
	}
	coord, err := h.client.Coordinator(h.group)
	if err != nil {
		memberLog("coordinator: %v", err)
		return
	}
	req := &sarama.OffsetCommitRequest{Version: 7, ConsumerGroup: h.group,
		ConsumerGroupGeneration: sess.GenerationID(), ConsumerID: sess.MemberID()}
	req.AddBlock(h.topic, p, next, 0, "")
	resp, err := coord.CommitOffset(req)
	if err != nil {
		memberLog("commit %d: %v", p, err)
		h.client.RefreshCoordinator(h.group)
		return
	}
	if kerr, ok := resp.Errors[h.topic][p]; !ok || kerr != sarama.ErrNoError {
		memberLog("commit %d: %v (in response: %v)", p, kerr, ok)
		return
	}
	memberEmit("COMMITTED %d %d", p, next)
}

func saramaMember(boot, topic, group string, stop <-chan struct{}) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "logd-compat-sarama"
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = groupSessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	cfg.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 500 * time.Millisecond
	client, err := sarama.NewClient([]string{boot}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	cg, err := sarama.NewConsumerGroupFromClient(group, client)
	if err != nil {
		return err
	}
	go func() {
		for err := range cg.Errors() {
			memberLog("sarama group: %v", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	h := &saramaHandler{client: client, group: group, topic: topic}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			memberLog("consume: %v", err)
			time.Sleep(300 * time.Millisecond)
		}
	}
	return cg.Close() // leaves the group
}

// ---- segmentio/kafka-go ----

func kafkaGoMember(boot, topic, group string, stop <-chan struct{}) error {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: group, Brokers: []string{boot}, Topics: []string{topic},
		HeartbeatInterval: time.Second, SessionTimeout: groupSessionTimeout, RebalanceTimeout: 20 * time.Second,
		StartOffset: kafka.FirstOffset, Timeout: 10 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) { memberLog(f, a...) })})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			memberLog("next generation: %v", err)
			time.Sleep(300 * time.Millisecond)
			continue
		}
		var ps []int32
		for _, a := range gen.Assignments[topic] {
			ps = append(ps, int32(a.ID))
		}
		memberEmit("ASSIGNED %s", partsString(ps))
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			memberEmit("ASSIGNED -")
		})
		for _, a := range gen.Assignments[topic] {
			a := a
			gen.Start(func(gctx context.Context) {
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{boot}, Topic: topic, Partition: a.ID,
					MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond})
				defer r.Close()
				if err := r.SetOffset(a.Offset); err != nil {
					memberLog("SetOffset %d %d: %v", a.ID, a.Offset, err)
					return
				}
				for {
					m, err := r.ReadMessage(gctx)
					if err != nil {
						return
					}
					x := rec{P: int32(m.Partition), Off: m.Offset, TS: m.Time.UnixMilli(), Key: m.Key, Val: m.Value}
					for _, hd := range m.Headers {
						x.H = append(x.H, hdr{hd.Key, string(hd.Value)})
					}
					memberEmit("%s", recLine(x))
					if holdCommits.Load() {
						continue
					}
					if err := gen.CommitOffsets(map[string]map[int]int64{topic: {a.ID: m.Offset + 1}}); err != nil {
						memberLog("commit %d: %v", a.ID, err)
						continue
					}
					memberEmit("COMMITTED %d %d", a.ID, m.Offset+1)
				}
			})
		}
	}
	return cg.Close() // leaves the group
}
