package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/perf/loadgen"
)

// Options say how to run one workload.
type Options struct {
	Bootstrap string   // broker "host:port"
	Workload  Workload // normalized (LoadWorkload)

	// Duration, Warmup, RateMBps and ReplicationFactor override the workload's when non-zero
	// (Warmup < 0: none).
	Duration          time.Duration
	Warmup            time.Duration
	RateMBps          float64
	ReplicationFactor int
	// BacklogMB overrides a catch-up workload's backlog when non-zero.
	BacklogMB int

	BrokerName string // label in the report ("logd", "kafka")
	// BrokerPIDs are the broker's processes (one, or a cluster's nodes): their CPU and memory
	// are read from /proc/PID and summed.
	BrokerPIDs []int
	DataDir    string // the broker's data directory, for the disk fingerprint (default: Out)
	// KeepTopics leaves the run's topics on the broker; without it Run deletes the topics it
	// created (never one that existed before) when the run ends.
	KeepTopics bool
	// BrokerConfig is printed in the report: how the broker was configured.
	BrokerConfig []string

	Out    string        // directory for report.json, report.md and plots ("" writes nothing)
	Window time.Duration // reporting window (default 10s)

	// Ceiling re-runs a max-rate produce workload's generator against an in-process sink for a
	// few seconds after the run, to tell whether the generator was the limit.
	Ceiling bool
	// knownCeiling (MB/s, records/s) is a ceiling measured before for the same workload.
	knownCeiling [2]float64

	// LatencyBudget, when positive, sizes a fixed-rate run's in-flight window per producer
	// from the rate instead of the workload's in_flight (windowFor): the round trip the
	// generator absorbs without falling behind its schedule.
	LatencyBudget time.Duration
	// MaxSendLag is the bound on a fixed-rate run's send lag p99 (actual minus intended send
	// time) past which the run is marked invalid (default DefaultMaxSendLag).
	MaxSendLag time.Duration
	// BusyCores is how much CPU other processes (and the hypervisor's steal) may take during
	// the run before it is marked busy (default DefaultBusyCores).
	BusyCores float64
	// QuietWait is how long the quiet check before the run may wait for other processes to
	// use at most BusyCores; it probes once (a second) even when zero, and warns when the
	// machine stayed busy.
	QuietWait time.Duration
	// MetricsURL is the broker's Prometheus endpoint (logd serve --http): when set, the report
	// gets the latency breakdown of produce requests from the broker's own histograms. A
	// cluster's nodes are listed comma-separated: their histograms are summed.
	MetricsURL string

	Progress io.Writer // progress display (nil: none)
	Terminal bool      // Progress is a terminal: redraw one bar line instead of printing lines
}

// Run runs a workload against a broker and returns its report (also written to Out).
func Run(ctx context.Context, o Options) (*Report, error) {
	w := o.Workload
	if o.Duration > 0 {
		w.Duration = Duration(o.Duration)
	}
	switch {
	case o.Warmup > 0:
		w.Warmup = Duration(o.Warmup)
	case o.Warmup < 0:
		w.Warmup = 0
	}
	if o.RateMBps > 0 {
		w.RateMBps = o.RateMBps
	}
	if o.ReplicationFactor > 0 {
		w.ReplicationFactor = o.ReplicationFactor
	}
	if o.BacklogMB > 0 && w.CatchUp() {
		w.BacklogMB = o.BacklogMB
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.MaxSendLag <= 0 {
		o.MaxSendLag = DefaultMaxSendLag
	}
	if o.BusyCores <= 0 {
		o.BusyCores = DefaultBusyCores
	}
	if w.RateMBps > 0 && o.LatencyBudget > 0 {
		w.InFlight, _ = windowFor(w, o.LatencyBudget)
	}
	if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return nil, err
		}
	}
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = o.Out
	}
	if dataDir == "" {
		dataDir = "."
	}
	pidFrom := "given"
	if len(o.BrokerPIDs) == 0 {
		if pid, why := brokerByPort(o.Bootstrap); pid > 0 {
			o.BrokerPIDs = []int{pid}
			pidFrom = "the process listening on " + o.Bootstrap
		} else {
			pidFrom = "none: " + why + "; the broker's CPU counts as other processes' (give --broker-pid)"
		}
	}
	r := &Report{
		Workload: w.Name, Spec: w, Broker: BrokerInfo{Name: o.BrokerName, Bootstrap: o.Bootstrap, PIDs: o.BrokerPIDs, PIDFrom: pidFrom, Config: o.BrokerConfig},
		Machine: fingerprint(dataDir), Started: time.Now().UTC(),
		DurationS: time.Duration(w.Duration).Seconds(), WarmupS: time.Duration(w.Warmup).Seconds(),
		WindowS: o.Window.Seconds(),
	}
	if r.Broker.Name == "" {
		r.Broker.Name = "broker"
	}
	topicBase := fmt.Sprintf("bench-%s-%d", sanitize(w.Name), time.Now().UnixMilli())
	var topics []string
	for i := range w.Topics {
		t := topicBase
		if w.Topics > 1 {
			t = fmt.Sprintf("%s-%d", topicBase, i)
		}
		topics = append(topics, t)
	}
	r.Topics = topics

	if err := raiseFileLimit(uint64(w.Producers+w.Consumers) + 256); err != nil {
		return nil, err
	}
	if mb := settlePageCache(); mb > 64 {
		r.Notes = append(r.Notes, fmt.Sprintf("%.0f MB of dirty page cache (earlier runs or other processes) was written back (sync) before the run", mb))
	}
	r.PreRun = quietCheck(ctx, o.BusyCores, o.QuietWait, o.BrokerPIDs)
	if n := r.PreRun.note(o.BusyCores); n != "" {
		r.Notes = append(r.Notes, n)
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, n)
		}
	}
	if w.RateMBps > 0 {
		_, interval := windowFor(w, o.LatencyBudget)
		r.Generator.InFlight, r.Generator.RequestIntervalMs = w.InFlight, float64(interval)/1e6
		r.Generator.LatencyBudgetMs, r.Generator.SendLagBoundMs = float64(o.LatencyBudget)/1e6, float64(o.MaxSendLag)/1e6
	} else {
		r.Generator.InFlight = w.InFlight
	}
	var err error
	switch {
	case w.CatchUp() && w.Transactional():
		err = runTxnCatchUp(ctx, o, w, topics, r)
	case w.Transactional():
		err = runTransactions(ctx, o, w, topics, r)
	case w.CatchUp():
		err = runCatchUp(ctx, o, w, topics, r)
	default:
		err = runProduce(ctx, o, w, topics, r)
	}
	r.cleanUp(o, topics)
	if err != nil {
		return r, err
	}
	r.MachineCPU.busyVerdict(o.BusyCores)
	r.checkSchedule(w)
	r.conclude(w)
	if o.Out != "" {
		if err := r.Write(o.Out); err != nil {
			return r, err
		}
	}
	return r, nil
}

// cleanUp deletes the topics the run created unless o.KeepTopics, and notes what it deleted
// and what it leaves on the broker.
func (r *Report) cleanUp(o Options, topics []string) {
	if !o.KeepTopics {
		deleted, err := deleteTopics(o.Bootstrap, r.created)
		r.TopicsDeleted = deleted
		if err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("deleting the run's topics: %v", err))
		}
	}
	for _, t := range topics {
		if !slices.Contains(r.TopicsDeleted, t) {
			r.TopicsLeft = append(r.TopicsLeft, t)
		}
	}
	if len(r.TopicsDeleted) > 0 {
		r.Notes = append(r.Notes, "topics deleted when the run ended: "+strings.Join(r.TopicsDeleted, ", "))
	}
	if len(r.TopicsLeft) > 0 {
		r.Notes = append(r.Notes, "topics left on the broker: "+strings.Join(r.TopicsLeft, ", "))
	}
}

func sanitize(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			return c
		}
		return '_'
	}, s)
}

// produceConfigs splits the workload's producers over its topics.
func produceConfigs(o Options, w Workload, topics []string, lat, lag *loadgen.Histogram, st *loadgen.Stats) []loadgen.ProduceConfig {
	var cfgs []loadgen.ProduceConfig
	for i, t := range topics {
		conns := w.Producers / len(topics)
		if i < w.Producers%len(topics) {
			conns++
		}
		cfgs = append(cfgs, loadgen.ProduceConfig{
			Bootstrap: o.Bootstrap, Topic: t, Partitions: int32(w.Partitions), Create: true,
			Conns: conns, InFlight: w.InFlight, Acks: w.AcksValue(), RecordsPerBatch: w.BatchRecords,
			Shape: loadgen.RecordShape{Size: w.MessageSize, SizeDist: w.SizeDistribution,
				KeyDist: w.KeyDistribution, KeySpace: w.KeySpace, Codec: w.Compression},
			Stamp: true, Seed: uint64(i + 1),
			Rate:    w.RateMBps * 1e6 * float64(conns) / float64(w.Producers),
			Latency: lat, SendLag: lag, Stats: st,
		})
	}
	return cfgs
}

// runProduce runs producers (and tailing consumers) for warm-up plus duration.
func runProduce(ctx context.Context, o Options, w Workload, topics []string, r *Report) error {
	lat, lag, e2e := loadgen.NewHistogram(), loadgen.NewHistogram(), loadgen.NewHistogram()
	pst, fst := &loadgen.Stats{}, &loadgen.FetchStats{}
	cfgs := produceConfigs(o, w, topics, lat, lag, pst)
	total := time.Duration(w.Warmup + w.Duration)

	// Create the topics first, so consumers can start before the first record.
	for _, c := range cfgs {
		took, leaders, err := createTopic(o.Bootstrap, c.Topic, c.Partitions, w.ReplicationFactor, r)
		if err != nil {
			return err
		}
		if w.ReplicationFactor > 1 {
			r.Notes = append(r.Notes, fmt.Sprintf("topic %s: replication factor %d, partition leaders %s", c.Topic, w.ReplicationFactor, leaderSpread(leaders)))
		}
		if took > 5*time.Second {
			r.Notes = append(r.Notes, fmt.Sprintf("topic %s (%d partitions) took %.1f s to create and serve every partition (not measured)", c.Topic, c.Partitions, took.Seconds()))
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(cfgs)+len(topics))
	var consumerCancel context.CancelFunc = func() {}
	if w.Consumers > 0 {
		cctx, cc := context.WithCancel(ctx)
		consumerCancel = cc
		for i, t := range topics {
			conns := max(1, w.Consumers/len(topics))
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if w.ConsumerGroup != "" {
					err = consumeGroup(cctx, o.Bootstrap, w.ConsumerGroup, t, conns, e2e, fst)
				} else {
					_, err = loadgen.RunFetch(cctx, loadgen.FetchConfig{
						Bootstrap: o.Bootstrap, Topic: t, Partitions: int32(w.Partitions), Conns: conns,
						Tail: true, E2E: e2e, Stats: fst, MaxBytes: 16 << 20, PartitionMaxBytes: 1 << 20,
					})
				}
				if err != nil && cctx.Err() == nil {
					errs <- fmt.Errorf("consumer %d: %w", i, err)
				}
			}()
		}
	}

	s := newSampler(o, r, total, time.Duration(w.Warmup))
	s.produce, s.fetch, s.lat, s.lag, s.e2e = pst, fst, lat, lag, e2e
	if o.MetricsURL != "" {
		s.stages = &stageScraper{url: o.MetricsURL}
	}
	s.start()
	var pwg sync.WaitGroup
	results := make([]*loadgen.ProduceResult, len(cfgs))
	for i, c := range cfgs {
		c.Duration = total
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			res, err := loadgen.RunProduce(ctx, c)
			if err == nil {
				err = res.Err()
			}
			results[i] = res
			if err != nil {
				errs <- fmt.Errorf("producer on %s: %w", c.Topic, err)
				cancel()
			}
		}()
	}
	pwg.Wait()
	s.producersDone()
	if w.Consumers > 0 {
		// Let the consumers read what was produced last, then stop them.
		drain := time.Now().Add(5 * time.Second)
		for time.Now().Before(drain) && fst.Records.Load() < pst.Records.Load() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	consumerCancel()
	wg.Wait()
	s.stop()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	for _, res := range results {
		if res != nil {
			r.Produce.Version = res.Version
			for code, n := range res.Errors {
				if r.Produce.Errors == nil {
					r.Produce.Errors = map[int16]int64{}
				}
				r.Produce.Errors[code] += n
			}
		}
	}
	if w.RateMBps > 0 {
		r.Produce.TargetMBps = w.RateMBps
	}
	if w.Consumers > 0 && fst.CoarseStamps.Load() > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d batches carried no nanosecond send stamp (compressed or values under 8 bytes): their end-to-end latency is from the millisecond CreateTime", fst.CoarseStamps.Load()))
	}
	if o.knownCeiling[0] > 0 {
		r.Generator.CeilingMBps, r.Generator.CeilingRecordsPerSec = o.knownCeiling[0], o.knownCeiling[1]
	} else if o.Ceiling && w.RateMBps == 0 {
		c := cfgs[0]
		c.Topic = "ceiling"
		c.Conns = w.Producers
		c.Rate = 0
		c.Latency, c.SendLag, c.Stats = nil, nil, nil
		c.Duration = min(5*time.Second, time.Duration(w.Duration))
		c.Partitions = int32(min(w.Partitions, loadgen.SinkPartitions))
		c.Conns = min(c.Conns, 64)
		r.Generator.CeilingMBps, r.Generator.CeilingRecordsPerSec = ceiling(ctx, c)
	}
	return nil
}

// ceiling runs c against an in-process sink: the generator's rate when the broker costs
// nothing (sharing the machine with the sink, so a lower bound).
func ceiling(ctx context.Context, c loadgen.ProduceConfig) (mbps, rps float64) {
	sink, err := loadgen.StartSink("127.0.0.1:0")
	if err != nil {
		return 0, 0
	}
	defer sink.Close()
	c.Bootstrap = sink.Addr()
	res, err := loadgen.RunProduce(ctx, c)
	if err != nil || res.Elapsed <= 0 {
		return 0, 0
	}
	return res.MBPerSec(), res.RecordsPerSec()
}

// runCatchUp produces the backlog (unmeasured), then measures consumers reading it all.
func runCatchUp(ctx context.Context, o Options, w Workload, topics []string, r *Report) error {
	lat, lag := loadgen.NewHistogram(), loadgen.NewHistogram()
	pst := &loadgen.Stats{}
	cfgs := produceConfigs(o, w, topics, lat, lag, pst)
	backlog := int64(w.BacklogMB) * 1e6
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "producing a %d MB backlog (not measured)\n", w.BacklogMB)
	}
	for _, c := range cfgs {
		if _, _, err := createTopic(o.Bootstrap, c.Topic, c.Partitions, w.ReplicationFactor, r); err != nil {
			return err
		}
	}
	for _, c := range cfgs {
		c.Rate = 0
		perReq := int64(c.RecordsPerBatch) * int64(c.Shape.Size) * int64(c.Partitions) / int64(c.Conns)
		c.Requests = (backlog/int64(len(cfgs)) + perReq - 1) / max(perReq, 1)
		res, err := loadgen.RunProduce(ctx, c)
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			return fmt.Errorf("backlog: %w", err)
		}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("backlog: %.0f MB of record values produced before measuring (%s)", float64(pst.Bytes.Load())/1e6, lat.String()))
	time.Sleep(2 * time.Second) // let the broker finish background work (flushes) before measuring

	fst, err := measureCatchUp(o, r, w, topics, func(_ int, t string, fst *loadgen.FetchStats) error {
		_, err := loadgen.RunFetch(ctx, loadgen.FetchConfig{
			Bootstrap: o.Bootstrap, Topic: t, Partitions: int32(w.Partitions),
			Conns: max(1, w.Consumers/len(topics)), Stats: fst, Duration: time.Duration(w.Duration),
		})
		return err
	})
	if err != nil {
		return err
	}
	if fst.Bytes.Load() < backlog {
		r.Notes = append(r.Notes, fmt.Sprintf("consumers read %.0f of %d MB before the duration ended", float64(fst.Bytes.Load())/1e6, w.BacklogMB))
	}
	return nil
}

// measureCatchUp measures a catch-up: read runs once per topic (its index and name), all at
// once, adding what it reads to fst, under a sampler ticking every 200 ms.
func measureCatchUp(o Options, r *Report, w Workload, topics []string, read func(i int, topic string, fst *loadgen.FetchStats) error) (*loadgen.FetchStats, error) {
	fst := &loadgen.FetchStats{}
	s := newSampler(o, r, time.Duration(w.Duration), 0)
	s.fetch = fst
	s.tick = 200 * time.Millisecond
	s.start()
	var wg sync.WaitGroup
	errs := make([]error, len(topics))
	for i, t := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = read(i, t, fst)
		}()
	}
	wg.Wait()
	s.stop()
	return fst, errors.Join(errs...)
}

// sampler takes the live counters every second: the progress display, the per-second series
// for plots, the per-window table, and the broker's CPU and memory.
type sampler struct {
	o       Options
	r       *Report
	total   time.Duration
	warmup  time.Duration
	produce *loadgen.Stats
	fetch   *loadgen.FetchStats
	lat     *loadgen.Histogram
	lag     *loadgen.Histogram
	e2e     *loadgen.Histogram

	// tick is the sampling period: 1 s, or 200 ms for a catch-up that may last seconds.
	tick time.Duration
	// prodEnd, once set, is the reading when the producers finished: produce numbers end
	// there, consumers' go on while they drain.
	prodEnd atomic.Pointer[counters]
	// stages, when set, scrapes the broker's histograms as the measured phase starts and
	// ends (on the sampler's goroutine).
	stages *stageScraper

	done chan struct{}
	wg   sync.WaitGroup
}

func newSampler(o Options, r *Report, total, warmup time.Duration) *sampler {
	return &sampler{o: o, r: r, total: total, warmup: warmup, tick: time.Second, done: make(chan struct{})}
}

// counters is one reading of everything the sampler follows.
type counters struct {
	at                   time.Time
	records, bytes       int64
	fetchRecords, fbytes int64
	lat, lag, e2e        *loadgen.Histogram
	brokerCPU, self      time.Duration
	cpu                  cpuTimes // the whole machine
}

func (s *sampler) read() counters {
	c := counters{at: time.Now(), self: selfCPU(), cpu: readCPUTimes()}
	snap := func(h *loadgen.Histogram) *loadgen.Histogram {
		if h == nil {
			return loadgen.NewHistogram()
		}
		return h.Snapshot()
	}
	c.lat, c.lag, c.e2e = snap(s.lat), snap(s.lag), snap(s.e2e)
	if s.produce != nil {
		c.records, c.bytes = s.produce.Records.Load(), s.produce.Bytes.Load()
	}
	if s.fetch != nil {
		c.fetchRecords, c.fbytes = s.fetch.Records.Load(), s.fetch.Bytes.Load()
	}
	var rss int64
	for _, pid := range s.o.BrokerPIDs {
		cpu, _ := procCPU(pid)
		c.brokerCPU += cpu
		if r, _, err := procMem(pid); err == nil {
			rss += r
		}
	}
	s.r.Broker.PeakRSSMB = max(s.r.Broker.PeakRSSMB, float64(rss)/(1<<20))
	return c
}

// producersDone marks the end of the produce phase.
func (s *sampler) producersDone() {
	c := s.read()
	s.prodEnd.Store(&c)
}

func (s *sampler) start() {
	s.wg.Add(1)
	go s.loop()
}

func (s *sampler) stop() {
	close(s.done)
	s.wg.Wait()
}

func (s *sampler) loop() {
	defer s.wg.Done()
	begin := s.read()
	measureFrom := begin.at.Add(s.warmup)
	var first *counters // at the end of warm-up
	if s.warmup == 0 {
		first = &begin
		s.stages.begin()
	}
	prev, winStart, shown := begin, begin, begin
	tick := time.NewTicker(s.tick)
	defer tick.Stop()
	finish := func(c counters) {
		if first == nil {
			return
		}
		pend := c
		if p := s.prodEnd.Load(); p != nil {
			pend = *p
		}
		// The last window is partial: kept when at least half a window long, its rates over
		// its real length (the producers' up to when they finished).
		// Without consumers the run ended with the producers: the time after is not a window.
		end := c
		if s.o.Workload.Consumers == 0 {
			end = pend
		}
		if end.at.Sub(winStart.at) >= s.o.Window/2 && !winStart.at.Before(first.at) {
			s.r.Windows = append(s.r.Windows, window(*first, winStart, end, pend))
		}
		s.r.summarize(*first, pend, c, s.o)
		s.stages.end(s.r) // produce observations ended with the producers
	}
	for {
		select {
		case <-s.done:
			c := s.read()
			finish(c)
			s.progress(c, begin, shown, true)
			return
		case <-tick.C:
		}
		c := s.read()
		if first == nil && !c.at.Before(measureFrom) {
			cc := c
			first = &cc
			winStart = c
			s.stages.begin()
		}
		if first != nil && c.at.After(first.at) {
			s.r.Series = append(s.r.Series, point(*first, prev, c))
			if c.at.Sub(winStart.at) >= s.o.Window-s.tick/2 {
				s.r.Windows = append(s.r.Windows, window(*first, winStart, c, c))
				winStart = c
			}
		}
		if c.at.Sub(shown.at) >= time.Second-s.tick/2 {
			s.progress(c, begin, shown, false)
			shown = c
		}
		prev = c
	}
}

// progress shows one line per second: a redrawn bar on a terminal, plain lines otherwise.
func (s *sampler) progress(c, begin, prev counters, last bool) {
	if s.o.Progress == nil {
		return
	}
	el := c.at.Sub(begin.at)
	frac := min(1, el.Seconds()/max(s.total.Seconds(), 1e-9))
	dt := c.at.Sub(prev.at).Seconds()
	phase := "run"
	if el < s.warmup {
		phase = "warm-up"
	}
	line := fmt.Sprintf("%s %5.1fs/%.0fs", phase, el.Seconds(), s.total.Seconds())
	if s.produce != nil {
		// Producers that finished since prev are rated over the time they ran, not the whole
		// second; one that ran under half a tick of it shows no rate rather than a collapse.
		pc, pdt := c, dt
		if p := s.prodEnd.Load(); p != nil && p.at.Before(c.at) {
			pc, pdt = *p, p.at.Sub(prev.at).Seconds()
		}
		if pdt >= s.tick.Seconds()/2 {
			line += fmt.Sprintf("  produce %7.1f MB/s %9.0f rec/s  p99 %s", float64(pc.bytes-prev.bytes)/1e6/pdt,
				float64(pc.records-prev.records)/pdt, fmtMs(pc.lat.Since(prev.lat).Quantile(0.99)))
		} else {
			line += "  produce done"
		}
	}
	if s.fetch != nil && (c.fbytes > 0 || s.produce == nil) {
		line += fmt.Sprintf("  consume %7.1f MB/s", float64(c.fbytes-prev.fbytes)/1e6/dt)
		if s.e2e != nil && c.e2e.Count() > prev.e2e.Count() {
			line += "  e2e p99 " + fmtMs(c.e2e.Since(prev.e2e).Quantile(0.99))
		}
	}
	if !s.o.Terminal {
		fmt.Fprintln(s.o.Progress, line)
		return
	}
	const width = 24
	n := int(frac * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	end := ""
	if last {
		end = "\n"
	}
	fmt.Fprintf(s.o.Progress, "\r\033[K%s %3.0f%% %s%s", bar, frac*100, line, end)
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// point is one second of the time series.
func point(first, prev, c counters) SeriesPoint {
	dt := c.at.Sub(prev.at).Seconds()
	l := c.lat.Since(prev.lat)
	e := c.e2e.Since(prev.e2e)
	return SeriesPoint{
		T:              c.at.Sub(first.at).Seconds(),
		ProduceMBps:    float64(c.bytes-prev.bytes) / 1e6 / dt,
		ProduceRecords: float64(c.records-prev.records) / dt,
		ConsumeMBps:    float64(c.fbytes-prev.fbytes) / 1e6 / dt,
		Latency:        percentiles(l),
		E2E:            percentiles(e),
	}
}

// window summarizes [from, to] of the measured phase; the producers' numbers end at pend
// (when they finished, if before to), so a window they left early is rated over the time
// they ran.
func window(first, from, to, pend counters) Window {
	dt := to.at.Sub(from.at).Seconds()
	if pend.at.After(to.at) {
		pend = to
	}
	if pend.at.Before(from.at) {
		pend = from // the producers had finished before this window: none of it is theirs
	}
	pdt := max(pend.at.Sub(from.at).Seconds(), 1e-9) // never 0: JSON has no NaN
	return Window{
		StartS: from.at.Sub(first.at).Seconds(), EndS: to.at.Sub(first.at).Seconds(),
		ProduceMBps:    float64(max(pend.bytes-from.bytes, 0)) / 1e6 / pdt,
		ProduceRecords: float64(max(pend.records-from.records, 0)) / pdt,
		ConsumeMBps:    float64(to.fbytes-from.fbytes) / 1e6 / dt,
		Latency:        percentiles(pend.lat.Since(from.lat)),
		E2E:            percentiles(to.e2e.Since(from.e2e)),
	}
}

// summarize fills the report's overall numbers from the measured phase: [first, pend] for
// the producers (pend: when they finished), [first, last] for consumers and CPU.
func (r *Report) summarize(first, pend, last counters, o Options) {
	psec := max(pend.at.Sub(first.at).Seconds(), 1e-9) // never 0: JSON has no NaN
	r.MeasuredS = psec
	r.Produce.Records = pend.records - first.records
	r.Produce.Bytes = pend.bytes - first.bytes
	r.Produce.RecordsPerSec = float64(r.Produce.Records) / psec
	r.Produce.MBps = float64(r.Produce.Bytes) / 1e6 / psec
	r.Produce.Latency = percentiles(pend.lat.Since(first.lat))
	r.Produce.SendLag = percentiles(pend.lag.Since(first.lag))
	sec := max(last.at.Sub(first.at).Seconds(), 1e-9)
	r.Consume.Records = last.fetchRecords - first.fetchRecords
	r.Consume.Bytes = last.fbytes - first.fbytes
	r.Consume.RecordsPerSec = float64(r.Consume.Records) / sec
	r.Consume.MBps = float64(r.Consume.Bytes) / 1e6 / sec
	r.E2E = percentiles(last.e2e.Since(first.e2e))

	gb := float64(r.Produce.Bytes+r.Consume.Bytes) / 1e9
	self := last.self - first.self
	r.Generator.Cores = self.Seconds() / sec
	if gb > 0 {
		r.Generator.CPUSecPerGB = self.Seconds() / gb
	}
	cpu := last.cpu.sub(first.cpu)
	all := cpu.busy.Seconds()
	r.MachineCPU.BusyCores = all / sec
	r.MachineCPU.Cores = r.Machine.Cores
	r.MachineCPU.StealCores = cpu.steal.Seconds() / sec
	r.MachineCPU.IowaitCores = cpu.iowait.Seconds() / sec
	other := all - self.Seconds()
	if len(o.BrokerPIDs) > 0 {
		b := (last.brokerCPU - first.brokerCPU).Seconds()
		r.Broker.CPUSeconds = b
		r.Broker.Cores = b / sec
		if gb > 0 {
			r.Broker.CPUSecPerGB = b / gb
		}
		other -= b
		var peak int64
		for _, pid := range o.BrokerPIDs {
			if _, p, err := procMem(pid); err == nil {
				peak += p
			}
		}
		r.Broker.PeakRSSMB = max(r.Broker.PeakRSSMB, float64(peak)/(1<<20))
	}
	r.MachineCPU.OtherCores = math.Max(other/sec, 0)
}

// percentiles reads a histogram in milliseconds.
func percentiles(h *loadgen.Histogram) Percentiles {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Percentiles{
		Count: h.Count(), Mean: ms(h.Mean()),
		P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), P9999: ms(h.Quantile(0.9999)), Max: ms(h.Max()),
	}
}

// DefaultLatencyBudget is the round trip a fixed-rate producer's in-flight window absorbs
// before the generator falls behind its schedule (windowFor; bench/doc.go says why 100 ms).
const DefaultLatencyBudget = 100 * time.Millisecond

// DefaultMaxSendLag bounds a fixed-rate run's send lag p99: past it the run is invalid.
const DefaultMaxSendLag = 10 * time.Millisecond

// maxWindow caps the in-flight window windowFor sizes: beyond it the requests held in flight
// (each a pre-encoded frame of the producer's) would outweigh what a budget buys.
const maxWindow = 1024

// windowFor sizes a fixed-rate producer's in-flight window from the rate and a latency
// budget: one producer sends a request every interval (its requests' bytes over its share of
// the rate), so round trips up to budget need budget/interval requests in flight (Little's
// law) for the schedule to hold. budget ≤ 0 keeps the workload's in_flight.
func windowFor(w Workload, budget time.Duration) (inFlight int, interval time.Duration) {
	if w.RateMBps <= 0 {
		return w.InFlight, 0
	}
	producers := float64(max(w.Producers, 1))
	partsPerConn := max(1, float64(w.Partitions*max(w.Topics, 1))/producers)
	reqBytes := partsPerConn * float64(w.BatchRecords) * float64(w.MessageSize)
	interval = time.Duration(reqBytes / (w.RateMBps * 1e6 / producers) * 1e9)
	if budget <= 0 || interval <= 0 {
		return w.InFlight, interval
	}
	return int(min(maxWindow, max(1, math.Ceil(float64(budget)/float64(interval))))), interval
}

// checkSchedule marks a fixed-rate run invalid when the generator fell behind its schedule by
// more than the bound (send lag p99) or did not offer the rate: its latencies then measure the
// generator's backlog as much as the broker.
func (r *Report) checkSchedule(w Workload) {
	r.Invalid = ""
	if w.RateMBps <= 0 || r.Produce.Latency.Count == 0 {
		return
	}
	bound := r.Generator.SendLagBoundMs
	if bound <= 0 {
		bound = float64(DefaultMaxSendLag) / 1e6
	}
	var why []string
	if lag := r.Produce.SendLag; lag.P99 > bound {
		why = append(why, fmt.Sprintf("the generator fell behind its schedule: send lag p99 %.1f ms (max %.1f ms) > bound %.0f ms, with %d requests in flight per producer, one every %.2f ms",
			lag.P99, lag.Max, bound, r.Generator.InFlight, r.Generator.RequestIntervalMs))
	}
	if got := r.Produce.MBps / w.RateMBps; got < 0.97 {
		why = append(why, fmt.Sprintf("the rate was not offered: %.1f of %.1f MB/s", r.Produce.MBps, w.RateMBps))
	}
	r.Invalid = strings.Join(why, "; ")
}

// windowFillMs is the round trip above which a fixed-rate producer's in-flight window fills:
// InFlight requests over the requests per second of one producer (Little's law).
func (r *Report) windowFillMs(w Workload) float64 {
	sec := time.Duration(w.Duration).Seconds()
	if r.Produce.Latency.Count == 0 || sec <= 0 {
		return 0
	}
	perProducer := float64(r.Produce.Latency.Count) / sec / float64(max(w.Producers, 1))
	return float64(w.InFlight) / perProducer * 1000
}

// conclude says what limited the run, plainly.
func (r *Report) conclude(w Workload) {
	busy := r.MachineCPU.BusyCores / float64(max(r.MachineCPU.Cores, 1))
	cpu := fmt.Sprintf("machine CPU %.0f%% busy (broker %.2f cores, generator %.2f, other processes %.2f, of %d)",
		busy*100, r.Broker.Cores, r.Generator.Cores, r.MachineCPU.OtherCores, r.MachineCPU.Cores)
	if len(r.Broker.PIDs) == 0 {
		cpu = fmt.Sprintf("machine CPU %.0f%% busy (generator %.2f cores, broker and others %.2f, of %d)",
			busy*100, r.Generator.Cores, r.MachineCPU.BusyCores-r.Generator.Cores, r.MachineCPU.Cores)
	}
	switch {
	case w.CatchUp():
		if busy > 0.9 {
			r.LimitedBy = "CPU: " + cpu
		} else {
			r.LimitedBy = "broker fetch path (" + cpu + ")"
		}
	case w.Transactional():
		if busy > 0.9 {
			r.LimitedBy = "CPU: " + cpu + "; broker and generator share the machine"
		} else {
			r.LimitedBy = fmt.Sprintf("commit round trips: each of %d producers runs one transaction at a time and waits for its produce acks (acks=all) and its EndTxn before the next (%s)", w.Producers, cpu)
		}
	case w.RateMBps > 0:
		got := r.Produce.MBps / w.RateMBps
		switch {
		case got >= 0.97 && r.Produce.SendLag.P99 > 10 && r.Produce.SendLag.P99 > r.Produce.Latency.P99/2:
			// The average rate was met, yet most of the tail is time requests waited in the
			// generator for a free in-flight slot: each slow patch of round trips filled the
			// window and the delay was charged to every request sent late after it.
			r.LimitedBy = fmt.Sprintf("in-flight window: the fixed rate of %.1f MB/s was met on average (%.1f MB/s), but %d producers × %d requests in flight fill whenever a round trip exceeds %.0f ms; send lag p99 %.0f ms of the produce p99 %.0f ms is waiting for a free slot (coordinated omission corrected), so the tail measures the broker's slow patches times the window's backlog; %s",
				w.RateMBps, r.Produce.MBps, w.Producers, w.InFlight, r.windowFillMs(w), r.Produce.SendLag.P99, r.Produce.Latency.P99, cpu)
		case got >= 0.97:
			r.LimitedBy = fmt.Sprintf("offered load: the fixed rate of %.1f MB/s was met (%.1f MB/s); latency is the result", w.RateMBps, r.Produce.MBps)
		case r.Produce.SendLag.P99 > 100:
			r.LimitedBy = fmt.Sprintf("broker: the fixed rate of %.1f MB/s was NOT met (%.1f MB/s): the in-flight window stayed full, so sends fell behind schedule (send lag p99 %.0f ms), charged as latency; %s", w.RateMBps, r.Produce.MBps, r.Produce.SendLag.P99, cpu)
		default:
			r.LimitedBy = fmt.Sprintf("the fixed rate of %.1f MB/s was NOT met (%.1f MB/s); %s", w.RateMBps, r.Produce.MBps, cpu)
		}
	default:
		ratio := 0.0
		if r.Generator.CeilingMBps > 0 {
			ratio = r.Produce.MBps / r.Generator.CeilingMBps
		}
		switch {
		case ratio >= 0.8:
			r.LimitedBy = fmt.Sprintf("generator: %.0f%% of its own ceiling against a sink (%.0f MB/s): the broker was NOT the limit; %s", ratio*100, r.Generator.CeilingMBps, cpu)
		case busy > 0.9:
			r.LimitedBy = "CPU: " + cpu + "; broker and generator share the machine"
		case w.ReplicationFactor > 1 && w.AcksValue() == -1:
			r.LimitedBy = fmt.Sprintf("broker (%s; not CPU-bound: waits such as fsync, replication to %d followers before acks=all, or the in-flight window)", cpu, w.ReplicationFactor-1)
		default:
			r.LimitedBy = "broker (" + cpu + "; not CPU-bound: waits such as fsync or the in-flight window)"
		}
	}
	if m := r.MachineCPU; m.Busy {
		r.Notes = append(r.Notes, fmt.Sprintf("BUSY machine: %s; load average %.1f at the start on %d cores", m.BusyReason, r.Machine.LoadAvg, r.Machine.Cores))
	}
	if m := r.MachineCPU; m.IowaitCores > 0.1 || m.StealCores > 0.01 {
		r.Notes = append(r.Notes, fmt.Sprintf("CPU time in iowait %.2f cores (idle CPUs waiting for the disk: fsync makes some), stolen by the hypervisor %.2f cores", m.IowaitCores, m.StealCores))
	}
	if r.Invalid != "" {
		r.Notes = append(r.Notes, "INVALID: "+r.Invalid)
	}
	sort.Strings(r.Notes)
}
