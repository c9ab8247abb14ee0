package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/logd/logd/segment"
)

// LogConfig holds one partition's settings, named after Kafka's topic configs.
type LogConfig struct {
	SegmentBytes       int64         // segment.bytes
	SegmentMs          time.Duration // segment.ms
	RetentionMs        time.Duration // retention.ms; negative: no time limit
	RetentionBytes     int64         // retention.bytes; negative: no size limit
	MaxMessageBytes    int32         // max.message.bytes: largest batch accepted
	IndexIntervalBytes int           // index.interval.bytes
	MaxIndexBytes      int           // segment.index.bytes
	LogAppendTime      bool          // message.timestamp.type=LogAppendTime
	FlushMessages      int64         // flush.messages: sync after this many messages
	FlushMs            time.Duration // flush.ms: sync data older than this
}

// DefaultLogConfig matches Kafka's defaults. Kafka's flush.messages and flush.ms default to
// "never" (Long.MAX_VALUE): durability on acks=all comes from the broker's fsync-before-ack.
var DefaultLogConfig = LogConfig{
	SegmentBytes:       1 << 30,
	SegmentMs:          7 * 24 * time.Hour,
	RetentionMs:        7 * 24 * time.Hour,
	RetentionBytes:     -1,
	MaxMessageBytes:    1048588,
	IndexIntervalBytes: 4096,
	MaxIndexBytes:      10 << 20,
	FlushMessages:      math.MaxInt64,
	FlushMs:            never,
}

// never is Kafka's Long.MAX_VALUE "never" for flush.ms.
const never = time.Duration(math.MaxInt64)

// Validate reports the first setting outside its legal range, named by its Kafka config name.
func (c *LogConfig) Validate() error {
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("segment.bytes %d must be between 14 and %d", c.SegmentBytes, math.MaxInt32)
	case c.SegmentMs < time.Millisecond:
		return fmt.Errorf("segment.ms %d must be at least 1", c.SegmentMs.Milliseconds())
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("max.message.bytes %d must not be negative", c.MaxMessageBytes)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("index.interval.bytes %d must not be negative", c.IndexIntervalBytes)
	case c.MaxIndexBytes < 4*1024:
		return fmt.Errorf("segment.index.bytes %d must be at least 4096", c.MaxIndexBytes)
	case c.FlushMessages < 1:
		return fmt.Errorf("flush.messages %d must be at least 1", c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("flush.ms %d must not be negative", c.FlushMs.Milliseconds())
	}
	return nil
}

func (c *LogConfig) segmentConfig() segment.Config {
	return segment.Config{IndexIntervalBytes: c.IndexIntervalBytes, MaxIndexBytes: c.MaxIndexBytes}
}
