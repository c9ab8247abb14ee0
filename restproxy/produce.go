package restproxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// explicitPartition marks a record whose partition the request named (Record.Context).
type explicitPartition struct{}

// partitioner keeps a record's named partition and hashes the others as the Java client's
// default partitioner does (murmur2 of the key; sticky batches for null keys).
type partitioner struct{ kgo.Partitioner }

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	return topicPartitioner{p.Partitioner.ForTopic(t)}
}

type topicPartitioner struct{ kgo.TopicPartitioner }

func (p topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return isExplicit(r) || p.TopicPartitioner.RequiresConsistency(r)
}

func (p topicPartitioner) Partition(r *kgo.Record, n int) int {
	if isExplicit(r) {
		return int(r.Partition)
	}
	return p.TopicPartitioner.Partition(r, n)
}

// OnNewBatch passes the sticky partitioner's batch boundary on.
func (p topicPartitioner) OnNewBatch() {
	if nb, ok := p.TopicPartitioner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

func isExplicit(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(explicitPartition{}) != nil
}

// errRecordTooLarge ends a produce request whose record's JSON is over MaxRecordBytes.
var errRecordTooLarge = errors.New("record too large")

// boundedReader fails when more than max bytes are read past the last record boundary.
type boundedReader struct {
	r        io.Reader
	read     int64
	boundary int64
	max      int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	left := b.max - (b.read - b.boundary)
	if left < 0 {
		return 0, errRecordTooLarge
	}
	if int64(len(p)) > left+1 {
		p = p[:left+1] // a read past the cap comes back here and fails
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// encodeData turns a key or value of a produce request into the record's bytes, and its
// type for the delivery report.
func encodeData(which string, d *produceData) ([]byte, string, error) {
	if d == nil {
		return nil, "", nil
	}
	typ := strings.ToUpper(d.Type)
	if d.Schema != nil || d.SchemaID != nil || d.SchemaVersion != nil || d.Subject != nil {
		return nil, "", fmt.Errorf("%s: schemas are not supported (logd has no schema registry): send type BINARY, JSON or STRING", which)
	}
	null := len(d.Data) == 0 || string(d.Data) == "null"
	switch typ {
	case "", "JSON":
		if null {
			return nil, "JSON", nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, d.Data); err != nil {
			return nil, "", fmt.Errorf("%s: data is not JSON: %v", which, err)
		}
		return buf.Bytes(), "JSON", nil
	case "BINARY", "STRING":
		if null {
			return nil, typ, nil
		}
		var s string
		if err := json.Unmarshal(d.Data, &s); err != nil {
			return nil, "", fmt.Errorf("%s: %s data must be a JSON string", which, typ)
		}
		if typ == "STRING" {
			return []byte(s), typ, nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, "", fmt.Errorf("%s: BINARY data is not base64: %v", which, err)
		}
		return b, typ, nil
	case "AVRO", "JSONSCHEMA", "PROTOBUF":
		return nil, "", fmt.Errorf("%s: type %s needs a schema registry, which logd does not have: send BINARY, JSON or STRING", which, typ)
	}
	return nil, "", fmt.Errorf("%s: unknown type %q: want BINARY, JSON or STRING", which, d.Type)
}

// record builds the Kafka record of one produce request; partitions is the topic's count.
func record(topic string, partitions int, req *produceRequest) (*kgo.Record, string, string, error) {
	rec := &kgo.Record{Topic: topic}
	var keyType, valueType string
	var err error
	if rec.Key, keyType, err = encodeData("key", req.Key); err != nil {
		return nil, "", "", err
	}
	if rec.Value, valueType, err = encodeData("value", req.Value); err != nil {
		return nil, "", "", err
	}
	if req.PartitionID != nil {
		if *req.PartitionID < 0 || int(*req.PartitionID) >= partitions {
			return nil, "", "", &apiError{http.StatusNotFound, codePartitionNotFound, "Partition not found."}
		}
		rec.Partition = *req.PartitionID
	}
	for _, h := range req.Headers {
		var v []byte
		if h.Value != nil {
			v = *h.Value
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Name, Value: v})
	}
	if req.Timestamp != nil {
		ts, err := time.Parse(time.RFC3339Nano, *req.Timestamp)
		if err != nil {
			return nil, "", "", fmt.Errorf("timestamp %q is not an RFC 3339 date-time", *req.Timestamp)
		}
		rec.Timestamp = ts
	}
	return rec, keyType, valueType, nil
}

// produce serves POST .../topics/{topic}/records: one record, or a stream of concatenated
// JSON records answered by one delivery report each, in order, as they are acknowledged.
func (p *Proxy) produce(w http.ResponseWriter, r *http.Request, cid string) error {
	topic := r.PathValue("topic")
	t, err := p.topic(r)
	if err != nil {
		return err
	}
	partitions := len(t.Partitions)
	cl := p.session(r.Context()).cl
	body := &boundedReader{r: r.Body, max: p.cfg.MaxRecordBytes}
	dec := json.NewDecoder(body)
	var first produceRequest
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return &apiError{http.StatusUnprocessableEntity, codePayloadError, "Payload error. Request body is empty. Data is required."}
		}
		if errors.Is(err, errRecordTooLarge) {
			return &apiError{http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("a record's JSON is over %d bytes", p.cfg.MaxRecordBytes)}
		}
		return badRequest("malformed JSON: " + err.Error())
	}
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // read further records while answering the first
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)

	reports := make(chan chan produceResponse, 256)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writes the delivery reports in request order
		defer wg.Done()
		enc := json.NewEncoder(w)
		for fut := range reports {
			if err := enc.Encode(<-fut); err == nil {
				_ = rc.Flush()
			}
		}
	}()
	send := func(req *produceRequest) {
		fut := make(chan produceResponse, 1)
		reports <- fut
		rec, keyType, valueType, err := record(topic, partitions, req)
		if err != nil {
			e := errorFor(err)
			if _, ok := err.(*apiError); !ok {
				e = badRequest(err.Error())
			}
			fut <- produceResponse{ErrorCode: e.code, Message: e.msg}
			return
		}
		keySize, valueSize := len(rec.Key), len(rec.Value)
		// The record's context bounds its delivery (kgo's delivery timeout counts from
		// the record's timestamp, which the request may set to any time).
		ctx := context.Background()
		if req.PartitionID != nil {
			ctx = context.WithValue(ctx, explicitPartition{}, true)
		}
		ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		rec.Context = ctx
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			cancel()
			if errors.Is(err, kerr.UnknownTopicID) {
				// The topic was deleted and created again under its name: the client still
				// produces to the old id (a metadata refresh does not replace it). This record
				// fails; purging the topic makes the client learn it anew for the next ones.
				go cl.PurgeTopicsFromProducing(rec.Topic) // it waits for buffered records, this callback among them
			}
			if err != nil {
				e := errorFor(err)
				fut <- produceResponse{ErrorCode: e.code, Message: e.msg}
				return
			}
			part, off := rec.Partition, rec.Offset
			ts := rec.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00")
			resp := produceResponse{ErrorCode: http.StatusOK, ClusterID: cid, TopicName: topic, PartitionID: &part, Offset: &off, Timestamp: &ts}
			if keyType != "" {
				resp.Key = &produceRespData{Type: keyType, Size: keySize}
			}
			if valueType != "" {
				resp.Value = &produceRespData{Type: valueType, Size: valueSize}
			}
			fut <- resp
		})
	}
	send(&first)
	for {
		body.boundary = dec.InputOffset()
		var req produceRequest
		err := dec.Decode(&req)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fut := make(chan produceResponse, 1)
			if errors.Is(err, errRecordTooLarge) {
				fut <- produceResponse{ErrorCode: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("a record's JSON is over %d bytes", p.cfg.MaxRecordBytes)}
			} else {
				fut <- produceResponse{ErrorCode: http.StatusBadRequest, Message: "malformed JSON: " + err.Error()}
			}
			reports <- fut
			break // the stream cannot be resynchronised after bad JSON
		}
		send(&req)
	}
	close(reports)
	wg.Wait()
	return nil
}
