package connect

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pipeline is what stands between a task and Kafka: the connector's converters (its own
// key.converter/value.converter or the worker's), its transforms and its error policy.
type pipeline struct {
	key, value Converter
	transforms transformChain
	errors     *errorPolicy
}

func newPipeline(w *WorkerConfig, config map[string]string) (*pipeline, error) {
	p := &pipeline{}
	var err error
	for _, c := range []struct {
		prop string
		def  string
		dst  *Converter
	}{{"key.converter", w.KeyConverter, &p.key}, {"value.converter", w.ValueConverter, &p.value}} {
		class, props := c.def, w.Props
		if v := config[c.prop]; v != "" {
			class, props = v, config
		}
		if *c.dst, err = NewConverter(class, props, c.prop+"."); err != nil {
			return nil, fmt.Errorf("%s: %w", c.prop, err)
		}
	}
	if p.transforms, err = newTransformChain(config); err != nil {
		return nil, err
	}
	if p.errors, err = newErrorPolicy(config); err != nil {
		return nil, err
	}
	return p, nil
}

// toKafka converts a (transformed) source record into a Kafka record.
func (p *pipeline) toKafka(r *Record) (*kgo.Record, error) {
	k, err := p.key.FromConnect(r.Topic, r.KeySchema, r.Key)
	if err != nil {
		return nil, fmt.Errorf("converting the key: %w", err)
	}
	v, err := p.value.FromConnect(r.Topic, r.ValueSchema, r.Value)
	if err != nil {
		return nil, fmt.Errorf("converting the value: %w", err)
	}
	kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: k, Value: v, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		b, err := headerBytes(h)
		if err != nil {
			return nil, fmt.Errorf("converting header %s: %w", h.Key, err)
		}
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: b})
	}
	return kr, nil
}

// fromKafka converts a consumed record; stage names what failed (Java's Stage).
func (p *pipeline) fromKafka(kr *kgo.Record) (r *Record, stage string, err error) {
	r = &Record{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Timestamp: kr.Timestamp}
	if r.KeySchema, r.Key, err = p.key.ToConnect(kr.Topic, kr.Key); err != nil {
		return nil, "KEY_CONVERTER", fmt.Errorf("converting the key of %s-%d@%d: %w", kr.Topic, kr.Partition, kr.Offset, err)
	}
	if r.ValueSchema, r.Value, err = p.value.ToConnect(kr.Topic, kr.Value); err != nil {
		return nil, "VALUE_CONVERTER", fmt.Errorf("converting the value of %s-%d@%d: %w", kr.Topic, kr.Partition, kr.Offset, err)
	}
	for _, h := range kr.Headers {
		var v any
		if h.Value != nil {
			v = string(h.Value)
		}
		r.Headers = append(r.Headers, Header{Key: h.Key, Schema: optionalString, Value: v})
	}
	return r, "", nil
}

// headerBytes is Java's SimpleHeaderConverter for the values connectors put in headers:
// text as UTF-8, bytes as they are, anything else as schemaless JSON.
func headerBytes(h Header) ([]byte, error) {
	switch v := h.Value.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	}
	var w jsonWriter
	if err := schemalessJSON.writeValue(&w, h.Schema, h.Value); err != nil {
		return nil, err
	}
	return w.b, nil
}

// errorPolicy is a connector's errors.* configuration: whether conversion and transform
// failures are tolerated (errors.tolerance=all), logged, and sent to a dead letter queue.
type errorPolicy struct {
	tolerateAll    bool
	logErrors      bool
	logMessages    bool
	dlqTopic       string
	contextHeaders bool
}

func newErrorPolicy(config map[string]string) (*errorPolicy, error) {
	p := &errorPolicy{dlqTopic: config["errors.deadletterqueue.topic.name"]}
	switch v := config["errors.tolerance"]; v {
	case "", "none":
	case "all":
		p.tolerateAll = true
	default:
		return nil, fmt.Errorf("invalid value %s for configuration errors.tolerance: String must be one of: none, all", v)
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"errors.log.enable", &p.logErrors}, {"errors.log.include.messages", &p.logMessages},
		{"errors.deadletterqueue.context.headers.enable", &p.contextHeaders}} {
		if v, ok := config[b.key]; ok {
			var err error
			if *b.dst, err = parseBool(b.key, v); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// tolerate handles a failure of a record at stage: an error (failing the task) unless
// errors.tolerance=all; then it is logged if asked and, for a consumed record (orig), written
// to the dead letter queue with Kafka Connect's context headers if asked.
func (p *errorPolicy) tolerate(h *Herder, id TaskID, stage string, err error, orig *kgo.Record) error {
	if !p.tolerateAll {
		return fmt.Errorf("tolerance exceeded in error handler: %w", err)
	}
	h.metrics.task(id).errors.Inc()
	if p.logErrors {
		args := []any{"task", id.String(), "stage", stage, "err", err}
		if p.logMessages && orig != nil {
			args = append(args, "topic", orig.Topic, "partition", orig.Partition, "offset", orig.Offset)
		}
		h.log.Error("error encountered in task", args...)
	}
	if p.dlqTopic == "" || orig == nil {
		return nil
	}
	dr := &kgo.Record{Topic: p.dlqTopic, Partition: -1, Key: orig.Key, Value: orig.Value, Timestamp: orig.Timestamp,
		Headers: append([]kgo.RecordHeader(nil), orig.Headers...)}
	if p.contextHeaders {
		for _, kv := range [][2]string{
			{"__connect.errors.topic", orig.Topic},
			{"__connect.errors.partition", strconv.Itoa(int(orig.Partition))},
			{"__connect.errors.offset", strconv.FormatInt(orig.Offset, 10)},
			{"__connect.errors.connector.name", id.Connector},
			{"__connect.errors.task.id", strconv.Itoa(id.Task)},
			{"__connect.errors.stage", stage},
			{"__connect.errors.class.name", "logd.connect"},
			{"__connect.errors.exception.class.name", "org.apache.kafka.connect.errors.DataException"},
			{"__connect.errors.exception.message", err.Error()},
		} {
			dr.Headers = append(dr.Headers, kgo.RecordHeader{Key: kv[0], Value: []byte(kv[1])})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.producer.ProduceSync(ctx, dr).FirstErr(); err != nil {
		return fmt.Errorf("writing to the dead letter queue %s: %w", p.dlqTopic, err)
	}
	h.metrics.task(id).deadLettered.Inc()
	return nil
}
