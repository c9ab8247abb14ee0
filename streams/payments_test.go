//go:build streams_long

package streams_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPaymentsKill9 (make streams-long) runs the payments example (exactly once) and
// kills it with SIGKILL four times while transfers flow; after a final restart each
// account's last balance is the model's, each account got exactly one balance update
// per transfer leg (no leg lost or applied twice, so never half a transfer), and the
// balances sum to zero.
func TestPaymentsKill9(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, out := p+"-transfers", p+"-balances"
	createTopic(t, in, 3)
	createTopic(t, out, 1)
	accounts := strings.Fields("ann bob cat dan eve fay")
	var (
		mu      sync.Mutex
		balance = map[string]int64{}
		legs    = map[string]int{}
		n       int
	)
	feed := func(cl *kgo.Client, rng *rand.Rand) {
		var rs []*kgo.Record
		mu.Lock()
		for range 5 {
			from := accounts[rng.IntN(len(accounts))]
			to := accounts[rng.IntN(len(accounts))]
			amount := 1 + rng.Int64N(100)
			balance[from] -= amount
			balance[to] += amount
			legs[from]++
			legs[to]++
			n++
			v, _ := json.Marshal(map[string]any{"from": from, "to": to, "amount": amount})
			rs = append(rs, &kgo.Record{Topic: in, Key: fmt.Appendf(nil, "t-%d", n), Value: v})
		}
		mu.Unlock()
		if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
			t.Errorf("produce transfers: %v", err)
		}
	}
	args := []string{"-brokers", strings.Join(brokers, ","), "-app", p, "-input", in, "-output", out,
		"-state-dir", filepath.Join(t.TempDir(), "state"), "-instance", "i1", "-commit-interval", "100ms"}
	proc := killLoopWith(t, feed, func() *proc { return startProc(t, "payments", args...) })

	mu.Lock()
	total := 0
	for _, l := range legs {
		total += l
	}
	mu.Unlock()
	updates := map[string][]int64{}
	for _, r := range consume(t, out, total) {
		var v int64
		fmt.Sscan(int64s(r.Value), &v)
		updates[string(r.Key)] = append(updates[string(r.Key)], v)
	}
	proc.term(t)
	mu.Lock()
	defer mu.Unlock()
	var sum int64
	for _, a := range accounts {
		u := updates[a]
		if len(u) != legs[a] {
			t.Errorf("account %s: %d balance updates, want one per leg: %d", a, len(u), legs[a])
		}
		if len(u) == 0 || u[len(u)-1] != balance[a] {
			t.Errorf("account %s: last balance %v, want %d", a, u[max(0, len(u)-1):], balance[a])
			continue
		}
		sum += u[len(u)-1]
	}
	if sum != 0 {
		t.Errorf("the balances sum to %d, not 0: money was made or lost", sum)
	}
	t.Logf("%d transfers over four kills", n)
}
