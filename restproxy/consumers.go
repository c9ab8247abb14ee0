package restproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The v2 consumer-instance API: a REST client creates a named consumer in a group, subscribes
// it (or assigns partitions), reads records, commits and deletes it. Each instance is a
// franz-go consumer of the broker owned by the proxy; an instance not used for
// consumerInstanceTimeout is closed (Confluent's consumer.instance.timeout.ms).

// The v2 defaults of Confluent's REST proxy.
const (
	consumerInstanceTimeout = 5 * time.Minute
	consumerRequestTimeout  = time.Second
	consumerMaxBytes        = 64 << 20
	autoCommitInterval      = 5 * time.Second // Kafka's auto.commit.interval.ms
)

const (
	codeConsumerNotFound       = 40403
	codeConsumerFormatMismatch = 40601
	codeConsumerSubscribed     = 40901
	codeConsumerExists         = 40902
	codeIllegalState           = 40903
	codeJSONConversion         = 42203
	codeInvalidConsumerConfig  = 42204
)

// consumerInstance is one v2 consumer. mu serialises its requests (as Confluent does).
type consumerInstance struct {
	group, name string
	format      string // binary or json
	reset       kgo.Offset
	autoCommit  bool
	expire      *time.Timer
	owner       string    // the HTTP user who created it ("" without authentication): only they use it
	dial        []kgo.Opt // how its client dials the broker: as its owner

	mu       sync.Mutex
	cl       *kgo.Client                          // nil until subscribed or assigned
	topics   []string                             // the subscription's topics
	pattern  string                               // or its pattern
	manual   []topicPartition                     // or the manual assignment
	start    map[string]map[int32]kgo.Offset      // its positions when its client started
	pending  []*kgo.Record                        // polled, not yet returned
	returned map[string]map[int32]kgo.EpochOffset // the next offset after what was returned
	lastAuto time.Time                            // the last auto commit

	amu      sync.Mutex // the group's callbacks run on the client's goroutines
	assigned map[topicPartition]bool
}

type topicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// consumers is the proxy's table of v2 instances.
type consumers struct {
	mu   sync.Mutex
	byID map[string]*consumerInstance // group + "\x00" + name
}

func instanceKey(group, name string) string { return group + "\x00" + name }

func v2Error(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{ErrorCode: code, Message: msg})
}

func (p *Proxy) v2Routes() {
	p.consumers.byID = map[string]*consumerInstance{}
	const inst = "/consumers/{group}/instances/{instance}"
	p.mux.HandleFunc("POST /consumers/{group}", p.createConsumer)
	h := map[string]func(w http.ResponseWriter, r *http.Request, c *consumerInstance) error{
		"DELETE " + inst:                        p.deleteConsumer,
		"POST " + inst + "/subscription":        p.subscribe,
		"GET " + inst + "/subscription":         p.subscription,
		"DELETE " + inst + "/subscription":      p.unsubscribe,
		"POST " + inst + "/assignments":         p.assign,
		"GET " + inst + "/assignments":          p.assignments,
		"POST " + inst + "/positions":           p.seek,
		"POST " + inst + "/positions/beginning": p.seekEdge,
		"POST " + inst + "/positions/end":       p.seekEdge,
		"GET " + inst + "/records":              p.records,
		"POST " + inst + "/offsets":             p.commit,
		"GET " + inst + "/offsets":              p.committed,
	}
	for pattern, fn := range h {
		p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			p.consumers.mu.Lock()
			c := p.consumers.byID[instanceKey(r.PathValue("group"), r.PathValue("instance"))]
			p.consumers.mu.Unlock()
			if c == nil || c.owner != p.session(r.Context()).user { // another user's instance is not theirs to see
				v2Error(w, http.StatusNotFound, codeConsumerNotFound, "Consumer instance not found.")
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.expire.Reset(consumerInstanceTimeout)
			if err := fn(w, r, c); err != nil {
				e := errorFor(err)
				v2Error(w, e.status, e.code, e.msg)
			}
		})
	}
}

// closeConsumers closes every instance (the proxy's Close).
func (p *Proxy) closeConsumers() {
	p.consumers.mu.Lock()
	defer p.consumers.mu.Unlock()
	for k, c := range p.consumers.byID {
		c.expire.Stop()
		c.mu.Lock()
		p.closeClient(c)
		c.mu.Unlock()
		delete(p.consumers.byID, k)
	}
}

func (p *Proxy) createConsumer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name       string  `json:"name"`
		ID         string  `json:"id"`
		Format     string  `json:"format"`
		Reset      string  `json:"auto.offset.reset"`
		AutoCommit *string `json:"auto.commit.enable"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			e := errorFor(err)
			v2Error(w, e.status, e.code, e.msg)
			return
		}
	}
	s := p.session(r.Context())
	c := &consumerInstance{group: r.PathValue("group"), name: req.Name, format: strings.ToLower(req.Format), reset: kgo.NewOffset().AtEnd(), autoCommit: true,
		owner: s.user, dial: s.opts}
	if c.name == "" {
		c.name = req.ID
	}
	if c.name == "" {
		c.name = fmt.Sprintf("rest-consumer-%d", time.Now().UnixNano())
	}
	switch c.format {
	case "":
		c.format = "binary"
	case "binary", "json":
	default:
		v2Error(w, http.StatusUnprocessableEntity, codeInvalidConsumerConfig, fmt.Sprintf("Invalid consumer configuration: format %q: logd serves binary and json (no schema registry)", req.Format))
		return
	}
	switch strings.ToLower(req.Reset) {
	case "", "latest":
	case "earliest":
		c.reset = kgo.NewOffset().AtStart()
	default:
		v2Error(w, http.StatusUnprocessableEntity, codeInvalidConsumerConfig, fmt.Sprintf("Invalid consumer configuration: auto.offset.reset %q: want earliest or latest", req.Reset))
		return
	}
	if req.AutoCommit != nil {
		v, err := strconv.ParseBool(*req.AutoCommit)
		if err != nil {
			v2Error(w, http.StatusUnprocessableEntity, codeInvalidConsumerConfig, fmt.Sprintf("Invalid consumer configuration: auto.commit.enable %q: want true or false", *req.AutoCommit))
			return
		}
		c.autoCommit = v
	}
	key := instanceKey(c.group, c.name)
	p.consumers.mu.Lock()
	if p.consumers.byID[key] != nil {
		p.consumers.mu.Unlock()
		v2Error(w, http.StatusConflict, codeConsumerExists, "Consumer with specified consumer ID already exists in the specified consumer group.")
		return
	}
	c.expire = time.AfterFunc(consumerInstanceTimeout, func() { p.dropConsumer(key, c) })
	p.consumers.byID[key] = c
	p.consumers.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"instance_id": c.name,
		"base_uri":    base(r) + "/consumers/" + c.group + "/instances/" + c.name,
	})
}

// dropConsumer removes and closes an instance (expiry or DELETE).
func (p *Proxy) dropConsumer(key string, c *consumerInstance) {
	p.consumers.mu.Lock()
	if p.consumers.byID[key] == c {
		delete(p.consumers.byID, key)
	}
	p.consumers.mu.Unlock()
	c.expire.Stop()
	c.mu.Lock()
	p.closeClient(c)
	c.mu.Unlock()
}

func (p *Proxy) deleteConsumer(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	p.consumers.mu.Lock()
	delete(p.consumers.byID, instanceKey(c.group, c.name))
	p.consumers.mu.Unlock()
	c.expire.Stop()
	p.closeClient(c) // c.mu is held by the caller
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// closeClient leaves the group (committing what auto commit marked) and forgets the
// subscription. c.mu is held.
func (p *Proxy) closeClient(c *consumerInstance) {
	if c.cl == nil {
		return
	}
	if c.autoCommit && len(c.returned) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = commitOffsets(ctx, c.cl, c.manual != nil, c.group, c.returned)
		cancel()
	}
	c.cl.Close()
	c.cl, c.topics, c.pattern, c.manual, c.start, c.pending, c.returned = nil, nil, "", nil, nil, nil, nil
	c.amu.Lock()
	c.assigned = nil
	c.amu.Unlock()
}

// start creates the instance's client with opts (a subscription or an assignment).
func (p *Proxy) startConsumer(c *consumerInstance, group bool, opts ...kgo.Opt) error {
	base := append(slices.Clip(c.dial),
		kgo.ClientID("logd-rest-proxy-"+c.name),
		kgo.ConsumeResetOffset(c.reset),
	)
	if group {
		base = append(base, kgo.ConsumerGroup(c.group), kgo.DisableAutoCommit()) // the proxy commits what it returned, not what it polled
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return badRequest(err.Error())
	}
	c.cl = cl
	return nil
}

func (p *Proxy) subscribe(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	var req struct {
		Topics  []string `json:"topics"`
		Pattern string   `json:"topic_pattern"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if (len(req.Topics) == 0) == (req.Pattern == "") {
		return &apiError{http.StatusConflict, codeConsumerSubscribed, "give either topics or topic_pattern"}
	}
	if c.manual != nil {
		return &apiError{http.StatusConflict, codeIllegalState, "Illegal state: Subscription to topics, partitions and pattern are mutually exclusive"}
	}
	if c.cl != nil {
		return &apiError{http.StatusConflict, codeConsumerSubscribed, "Consumer cannot subscribe the the specified target because it has already subscribed to other topics."}
	}
	opts := []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.track(m, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.track(m, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.track(m, false) }),
	}
	if req.Pattern != "" {
		if _, err := regexp.Compile(req.Pattern); err != nil {
			return badRequest(fmt.Sprintf("topic_pattern %q: %v", req.Pattern, err))
		}
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(req.Pattern))
	} else {
		opts = append(opts, kgo.ConsumeTopics(req.Topics...))
	}
	if err := p.startConsumer(c, true, opts...); err != nil {
		return err
	}
	c.topics, c.pattern = req.Topics, req.Pattern
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// track records partitions assigned (add) or taken away, from the client's callbacks.
func (c *consumerInstance) track(m map[string][]int32, add bool) {
	c.amu.Lock()
	defer c.amu.Unlock()
	if c.assigned == nil {
		c.assigned = map[topicPartition]bool{}
	}
	for t, ps := range m {
		for _, p := range ps {
			if add {
				c.assigned[topicPartition{t, p}] = true
			} else {
				delete(c.assigned, topicPartition{t, p})
			}
		}
	}
}

func (p *Proxy) subscription(w http.ResponseWriter, _ *http.Request, c *consumerInstance) error {
	topics := slices.Clone(c.topics)
	if topics == nil {
		topics = []string{}
	}
	writeV2(w, map[string][]string{"topics": topics})
	return nil
}

func (p *Proxy) unsubscribe(w http.ResponseWriter, _ *http.Request, c *consumerInstance) error {
	p.closeClient(c)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) assign(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	var req struct {
		Partitions []topicPartition `json:"partitions"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if c.cl != nil && c.manual == nil {
		return &apiError{http.StatusConflict, codeIllegalState, "Illegal state: Subscription to topics, partitions and pattern are mutually exclusive"}
	}
	p.closeClient(c)
	if len(req.Partitions) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	parts := map[string]map[int32]kgo.Offset{}
	for _, tp := range req.Partitions {
		if parts[tp.Topic] == nil {
			parts[tp.Topic] = map[int32]kgo.Offset{}
		}
		parts[tp.Topic][tp.Partition] = c.reset
	}
	// Assigned partitions resume from the group's committed offsets, as a Java consumer
	// with assign() and a group.id does.
	if c.group != "" {
		if offs, err := p.session(r.Context()).adm.FetchOffsets(r.Context(), c.group); err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if ps := parts[o.Topic]; ps != nil && o.Err == nil {
					if _, ok := ps[o.Partition]; ok && o.At >= 0 {
						ps[o.Partition] = kgo.NewOffset().At(o.At)
					}
				}
			})
		}
	}
	if err := p.startConsumer(c, false, kgo.ConsumePartitions(parts)); err != nil {
		return err
	}
	c.manual, c.start = req.Partitions, parts
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) assignments(w http.ResponseWriter, _ *http.Request, c *consumerInstance) error {
	out := slices.Clone(c.manual)
	if out == nil {
		c.amu.Lock()
		for tp := range c.assigned {
			out = append(out, tp)
		}
		c.amu.Unlock()
		slices.SortFunc(out, func(a, b topicPartition) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return int(a.Partition - b.Partition)
		})
	}
	if out == nil {
		out = []topicPartition{}
	}
	writeV2(w, map[string][]topicPartition{"partitions": out})
	return nil
}

// needClient fails a request that needs a subscription or an assignment.
func (c *consumerInstance) needClient() error {
	if c.cl == nil {
		return &apiError{http.StatusConflict, codeIllegalState, "Illegal state: Consumer is not subscribed to any topics or assigned any partitions"}
	}
	return nil
}

// setOffsets moves the instance's positions and drops what it polled of those partitions.
// A group member's positions move in place (only assigned partitions, as the Java consumer's
// seek); an assigned instance restarts its client at the new positions, since a direct
// consumer may not have taken its partitions yet.
func (p *Proxy) setOffsets(c *consumerInstance, to map[string]map[int32]kgo.EpochOffset) error {
	c.pending = slices.DeleteFunc(c.pending, func(r *kgo.Record) bool { _, ok := to[r.Topic][r.Partition]; return ok })
	if c.manual == nil {
		c.cl.SetOffsets(to)
		return nil
	}
	for t, ps := range to {
		for part, eo := range ps {
			if _, ok := c.start[t][part]; !ok {
				return &apiError{http.StatusConflict, codeIllegalState, fmt.Sprintf("Illegal state: No current assignment for partition %s-%d", t, part)}
			}
			c.start[t][part] = kgo.NewOffset().At(eo.Offset)
		}
	}
	c.cl.Close()
	return p.startConsumer(c, false, kgo.ConsumePartitions(c.start))
}

func (p *Proxy) seek(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	var req struct {
		Offsets []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
		} `json:"offsets"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := c.needClient(); err != nil {
		return err
	}
	to := map[string]map[int32]kgo.EpochOffset{}
	for _, o := range req.Offsets {
		if to[o.Topic] == nil {
			to[o.Topic] = map[int32]kgo.EpochOffset{}
		}
		to[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	}
	if err := p.setOffsets(c, to); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// seekEdge serves positions/beginning and positions/end.
func (p *Proxy) seekEdge(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	var req struct {
		Partitions []topicPartition `json:"partitions"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := c.needClient(); err != nil {
		return err
	}
	var topics []string
	for _, tp := range req.Partitions {
		topics = append(topics, tp.Topic)
	}
	adm := p.session(r.Context()).adm
	list := adm.ListStartOffsets
	if strings.HasSuffix(r.URL.Path, "/end") {
		list = adm.ListEndOffsets
	}
	offs, err := list(r.Context(), topics...)
	if err != nil {
		return err
	}
	to := map[string]map[int32]kgo.EpochOffset{}
	for _, tp := range req.Partitions {
		o, ok := offs.Lookup(tp.Topic, tp.Partition)
		if !ok || o.Err != nil {
			return &apiError{http.StatusNotFound, codePartitionNotFound, fmt.Sprintf("Partition not found: %s-%d", tp.Topic, tp.Partition)}
		}
		if to[tp.Topic] == nil {
			to[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		to[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	}
	if err := p.setOffsets(c, to); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// v2Record is BinaryConsumerRecord (key and value base64) or JsonConsumerRecord (embedded).
type v2Record struct {
	Topic     string `json:"topic"`
	Key       any    `json:"key"`
	Value     any    `json:"value"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Timestamp (Unix milliseconds) is a logd addition Confluent's records lack; their
	// clients ignore it, the console's message browser shows it.
	Timestamp int64 `json:"timestamp"`
}

// embed renders a key or value in the instance's format.
func (c *consumerInstance) embed(b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	if c.format == "binary" {
		return b, nil // base64 in JSON
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("not JSON: %.40q", b)
	}
	return json.RawMessage(b), nil
}

func (p *Proxy) records(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "vnd.kafka.") && !strings.Contains(accept, "vnd.kafka."+c.format+".") && !strings.Contains(accept, "vnd.kafka.v2+json") {
		return &apiError{http.StatusNotAcceptable, codeConsumerFormatMismatch, "The requested embedded data format does not match the deserializer for this consumer instance"}
	}
	if err := c.needClient(); err != nil {
		return err
	}
	timeout, maxBytes := consumerRequestTimeout, int64(consumerMaxBytes)
	if v := r.URL.Query().Get("timeout"); v != "" && v != "-1" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return badRequest(fmt.Sprintf("timeout %q: want milliseconds", v))
		}
		timeout = time.Duration(min(ms, 5*60*1000)) * time.Millisecond
	}
	if v := r.URL.Query().Get("max_bytes"); v != "" && v != "-1" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return badRequest(fmt.Sprintf("max_bytes %q: want a positive number of bytes", v))
		}
		maxBytes = min(n, consumerMaxBytes)
	}
	if len(c.pending) == 0 {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		fs := c.cl.PollFetches(ctx)
		cancel()
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && ctx.Err() == nil && err != context.DeadlineExceeded && err != context.Canceled {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		c.pending = fs.Records()
	}
	out := []v2Record{}
	var size int64
	n := 0
	for _, rec := range c.pending {
		size += int64(len(rec.Key) + len(rec.Value))
		if size > maxBytes && n > 0 {
			break
		}
		key, err := c.embed(rec.Key)
		if err == nil {
			var value any
			value, err = c.embed(rec.Value)
			if err == nil {
				out = append(out, v2Record{Topic: rec.Topic, Key: key, Value: value, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UnixMilli()})
			}
		}
		if err != nil {
			return &apiError{http.StatusUnprocessableEntity, codeJSONConversion, fmt.Sprintf("Conversion of JSON to Object failed: %s-%d offset %d: %v", rec.Topic, rec.Partition, rec.Offset, err)}
		}
		n++
	}
	if c.returned == nil {
		c.returned = map[string]map[int32]kgo.EpochOffset{}
	}
	for _, rec := range c.pending[:n] {
		if c.returned[rec.Topic] == nil {
			c.returned[rec.Topic] = map[int32]kgo.EpochOffset{}
		}
		c.returned[rec.Topic][rec.Partition] = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
	}
	c.pending = c.pending[n:]
	if c.autoCommit && n > 0 && time.Since(c.lastAuto) >= autoCommitInterval {
		c.lastAuto = time.Now()
		offsets, cl, assigned := cloneOffsets(c.returned), c.cl, c.manual != nil
		go func() { // in the background, as the Java consumer's auto commit
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
			defer cancel()
			if err := commitOffsets(ctx, cl, assigned, c.group, offsets); err != nil {
				p.cfg.Logger.Info("rest proxy: auto commit failed", "group", c.group, "instance", c.name, "err", err)
			}
		}()
	}
	w.Header().Set("Content-Type", "application/vnd.kafka."+c.format+".v2+json")
	return json.NewEncoder(w).Encode(out)
}

func (p *Proxy) commit(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	var req struct {
		Offsets []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
			Metadata  string `json:"metadata"`
		} `json:"offsets"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	if err := c.needClient(); err != nil {
		return err
	}
	if len(req.Offsets) == 0 {
		// Everything returned so far.
		if err := commitOffsets(r.Context(), c.cl, c.manual != nil, c.group, c.returned); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	to := map[string]map[int32]kgo.EpochOffset{}
	for _, o := range req.Offsets {
		if to[o.Topic] == nil {
			to[o.Topic] = map[int32]kgo.EpochOffset{}
		}
		// Confluent commits the offset given (the next record to read).
		to[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	}
	if err := commitOffsets(r.Context(), c.cl, c.manual != nil, c.group, to); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *Proxy) committed(w http.ResponseWriter, r *http.Request, c *consumerInstance) error {
	var req struct {
		Partitions []topicPartition `json:"partitions"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	offs, err := p.session(r.Context()).adm.FetchOffsets(r.Context(), c.group)
	if err != nil {
		return err
	}
	type committedOffset struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Metadata  string `json:"metadata"`
	}
	out := []committedOffset{}
	for _, tp := range req.Partitions {
		if o, ok := offs.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil {
			out = append(out, committedOffset{tp.Topic, tp.Partition, o.At, o.Metadata})
		}
	}
	writeV2(w, map[string][]committedOffset{"offsets": out})
	return nil
}

// commitOffsets commits offsets for the instance's group through its client cl: as the group
// member it is when it subscribed (the coordinator checks member and generation), directly
// when it was assigned. It reads only its arguments, so an auto commit runs it without c.mu.
func commitOffsets(ctx context.Context, cl *kgo.Client, assigned bool, group string, offsets map[string]map[int32]kgo.EpochOffset) error {
	if len(offsets) == 0 {
		return nil
	}
	if !assigned {
		var cerr error
		cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			for _, t := range resp.Topics {
				for _, pt := range t.Partitions {
					if e := errorOf(pt.ErrorCode); e != nil && cerr == nil {
						cerr = e
					}
				}
			}
		})
		return cerr
	}
	os := kadm.Offsets{}
	for t, ps := range offsets {
		for part, eo := range ps {
			os.Add(kadm.Offset{Topic: t, Partition: part, At: eo.Offset, LeaderEpoch: eo.Epoch})
		}
	}
	return kadm.NewClient(cl).CommitAllOffsets(ctx, group, os)
}

// cloneOffsets copies offsets for an asynchronous commit.
func cloneOffsets(m map[string]map[int32]kgo.EpochOffset) map[string]map[int32]kgo.EpochOffset {
	out := make(map[string]map[int32]kgo.EpochOffset, len(m))
	for t, ps := range m {
		out[t] = maps.Clone(ps)
	}
	return out
}

func writeV2(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
	_ = json.NewEncoder(w).Encode(v)
}
