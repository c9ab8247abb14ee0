// Package file is Kafka Connect's FileStream connectors, registered under their Java class
// names (org.apache.kafka.connect.file.FileStreamSourceConnector / FileStreamSinkConnector)
// and the aliases FileStreamSource / FileStreamSink, with the same properties: file, topic
// (source) or topics / topics.regex (sink), batch.size.
//
// The source reads a file line by line (lines end at \n, \r\n or \r) into records with a
// string value and no key; its source partition is {"filename": file} and its offset
// {"position": the byte after the line}, Java's shapes, so a restarted task resumes after the
// last acknowledged line. (Java counts characters, this counts bytes: the same for ASCII.)
// The sink appends each record's value and a newline to its file and fsyncs it on Flush.
package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/logd/logd/connect"
)

// The Java class names and the property names of the FileStream connectors.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
	// FileField and PositionField are the keys of the source partition and offset.
	FileField     = "filename"
	PositionField = "position"
	// defaultBatchSize is Java's DEFAULT_TASK_BATCH_SIZE.
	defaultBatchSize = 2000
)

func init() {
	connect.Register(&connect.Plugin{Class: SourceClass, Aliases: []string{"FileStreamSource"}, Kind: connect.Source,
		Version: connect.Version, TaskClass: "org.apache.kafka.connect.file.FileStreamSourceTask",
		NewConnector:  func() connect.Connector { return &connector{kind: connect.Source} },
		NewSourceTask: func() connect.SourceTask { return &sourceTask{} }})
	connect.Register(&connect.Plugin{Class: SinkClass, Aliases: []string{"FileStreamSink"}, Kind: connect.Sink,
		Version: connect.Version, TaskClass: "org.apache.kafka.connect.file.FileStreamSinkTask",
		NewConnector: func() connect.Connector { return &connector{kind: connect.Sink} },
		NewSinkTask:  func() connect.SinkTask { return &sinkTask{} }})
}

// connector is either FileStream connector: one task, given the connector's own config.
type connector struct {
	kind   connect.Kind
	config map[string]string
}

func (c *connector) Validate(config map[string]string) []connect.ConfigError {
	var errs []connect.ConfigError
	if c.kind == connect.Source {
		switch t, ok := config["topic"]; {
		case !ok:
			errs = append(errs, connect.ConfigError{Name: "topic", Message: `Missing required configuration "topic" which has no default value.`})
		case strings.TrimSpace(t) == "":
			errs = append(errs, connect.ConfigError{Name: "topic", Message: `Invalid value  for configuration topic: String must be non-empty`})
		case strings.Contains(t, ","):
			errs = append(errs, connect.ConfigError{Name: "topic", Message: "'topic' configuration requires definition of a single topic"})
		}
		if strings.TrimSpace(config["file"]) == "" {
			errs = append(errs, connect.ConfigError{Name: "file", Message: "reading standard input is not supported: set file"})
		}
		if v, ok := config["batch.size"]; ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 {
				errs = append(errs, connect.ConfigError{Name: "batch.size", Message: fmt.Sprintf("Invalid value %s for configuration batch.size: Not a positive number of type INT", v)})
			}
		}
	}
	return errs
}

func (c *connector) Start(_ connect.ConnectorContext, config map[string]string) error {
	c.config = config
	return nil
}

func (c *connector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{c.config}, nil
}

func (c *connector) Stop() error { return nil }

// ExactlyOnceSupport is Java's FileStreamSourceConnector's: a file (not standard input) is
// read from a stored position, so records and positions written together are exactly once.
func (c *connector) ExactlyOnceSupport(config map[string]string) bool {
	return c.kind == connect.Source && strings.TrimSpace(config["file"]) != ""
}

// valueSchema is the source records' value schema (Java's Schema.STRING_SCHEMA).
var valueSchema = &connect.Schema{Type: connect.String}

// sourceTask reads lines of one file.
type sourceTask struct {
	ctx       connect.SourceTaskContext
	filename  string
	topic     string
	batchSize int
	f         *os.File // nil until the file exists
	r         *bufio.Reader
	pending   []byte // the start of a line not yet ended
	position  int64  // the byte after the last line returned
}

func (t *sourceTask) Start(ctx connect.SourceTaskContext, config map[string]string) error {
	t.ctx, t.filename, t.topic, t.batchSize = ctx, config["file"], config["topic"], defaultBatchSize
	if v := config["batch.size"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("invalid batch.size %q", v)
		}
		t.batchSize = n
	}
	return nil
}

// open opens the file and skips to the stored position; false if it does not exist yet.
func (t *sourceTask) open() (bool, error) {
	f, err := os.Open(t.filename)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	off, err := t.ctx.Offset(map[string]any{FileField: t.filename})
	if err != nil {
		f.Close()
		return false, err
	}
	t.position = 0
	if off != nil {
		p, ok := off[PositionField].(int64)
		if !ok && off[PositionField] != nil {
			f.Close()
			return false, fmt.Errorf("offset position is the incorrect type: %T", off[PositionField])
		}
		if _, err := f.Seek(p, io.SeekStart); err != nil {
			f.Close()
			return false, err
		}
		t.position = p
	}
	t.f, t.r = f, bufio.NewReaderSize(f, 64<<10)
	return true, nil
}

func (t *sourceTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if t.f == nil {
		ok, err := t.open()
		if err != nil || !ok {
			if err == nil {
				<-ctx.Done() // wait for the file to be created, as Java does
			}
			return nil, err
		}
	}
	for {
		recs, err := t.readLines()
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readLines returns up to batch.size complete lines available now.
func (t *sourceTask) readLines() ([]connect.SourceRecord, error) {
	var recs []connect.SourceRecord
	for len(recs) < t.batchSize {
		chunk, err := t.r.ReadSlice('\n')
		t.pending = append(t.pending, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return recs, err
		}
		// Lines end at \n, \r\n, or a \r followed by something else.
		for {
			i := bytes.IndexAny(t.pending, "\r\n")
			if i < 0 {
				break
			}
			end := i + 1
			if t.pending[i] == '\r' {
				if i+1 >= len(t.pending) {
					break // need the next byte to tell \r\n from \r
				}
				if t.pending[i+1] == '\n' {
					end = i + 2
				}
			}
			line := string(t.pending[:i])
			t.position += int64(end)
			t.pending = t.pending[end:]
			recs = append(recs, connect.SourceRecord{
				SourcePartition: map[string]any{FileField: t.filename},
				SourceOffset:    map[string]any{PositionField: t.position},
				Topic:           t.topic, Partition: -1,
				ValueSchema: valueSchema, Value: line, Timestamp: time.Now(),
			})
		}
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
	}
	return recs, nil
}

func (t *sourceTask) Commit(map[string]map[string]any) error { return nil }

func (t *sourceTask) Stop() error {
	if t.f != nil {
		return t.f.Close()
	}
	return nil
}

// sinkTask appends values to a file (standard output if file is empty).
type sinkTask struct {
	f *os.File
	w *bufio.Writer
}

func (t *sinkTask) Start(_ connect.SinkTaskContext, config map[string]string) error {
	t.f = os.Stdout
	if name := config["file"]; name != "" {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("couldn't find or create file '%s' for FileStreamSinkTask: %w", name, err)
		}
		t.f = f
	}
	t.w = bufio.NewWriter(t.f)
	return nil
}

func (t *sinkTask) Put(records []connect.SinkRecord) error {
	for _, r := range records {
		t.w.WriteString(javaString(r.Value))
		t.w.WriteByte('\n')
	}
	return nil
}

// javaString renders a value as Java's String.valueOf would for the simple types.
func javaString(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func (t *sinkTask) Flush(map[connect.TopicPartition]int64) error {
	if err := t.w.Flush(); err != nil {
		return err
	}
	if t.f != os.Stdout {
		return t.f.Sync()
	}
	return nil
}

func (t *sinkTask) Stop() error {
	err := t.w.Flush()
	if t.f != os.Stdout {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
