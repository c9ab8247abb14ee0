package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaHandler records every message of its claims and marks it consumed.
type saramaHandler struct {
	seen *seenRecords
	mu   sync.Mutex
	gens int
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.gens++
	h.mu.Unlock()
	return nil
}

func (*saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.seen.mu.Lock()
		if h.seen.recs == nil {
			h.seen.recs = map[[2]int64]int{}
		}
		h.seen.recs[[2]int64{int64(m.Partition), m.Offset}]++
		h.seen.mu.Unlock()
		s.MarkMessage(m, "sarama")
	}
	return nil
}

// TestGroupSarama runs two sarama consumer-group members (range strategy) at an old and a
// recent protocol version: they split the topic, consume everything and commit it.
func TestGroupSarama(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V3_6_0_0} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t, groupConfig)
			cs := newClients(t, tb)
			createTopic(t, cs, "t6", 6)
			for p := int32(0); p < 6; p++ {
				produceN(t, cs, "t6", p, 3, 10)
			}
			cfg := sarama.NewConfig()
			cfg.Version = v
			cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
			cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
			cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
			cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
			var seen seenRecords
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := 0; i < 2; i++ {
				g, err := sarama.NewConsumerGroup([]string{tb.addr}, "sg", cfg)
				if err != nil {
					t.Fatal(err)
				}
				h := &saramaHandler{seen: &seen}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer g.Close()
					for ctx.Err() == nil {
						if err := g.Consume(ctx, []string{"t6"}, h); err != nil && ctx.Err() == nil {
							t.Errorf("consume: %v", err)
							return
						}
					}
				}()
			}
			defer func() { cancel(); wg.Wait() }()
			eventually(t, "all records", func() bool { return seen.count() == 18 })
			waitBalanced(t, cs.admin(), "sg", "t6", 2, 6)
			adm := cs.admin()
			eventually(t, "commits", func() bool {
				lags, err := adm.Lag(testCtx(t), "sg")
				lag := lags["sg"]
				return err == nil && lag.Error() == nil && lag.Lag.Total() == 0 && len(lag.Lag["t6"]) == 6
			})
		})
	}
}
