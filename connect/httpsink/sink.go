package httpsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/logd/logd/connect"
)

// Class is Confluent's HTTP sink connector class; TaskClass its task's.
const (
	Class     = "io.confluent.connect.http.HttpSinkConnector"
	TaskClass = "io.confluent.connect.http.HttpSinkTask"
	// maxErrorBody bounds how much of a failed answer's body is read for the error message.
	maxErrorBody = 512
)

func init() {
	connect.Register(&connect.Plugin{Class: Class, Aliases: []string{"http-sink", "HttpSink"}, Kind: connect.Sink,
		Version: connect.Version, TaskClass: TaskClass,
		NewConnector: func() connect.Connector { return &connector{} },
		NewSinkTask:  func() connect.SinkTask { return &task{} }})
}

// connector runs tasks.max tasks with its own configuration: the runtime spreads the topics'
// partitions over them through the sink group.
type connector struct{ config map[string]string }

func (c *connector) Validate(config map[string]string) []connect.ConfigError {
	_, errs := parseConfig(config)
	return errs
}

func (c *connector) Start(_ connect.ConnectorContext, config map[string]string) error {
	if _, errs := parseConfig(config); len(errs) > 0 {
		return fmt.Errorf("%s: %s", errs[0].Name, errs[0].Message)
	}
	c.config = config
	return nil
}

func (c *connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, max(maxTasks, 1))
	for i := range out {
		out[i] = c.config
	}
	return out, nil
}

func (c *connector) Stop() error { return nil }

// task buffers rendered values and sends them in batches of batch.max.size.
type task struct {
	ctx     connect.SinkTaskContext
	cfg     *config
	client  *http.Client
	json    connect.Converter // JsonConverter, schemas off
	pending [][]byte          // rendered values not yet sent, in record order
}

func (t *task) Start(ctx connect.SinkTaskContext, props map[string]string) error {
	cfg, errs := parseConfig(props)
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", errs[0].Name, errs[0].Message)
	}
	conv, err := connect.NewConverter(connect.JSONConverterClass, map[string]string{"schemas.enable": "false"}, "")
	if err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: cfg.connTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.ctx, t.cfg, t.json = ctx, cfg, conv
	t.client = &http.Client{Transport: transport, Timeout: cfg.reqTimeout}
	return nil
}

// wait is the back-off before retry n (n ≥ 1).
func (c *config) wait(n int) time.Duration {
	if !c.exponential || c.backoff == 0 {
		return c.backoff
	}
	d := c.backoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, max(maxBackoff, c.backoff))
	return d/2 + rand.N(d/2+1) // the upper half: spread the retries of many tasks
}

func (t *task) Put(records []connect.SinkRecord) error {
	for i := range records {
		r := &records[i]
		if r.Value == nil {
			if t.cfg.failOnNull {
				return fmt.Errorf("record %s-%d@%d has no value and %s=fail", r.Topic, r.Partition, r.Offset, propOnNull)
			}
			continue
		}
		b, err := t.render(r)
		if err != nil {
			return fmt.Errorf("rendering record %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		t.pending = append(t.pending, b)
		if len(t.pending) >= t.cfg.batchMax {
			if err := t.sendPending(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// render turns a record's value into the bytes that go into the body.
func (t *task) render(r *connect.SinkRecord) ([]byte, error) {
	switch v := r.Value.(type) {
	case string:
		if !t.cfg.jsonBody || json.Valid([]byte(v)) {
			return []byte(v), nil
		}
	case []byte:
		if !t.cfg.jsonBody {
			return v, nil
		}
	}
	return t.json.FromConnect(r.Topic, r.ValueSchema, r.Value)
}

// Flush sends everything buffered; only then may the runtime commit.
func (t *task) Flush(map[connect.TopicPartition]int64) error { return t.sendPending(true) }

// sendPending sends full batches from the buffer, and the last partial one too if all.
func (t *task) sendPending(all bool) error {
	for len(t.pending) >= t.cfg.batchMax || all && len(t.pending) > 0 {
		n := min(len(t.pending), t.cfg.batchMax)
		if err := t.deliver(t.body(t.pending[:n]), n); err != nil {
			return err
		}
		clear(t.pending[:n])
		t.pending = t.pending[n:]
	}
	if len(t.pending) == 0 {
		t.pending = nil // let the delivered prefix's array go
	}
	return nil
}

// body joins a batch's values into one request body.
func (t *task) body(values [][]byte) []byte {
	prefix, sep, suffix := t.cfg.prefix, t.cfg.sep, t.cfg.suffix
	if t.cfg.asArray {
		prefix, sep, suffix = "[", ",", "]"
	}
	size := len(prefix) + len(suffix) + len(sep)*len(values)
	for _, v := range values {
		size += len(v)
	}
	b := make([]byte, 0, size)
	b = append(b, prefix...)
	for i, v := range values {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, v...)
	}
	return append(b, suffix...)
}

// errNotRetried is a failure retry.on.status.codes does not list.
var errNotRetried = errors.New("status not retried")

// deliver sends one batch of n records until a 2xx, retrying with back-off; after a failure
// not retried or the last retry it applies behavior.on.error.
func (t *task) deliver(body []byte, n int) error {
	var err error
	for attempt := 0; ; attempt++ {
		if err = t.send(body); err == nil {
			return nil
		}
		if errors.Is(err, errNotRetried) || attempt >= t.cfg.maxRetries {
			break
		}
		slog.Warn("http sink: request failed, retrying", "url", t.cfg.url, "records", n, "retry", attempt+1, "of", t.cfg.maxRetries, "err", err)
		select {
		case <-t.ctx.Context().Done():
			return fmt.Errorf("sending %d records to %s: task stopping while retrying after: %w", n, t.cfg.url, err)
		case <-time.After(t.cfg.wait(attempt + 1)):
		}
	}
	err = fmt.Errorf("sending %d records to %s: %w", n, t.cfg.url, err)
	switch t.cfg.onError {
	case "log":
		slog.Error("http sink: giving up on a batch", "records", n, "err", err)
		return nil
	case "ignore":
		return nil
	}
	return err
}

// send makes one request; nil on a 2xx answer.
func (t *task) send(body []byte) error {
	ctx, cancel := context.WithTimeout(t.ctx.Context(), t.cfg.reqTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, t.cfg.method, t.cfg.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errNotRetried, err)
	}
	if t.cfg.jsonBody {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	for k, vs := range t.cfg.headers {
		req.Header[k] = vs
	}
	if t.cfg.basic {
		req.SetBasicAuth(t.cfg.user, t.cfg.password)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err // no answer: always retried
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drain a little so the connection is reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s %s answered %s: %q", t.cfg.method, t.cfg.url, resp.Status, bytes.TrimSpace(msg))
	if !t.cfg.retried(resp.StatusCode) {
		return fmt.Errorf("%w (%s): %w", errNotRetried, propRetryCodes, err)
	}
	return err
}

func (t *task) Stop() error {
	if t.client != nil {
		t.client.CloseIdleConnections()
	}
	return nil
}
