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
			errs[i] = pollEach(ctx, cl, func(r *kgo.Record, now time.Time) {
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
			if errs[i] != nil {
				errs[i] = fmt.Errorf("group %s member %d: %w", group, i, errs[i])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pollEach polls cl until ctx ends, handing each record to each with the time its poll
// returned (the receive time); a fetch error other than ctx's own ends it.
func pollEach(ctx context.Context, cl *kgo.Client, each func(r *kgo.Record, received time.Time)) error {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		var err error
		fs.EachError(func(t string, p int32, e error) {
			if err == nil && !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
				err = fmt.Errorf("%s[%d]: %w", t, p, e)
			}
		})
		if err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) { each(r, now) })
	}
	return nil
}
