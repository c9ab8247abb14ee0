package streams_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFraudExample runs the payments fraud check (streams/examples/fraud) over random
// payments of six accounts, two of them without a limit, across two partitions and
// five one-minute windows, and compares its alerts with a model's: per account and
// minute, one alert when the running sum first passes the limit. The limits are
// loaded (their changelog written) before the payments flow, so every payment meets
// its limit.
func TestFraudExample(t *testing.T) {
	t.Parallel()
	p := names(t)
	payments, limits, alerts := p+"-payments", p+"-limits", p+"-alerts"
	createTopic(t, payments, 2)
	createTopic(t, limits, 2, "cleanup.policy", "compact")
	createTopic(t, alerts, 1)
	const base = 28333334 * 60000 // a minute boundary
	rng := rand.New(rand.NewPCG(3, 4))
	limit := map[string]int64{}
	var lrecs []rec
	for _, acct := range []string{"ann", "bob", "cat", "dan"} {
		limit[acct] = 200 + 100*rng.Int64N(4)
		lrecs = append(lrecs, rec{Key: acct, Value: string(binary.BigEndian.AppendUint64(nil, uint64(limit[acct]))), TS: base})
	}
	produce(t, limits, lrecs...)
	proc := startProc(t, "fraud", "-brokers", strings.Join(brokers, ","), "-app", p, "-payments", payments, "-limits", limits,
		"-alerts", alerts, "-state-dir", t.TempDir(), "-commit-interval", "200ms")
	if n := len(consume(t, p+"-limits-changelog", len(lrecs))); n != len(lrecs) {
		t.Fatalf("the limits changelog has %d records, want %d", n, len(lrecs))
	}

	accounts := []string{"ann", "bob", "cat", "dan", "eve", "fay"}
	type win struct {
		acct  string
		start int64
	}
	sums, alerted := map[win]int64{}, map[win]bool{}
	var want []string
	cl := client(t)
	var rs []*kgo.Record
	for i := range 300 {
		acct := accounts[rng.IntN(len(accounts))]
		amount := 1 + rng.Int64N(60)
		ts := base + int64(i)*1000 // five minutes, in order
		w := win{acct, ts - ts%60000}
		sums[w] += amount
		if l, ok := limit[acct]; ok && sums[w] > l && !alerted[w] {
			alerted[w] = true
			want = append(want, fmt.Sprintf("%s@%d spend=%d limit=%d", acct, (w.start-base)/60000, sums[w], l))
		}
		v, _ := json.Marshal(map[string]int64{"amount": amount})
		rs = append(rs, &kgo.Record{Topic: payments, Key: []byte(acct), Value: v, Timestamp: time.UnixMilli(ts)})
	}
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	if len(want) < 5 {
		t.Fatalf("the model expects only %d alerts; the data is too thin to test anything", len(want))
	}
	var got []string
	for _, r := range consume(t, alerts, len(want)) {
		var a struct {
			Account string `json:"account"`
			Start   int64  `json:"start"`
			End     int64  `json:"end"`
			Spend   int64  `json:"spend"`
			Limit   int64  `json:"limit"`
		}
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("alert %q: %v", r.Value, err)
		}
		if string(r.Key) != a.Account || a.End-a.Start != 60000 {
			t.Errorf("alert key %q value %s", r.Key, r.Value)
		}
		got = append(got, fmt.Sprintf("%s@%d spend=%d limit=%d", a.Account, (a.Start-base)/60000, a.Spend, a.Limit))
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alerts:\n got  %v\n want %v", got, want)
	}
	proc.term(t)
}
