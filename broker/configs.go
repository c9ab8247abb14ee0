package broker

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/logd/logd/engine"
)

// topicConfig is one topic-level config logd honours, with Kafka's name, type and default.
type topicConfig struct {
	name  string
	typ   int8 // kmsg ConfigType: 1 boolean, 2 string, 3 int, 4 short, 5 long, 6 double, 7 list
	doc   string
	def   func(d *engine.LogConfig) string          // the broker default, rendered
	apply func(c *engine.LogConfig, v string) error // parse v into c
}

const (
	typeString = 2
	typeInt    = 3
	typeLong   = 5
	typeList   = 7
)

func parseLong(v string, min int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	if n < min {
		return 0, fmt.Errorf("%d is below the minimum %d", n, min)
	}
	return n, nil
}

func parseInt(v string, min int64) (int64, error) {
	n, err := parseLong(v, min)
	if err == nil && n > math.MaxInt32 {
		return 0, fmt.Errorf("%d is above the maximum %d", n, math.MaxInt32)
	}
	return n, err
}

func msString(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return strconv.FormatInt(math.MaxInt64, 10)
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

func msDuration(n int64) time.Duration {
	if n >= math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * time.Millisecond
}

// topicConfigs lists the topic configs logd honours. Anything else is INVALID_CONFIG.
var topicConfigs = []topicConfig{
	{name: "cleanup.policy", typ: typeList, doc: "delete (compact is not supported yet)",
		def: func(*engine.LogConfig) string { return "delete" },
		apply: func(c *engine.LogConfig, v string) error {
			if v != "delete" {
				return fmt.Errorf("cleanup.policy %q is not supported: logd does not compact logs yet; use delete", v)
			}
			return nil
		}},
	{name: "compression.type", typ: typeString, doc: "producer: batches are stored as the producer compressed them",
		def: func(*engine.LogConfig) string { return "producer" },
		apply: func(c *engine.LogConfig, v string) error {
			if v != "producer" {
				return fmt.Errorf("compression.type %q is not supported: logd never recompresses; use producer", v)
			}
			return nil
		}},
	{name: "retention.ms", typ: typeLong, doc: "delete segments older than this; -1 keeps them",
		def: func(d *engine.LogConfig) string { return retentionMsString(d.RetentionMs) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, -1)
			if n < 0 {
				c.RetentionMs = -1
			} else {
				c.RetentionMs = msDuration(n)
			}
			return err
		}},
	{name: "retention.bytes", typ: typeLong, doc: "delete oldest segments beyond this size; -1 for no limit",
		def: func(d *engine.LogConfig) string { return strconv.FormatInt(d.RetentionBytes, 10) },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.RetentionBytes, err = parseLong(v, -1)
			return err
		}},
	{name: "segment.bytes", typ: typeInt, doc: "roll a new segment at this size",
		def: func(d *engine.LogConfig) string { return strconv.FormatInt(d.SegmentBytes, 10) },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.SegmentBytes, err = parseInt(v, 14)
			return err
		}},
	{name: "segment.ms", typ: typeLong, doc: "roll a new segment after this long",
		def: func(d *engine.LogConfig) string { return msString(d.SegmentMs) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 1)
			c.SegmentMs = msDuration(n)
			return err
		}},
	{name: "max.message.bytes", typ: typeInt, doc: "largest record batch accepted",
		def: func(d *engine.LogConfig) string { return strconv.Itoa(int(d.MaxMessageBytes)) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseInt(v, 0)
			c.MaxMessageBytes = int32(n)
			return err
		}},
	{name: "message.timestamp.type", typ: typeString, doc: "CreateTime or LogAppendTime",
		def: func(d *engine.LogConfig) string {
			if d.LogAppendTime {
				return "LogAppendTime"
			}
			return "CreateTime"
		},
		apply: func(c *engine.LogConfig, v string) error {
			switch v {
			case "CreateTime":
				c.LogAppendTime = false
			case "LogAppendTime":
				c.LogAppendTime = true
			default:
				return fmt.Errorf("message.timestamp.type %q must be CreateTime or LogAppendTime", v)
			}
			return nil
		}},
	{name: "flush.messages", typ: typeLong, doc: "fsync after this many messages",
		def: func(d *engine.LogConfig) string { return strconv.FormatInt(d.FlushMessages, 10) },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.FlushMessages, err = parseLong(v, 1)
			return err
		}},
	{name: "flush.ms", typ: typeLong, doc: "fsync data older than this",
		def: func(d *engine.LogConfig) string { return msString(d.FlushMs) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 0)
			c.FlushMs = msDuration(n)
			return err
		}},
	{name: "index.interval.bytes", typ: typeInt, doc: "log bytes between offset index entries",
		def: func(d *engine.LogConfig) string { return strconv.Itoa(d.IndexIntervalBytes) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseInt(v, 0)
			c.IndexIntervalBytes = int(n)
			return err
		}},
	{name: "segment.index.bytes", typ: typeInt, doc: "preallocated size of a segment's indexes",
		def: func(d *engine.LogConfig) string { return strconv.Itoa(d.MaxIndexBytes) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseInt(v, 4096)
			c.MaxIndexBytes = int(n)
			return err
		}},
	{name: "min.insync.replicas", typ: typeInt, doc: "replicas that must have an acks=all write",
		def: func(*engine.LogConfig) string { return "1" },
		apply: func(c *engine.LogConfig, v string) error {
			_, err := parseInt(v, 1)
			return err
		}},
}

func retentionMsString(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return msString(d)
}

var topicConfigIndex = func() map[string]*topicConfig {
	m := make(map[string]*topicConfig, len(topicConfigs))
	for i := range topicConfigs {
		m[topicConfigs[i].name] = &topicConfigs[i]
	}
	return m
}()

// logConfig builds a partition's engine settings from the broker defaults and the topic's
// overrides, naming the first bad override.
func logConfig(defaults engine.LogConfig, overrides map[string]string) (engine.LogConfig, error) {
	c := defaults
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		tc := topicConfigIndex[k]
		if tc == nil {
			return c, fmt.Errorf("unknown topic config %q", k)
		}
		if err := tc.apply(&c, overrides[k]); err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
