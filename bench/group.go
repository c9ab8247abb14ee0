package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/perf/loadgen"
)

// consumeGroup tails topic with members franz-go consumers in one consumer group, recording
// end-to-end latency per record: the nanosecond send stamp the generator put in the value
// (else the record's CreateTime). It needs the broker's group coordinator; the raw
// partition-assignment consumer in loadgen needs nothing but Fetch.
func consumeGroup(ctx context.Context, bootstrap, group, topic string, members int, e2e *loadgen.Histogram, st *loadgen.FetchStats) error {
	var wg sync.WaitGroup
	errs := make([]error, members)
	for i := range members {
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
			kgo.ClientID("logd-bench"))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				now := time.Now()
				fs.EachError(func(t string, p int32, err error) {
					if !errors.Is(err, context.Canceled) && errs[i] == nil {
						errs[i] = fmt.Errorf("group %s member %d: %s[%d]: %w", group, i, t, p, err)
					}
				})
				if errs[i] != nil {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					sent := r.Timestamp
					if len(r.Value) >= 8 {
						ns := int64(binary.BigEndian.Uint64(r.Value))
						if d := now.UnixNano() - ns; d > -int64(time.Hour) && d < int64(time.Hour) {
							sent = time.Unix(0, ns)
						}
					}
					e2e.Record(now.Sub(sent))
					st.Records.Add(1)
					st.Bytes.Add(int64(len(r.Key) + len(r.Value)))
				})
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
