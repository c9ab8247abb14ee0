package bench

import (
	"bufio"
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
	"sync/atomic"
	"time"

	"github.com/logd/logd/perf/loadgen"
)

// The REST proxy workload (`logd bench http`): records produced over HTTP to the Confluent
// REST Proxy v3 endpoint of `logd serve --http`, either one record per request (what a
// device posting events does) or as streams (one long request of concatenated records,
// answered by one delivery report per record), by Connections clients at once, as fast as
// the proxy takes them. Latency is per record: a request's round trip, or in a stream the
// time from writing a record into the request body to reading its delivery report (reports
// come in order, so the send times are a queue). A record's value is Size random-looking
// bytes sent as BINARY (base64 in the JSON).

// HTTPOptions is one REST proxy run.
type HTTPOptions struct {
	URL         string        // the proxy's base URL, http://HOST:PORT
	Topic       string        // created with Partitions partitions if missing; deleted after unless KeepTopic
	Partitions  int           // default 6
	Size        int           // record value bytes, default 100
	Duration    time.Duration // measured time, default 20 s
	Connections int           // concurrent requests or streams, default 4
	Streaming   bool          // one long request per connection instead of one per record
	KeepTopic   bool
}

// HTTPResult is what a run measured.
type HTTPResult struct {
	Mode          string  `json:"mode"` // "streaming" or "request-per-record"
	Connections   int     `json:"connections"`
	Size          int     `json:"size"`
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"` // records answered with an error
	DurationS     float64 `json:"duration_s"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBps          float64 `json:"mb_per_sec"` // value bytes
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	FirstError    string  `json:"first_error,omitempty"`
}

// String is the result on one line.
func (r HTTPResult) String() string {
	s := fmt.Sprintf("%s, %d connections, %d-byte records: %.0f records/s (%.2f MB/s), p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d records in %.1f s",
		r.Mode, r.Connections, r.Size, r.RecordsPerSec, r.MBps, r.P50Ms, r.P99Ms, r.MaxMs, r.Records, r.DurationS)
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d errors (first: %s)", r.Errors, r.FirstError)
	}
	return s
}

// httpRun is one run's shared state.
type httpRun struct {
	o        HTTPOptions
	records  string // the records URL
	body     []byte // one record's JSON, newline-terminated
	hist     *loadgen.Histogram
	n, errs  atomic.Int64
	errOnce  sync.Once
	firstErr string
}

func (h *httpRun) fail(msg string) {
	h.errs.Add(1)
	h.errOnce.Do(func() { h.firstErr = msg })
}

// RunHTTP runs the REST proxy workload.
func RunHTTP(ctx context.Context, o HTTPOptions) (HTTPResult, error) {
	if o.URL == "" {
		return HTTPResult{}, errors.New("bench http: no --http URL")
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if !strings.Contains(o.URL, "://") {
		o.URL = "http://" + o.URL
	}
	if o.Topic == "" {
		o.Topic = "logd-bench-http"
	}
	o.Partitions = cmpOr(o.Partitions, 6)
	o.Size = cmpOr(o.Size, 100)
	o.Connections = cmpOr(o.Connections, 4)
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	var clusters struct {
		Data []struct {
			ClusterID string `json:"cluster_id"`
		} `json:"data"`
	}
	if err := httpJSON(ctx, "GET", o.URL+"/v3/clusters", "", &clusters); err != nil || len(clusters.Data) == 0 {
		return HTTPResult{}, fmt.Errorf("bench http: %s/v3/clusters: %v (is it `logd serve --http`?)", o.URL, err)
	}
	topics := o.URL + "/v3/clusters/" + clusters.Data[0].ClusterID + "/topics"
	created := false
	err := httpJSON(ctx, "POST", topics, fmt.Sprintf(`{"topic_name":%q,"partitions_count":%d}`, o.Topic, o.Partitions), nil)
	switch {
	case err == nil:
		created = true
	case strings.Contains(err.Error(), "40002"): // it exists: use it
	default:
		return HTTPResult{}, fmt.Errorf("bench http: create topic %s: %v", o.Topic, err)
	}
	if created && !o.KeepTopic {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = httpJSON(dctx, "DELETE", topics+"/"+o.Topic, "", nil)
		}()
	}
	value := make([]byte, o.Size)
	for i := range value {
		value[i] = byte(i*31 + 7)
	}
	h := &httpRun{o: o, records: topics + "/" + o.Topic + "/records", hist: loadgen.NewHistogram(),
		body: fmt.Appendf(nil, `{"value":{"type":"BINARY","data":%q}}`+"\n", base64.StdEncoding.EncodeToString(value))}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range o.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o.Streaming {
				h.stream(runCtx)
			} else {
				h.perRecord(runCtx)
			}
		}()
	}
	wg.Wait()
	sec := time.Since(start).Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	r := HTTPResult{Mode: "request-per-record", Connections: o.Connections, Size: o.Size, Records: h.n.Load(), Errors: h.errs.Load(),
		DurationS: sec, P50Ms: ms(h.hist.Quantile(0.5)), P99Ms: ms(h.hist.Quantile(0.99)), MaxMs: ms(h.hist.Max()), FirstError: h.firstErr}
	if o.Streaming {
		r.Mode = "streaming"
	}
	r.RecordsPerSec = float64(r.Records) / sec
	r.MBps = r.RecordsPerSec * float64(o.Size) / 1e6
	if r.Records == 0 {
		return r, fmt.Errorf("bench http: no record was produced (%s)", r.FirstError)
	}
	return r, nil
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// delivery is the part of a delivery report the run reads.
type delivery struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// perRecord posts one record per request until ctx ends.
func (h *httpRun) perRecord(ctx context.Context) {
	for ctx.Err() == nil {
		t := time.Now()
		req, err := http.NewRequestWithContext(ctx, "POST", h.records, bytes.NewReader(h.body))
		if err != nil {
			h.fail(err.Error())
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				h.fail(err.Error())
			}
			continue
		}
		var d delivery
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d)
		resp.Body.Close()
		switch {
		case err != nil:
			h.fail(fmt.Sprintf("HTTP %d: %v", resp.StatusCode, err))
		case d.ErrorCode != http.StatusOK:
			h.fail(fmt.Sprintf("%d: %s", d.ErrorCode, d.Message))
		default:
			h.hist.Record(time.Since(t))
			h.n.Add(1)
		}
	}
}

// stream writes records into one request body until ctx ends and reads their reports.
func (h *httpRun) stream(ctx context.Context) {
	pr, pw := io.Pipe()
	// Send times of the records not yet reported, in order. Its capacity bounds the records in
	// flight per stream, as a producer's in-flight limit does: more would only queue, and the
	// latency measured would be the queue's.
	sent := make(chan time.Time, 1024)
	go func() {
		defer close(sent)
		defer pw.Close()
		w := bufio.NewWriterSize(pw, 64<<10)
		for ctx.Err() == nil {
			// A record's latency counts from when it is written into the stream's buffer.
			// Flushing every record would cost a write per record, so the buffer is flushed
			// when it fills or when few records await reports (the proxy would otherwise
			// idle while records sit in it).
			sent <- time.Now()
			if _, err := w.Write(h.body); err != nil {
				return
			}
			if len(sent) < 64 {
				if err := w.Flush(); err != nil {
					return
				}
			}
		}
		_ = w.Flush()
	}()
	req, err := http.NewRequest("POST", h.records, pr) // not ctx: the stream ends when its body does
	if err != nil {
		h.fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.fail(err.Error())
		pr.CloseWithError(err)
		for range sent {
		}
		return
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for t := range sent {
		var d delivery
		if err := dec.Decode(&d); err != nil {
			h.fail(fmt.Sprintf("HTTP %d: reading delivery reports: %v", resp.StatusCode, err))
			pr.CloseWithError(err)
			for range sent {
			}
			return
		}
		if d.ErrorCode != http.StatusOK {
			h.fail(fmt.Sprintf("%d: %s", d.ErrorCode, d.Message))
			continue
		}
		h.hist.Record(time.Since(t))
		h.n.Add(1)
	}
}

// httpJSON sends body (JSON, or nothing) and decodes a 2xx answer into out; another answer is
// an error carrying the proxy's error JSON.
func httpJSON(ctx context.Context, method, url, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
