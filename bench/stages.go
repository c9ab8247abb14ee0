package bench

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logd/logd/metrics"
)

// The latency breakdown of a produce request on logd, read from logd's own Prometheus
// histograms (package metrics) on its --http endpoint: scraped when the measured phase starts
// and when the producers finish, the difference of the cumulative buckets is the window's
// distribution, and its quantiles are interpolated within a bucket as Prometheus's
// histogram_quantile does — so a value is only as fine as the bucket bounds (10 µs … 10 s,
// stageBuckets in package metrics), never finer.

// Stage is one stage of a produce request's time in the broker over a run's measured phase.
type Stage struct {
	Stage  string  `json:"stage"`
	Metric string  `json:"metric"` // Prometheus histogram (and label) it is read from; "" if none
	Count  uint64  `json:"count"`  // observations in the window
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	// Note says what the stage covers, or why it is not measured.
	Note string `json:"note,omitempty"`
}

// stageDef names where each stage of a produce is measured.
type stageDef struct {
	stage, metric, api, note string
}

// produceStages are the stages of a produce on logd, in the order a request passes them, and
// then the fetch wake that delivers its records to a waiting consumer.
var produceStages = []stageDef{
	{"queue", metrics.RequestQueue, "Produce", "last byte received → handler starts (connection's in-flight cap, worker pool)"},
	{"append", metrics.RequestLocal, "Produce", "handler's own work: turn in the connection's order, validation, append to the page cache"},
	{"fsync wait", metrics.ProduceFsyncWait, "", "parked until the group commit covering the batches is durable (acks=all); with replication also until the high watermark passes them (the whole parked time, the next row included)"},
	{"replication wait", metrics.ProduceReplicationWait, "", "acks=all: after the fsync, until the high watermark passes the batches (every in-sync replica has them); near zero with one replica"},
	{"response queue", metrics.ResponseQueue, "Produce", "response ready → connection's writer takes it (responses leave in request order)"},
	{"send", metrics.ResponseSend, "Produce", "writing the response to the socket"},
	{"total in broker", metrics.RequestDuration, "Produce", "handler starts → response ready (queue and send not included)"},
	{"fsync round", metrics.LogFlushDuration, "", "one group-commit round (all its fdatasyncs); per round, not per request"},
	{"fetch wake", metrics.FetchWake, "", "consumer side: the append that woke a parked fetch → its response ready to write; per woken fetch, the broker's part of end-to-end latency"},
	{"replication commit", metrics.ReplicationCommit, "", "leader: an append in the log → the high watermark passes it (every in-sync replica fetched past it), per append; runs alongside the fsync wait"},
	{"follower fetch, data", metrics.ReplicaFetch, "", "follower: round trip of a fetch to a leader that brought batches (the count is the fetch round trips that replicated data)"},
	{"follower fetch, empty", metrics.ReplicaFetchEmpty, "", "follower: a fetch answered empty, its long poll (replica.fetch.wait.max.ms) expired: nothing woke it"},
}

// bucketSet is one histogram's cumulative buckets at a scrape: upper bounds ascending, the
// last +Inf.
type bucketSet struct {
	upper []float64
	cum   []uint64
}

// scrapeHistograms reads urls (comma-separated Prometheus text endpoints: a cluster's nodes)
// and returns the histograms produceStages name, keyed by metric and api label, summed over
// the endpoints.
func scrapeHistograms(urls string) (map[string]bucketSet, error) {
	var sum map[string]bucketSet
	for url := range strings.SplitSeq(urls, ",") {
		one, err := scrapeHistogramsAt(url)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = one
			continue
		}
		for k, b := range one {
			if a, ok := sum[k]; ok && slices.Equal(a.upper, b.upper) {
				for i := range a.cum {
					a.cum[i] += b.cum[i]
				}
			} else if !ok {
				sum[k] = b
			}
		}
	}
	return sum, nil
}

// scrapeHistogramsAt is scrapeHistograms of one endpoint.
func scrapeHistogramsAt(url string) (map[string]bucketSet, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseHistograms(io.LimitReader(resp.Body, 64<<20))
}

// parseHistograms reads the Prometheus text format and keeps produceStages' histograms.
func parseHistograms(r io.Reader) (map[string]bucketSet, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %v", err)
	}
	out := map[string]bucketSet{}
	for _, d := range produceStages {
		f := fams[d.metric]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range f.GetMetric() {
			if d.api != "" && label(m, "api") != d.api {
				continue
			}
			var b bucketSet
			for _, bk := range m.GetHistogram().GetBucket() {
				b.upper = append(b.upper, bk.GetUpperBound())
				b.cum = append(b.cum, bk.GetCumulativeCount())
			}
			b.upper = append(b.upper, math.Inf(1))
			b.cum = append(b.cum, m.GetHistogram().GetSampleCount())
			out[d.metric+"/"+d.api] = b
		}
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// since is the window's histogram: b minus an earlier scrape of the same histogram (nil:
// none, the window is everything).
func (b bucketSet) since(prev *bucketSet) bucketSet {
	out := bucketSet{upper: b.upper, cum: append([]uint64(nil), b.cum...)}
	if prev == nil || len(prev.cum) != len(b.cum) {
		return out
	}
	for i := range out.cum {
		out.cum[i] -= min(prev.cum[i], out.cum[i])
	}
	return out
}

// count is the observations in the set.
func (b bucketSet) count() uint64 {
	if len(b.cum) == 0 {
		return 0
	}
	return b.cum[len(b.cum)-1]
}

// quantile interpolates the q-quantile linearly within its bucket (histogram_quantile): the
// lower bound of the first bucket is 0, and a quantile in the +Inf bucket is the highest
// finite bound (a lower bound of the truth).
func (b bucketSet) quantile(q float64) float64 {
	n := b.count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	for i, c := range b.cum {
		if float64(c) < rank {
			continue
		}
		if math.IsInf(b.upper[i], 1) {
			if i == 0 {
				return 0
			}
			return b.upper[i-1]
		}
		lo, below := 0.0, uint64(0)
		if i > 0 {
			lo, below = b.upper[i-1], b.cum[i-1]
		}
		in := c - below
		if in == 0 {
			return b.upper[i]
		}
		return lo + (b.upper[i]-lo)*(rank-float64(below))/float64(in)
	}
	return b.upper[len(b.upper)-1]
}

// stagesBetween turns two scrapes into the window's stages (before nil: since the start).
func stagesBetween(before, after map[string]bucketSet) []Stage {
	var out []Stage
	for _, d := range produceStages {
		s := Stage{Stage: d.stage, Note: d.note}
		if d.metric != "" {
			s.Metric = d.metric
			if d.api != "" {
				s.Metric += `{api="` + d.api + `"}`
			}
			key := d.metric + "/" + d.api
			if a, ok := after[key]; ok {
				var prev *bucketSet
				if b, ok := before[key]; ok {
					prev = &b
				}
				w := a.since(prev)
				s.Count, s.P50, s.P99 = w.count(), w.quantile(0.5)*1e3, w.quantile(0.99)*1e3
			} else {
				s.Note = "not exported by this broker; " + s.Note
			}
		}
		out = append(out, s)
	}
	return out
}

// stageScraper takes the two scrapes of a run's measured phase; a failed scrape becomes a
// note, never a failed run.
type stageScraper struct {
	url    string
	before map[string]bucketSet
	err    error
}

func (s *stageScraper) begin() {
	if s == nil {
		return
	}
	s.before, s.err = scrapeHistograms(s.url)
}

// end scrapes again and fills r.Stages, or notes why it cannot.
func (s *stageScraper) end(r *Report) {
	if s == nil {
		return
	}
	after, err := scrapeHistograms(s.url)
	if err == nil {
		err = s.err
	}
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("latency breakdown: the broker's metrics could not be read (%v)", err))
		return
	}
	r.Stages = stagesBetween(s.before, after)
}
