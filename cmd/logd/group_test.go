package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupUsageErrors needs no broker: bad group command lines exit 2 with one line.
func TestGroupUsageErrors(t *testing.T) {
	bin := buildLogd(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"group"}, "subcommand"},
		{[]string{"group", "describe"}, "missing argument"},
		{[]string{"group", "list", "extra"}, "unexpected argument"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t"}, "exactly one of --to-earliest"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"}, "exactly one of"},
		{[]string{"group", "reset-offsets", "g", "--to-earliest"}, "--topic"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t:x", "--to-earliest"}, "partition number"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"}, "--to-offset"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday"}, "--to-datetime"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--dry-run", "--execute"}, "--dry-run and --execute"},
		{[]string{"group", "list", "-o", "yaml"}, "--output"},
		{[]string{"consume", "t", "--group", "g", "--partition", "1"}, "--partition and --group"},
	} {
		oneLineError(t, runLogd(t, bin, "", c.args...), 2, c.want, c.args)
	}
	for _, a := range [][]string{{"group"}, {"group", "list"}, {"group", "describe"}, {"group", "reset-offsets"}} {
		r := runLogd(t, bin, "", append(a, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  logd group") || !strings.Contains(r.stdout, "--output") {
			t.Errorf("%v --help: exit %d, %q", a, r.code, r.stdout)
		}
	}
}

// groupAPIsMissing asks the broker at addr which consumer group APIs it lacks.
func groupAPIsMissing(t *testing.T, addr string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := append([]kmsg.Key{kmsg.ListGroups, kmsg.DescribeGroups}, consumeGroupAPIs...)
	missing, err := missingAPIs(ctx, cl, keys)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	return missing
}

type groupTestInfo struct {
	State    string        `json:"state"`
	Members  []groupMember `json:"members"`
	Offsets  []groupOffset `json:"offsets"`
	TotalLag int64         `json:"total_lag"`
}

// TestGroupVerbs drives list, describe, reset-offsets and consume --group through the binary
// against `logd serve`. Against a broker without a group coordinator it checks that every
// group verb refuses with one line naming the missing APIs, then skips the rest.
func TestGroupVerbs(t *testing.T) {
	bin := buildLogd(t)
	addr := startServe(t, bin)
	testGroupVerbs(t, bin, addr)
}

// testGroupVerbs runs the group verbs against the broker at addr, which must be empty.
func testGroupVerbs(t *testing.T, bin, addr string) {
	args := func(a ...string) []string { return append(a, "--bootstrap", addr) }

	if missing := groupAPIsMissing(t, addr); len(missing) > 0 {
		for _, a := range [][]string{
			{"group", "list"}, {"group", "describe", "g"},
			{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest"},
		} {
			r := runLogd(t, bin, "", args(a...)...)
			oneLineError(t, r, 1, "has no consumer group coordinator", a)
		}
		ok(t, bin, "", args("topic", "create", "t")...)
		r := runLogd(t, bin, "", args("consume", "t", "--group", "g")...)
		oneLineError(t, r, 1, "has no consumer group coordinator (it does not serve", nil)
		t.Skipf("logd does not serve %s yet (the consumer group coordinator is not in this tree): "+
			"checked only that the group verbs refuse with one line", strings.Join(missing, ", "))
	}

	ok(t, bin, "", args("topic", "create", "orders", "--partitions", "3")...)
	var in strings.Builder
	for i := range 30 {
		in.WriteString("k" + string(rune('a'+i%26)) + ":v\n")
	}
	ok(t, bin, in.String(), args("produce", "orders", "-K", ":")...)

	describe := func(g string) groupTestInfo {
		t.Helper()
		var gi groupTestInfo
		decode(t, ok(t, bin, "", args("group", "describe", g, "-o", "json")...).stdout, &gi)
		return gi
	}
	committed := func(gi groupTestInfo) (sum int64) {
		for _, o := range gi.Offsets {
			if o.Committed > 0 {
				sum += o.Committed
			}
		}
		return sum
	}

	// A group consumes 10 records and commits exactly what it printed.
	r := ok(t, bin, "", args("consume", "orders", "--group", "g1", "--from-beginning", "-n", "10", "-o", "json")...)
	if n := strings.Count(r.stdout, "\n"); n != 10 {
		t.Fatalf("consume --group -n 10 printed %d lines", n)
	}
	gi := describe("g1")
	if gi.State != "Empty" || len(gi.Members) != 0 || committed(gi) != 10 || gi.TotalLag != 20 {
		t.Fatalf("describe g1 after 10 of 30: %+v", gi)
	}
	// The next member of the group goes on where the first stopped (and, with
	// --from-beginning, at the start of partitions the first committed nothing for).
	ok(t, bin, "", args("consume", "orders", "--group", "g1", "--from-beginning", "-n", "20")...)
	if gi = describe("g1"); gi.TotalLag != 0 || committed(gi) != 30 {
		t.Fatalf("describe g1 after 30 of 30: %+v", gi)
	}
	var groups []groupSummary
	decode(t, ok(t, bin, "", args("group", "list", "-o", "json")...).stdout, &groups)
	if len(groups) != 1 || groups[0].Group != "g1" {
		t.Errorf("group list: %+v", groups)
	}
	if r := ok(t, bin, "", args("group", "list")...); !strings.Contains(r.stdout, "GROUP") || !strings.Contains(r.stdout, "g1") {
		t.Errorf("group list text: %q", r.stdout)
	}

	// A running member shows with its assignment; its group cannot be reset.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	member := exec.CommandContext(ctx, bin, args("consume", "orders", "--group", "g2", "--from-beginning")...)
	var mout bytes.Buffer
	member.Stdout = &mout
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the member to join and read everything (describe fails until the group exists).
	deadline := time.Now().Add(20 * time.Second)
	for gi = (groupTestInfo{}); (gi.State != "Stable" || committed(gi) != 30) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		if r := runLogd(t, bin, "", args("group", "describe", "g2", "-o", "json")...); r.code == 0 {
			decode(t, r.stdout, &gi)
		}
	}
	if len(gi.Members) != 1 || len(gi.Members[0].Assignments["orders"]) != 3 {
		t.Fatalf("describe g2 with one running member: %+v", gi)
	}
	if r := ok(t, bin, "", args("group", "describe", "g2")...); !strings.Contains(r.stdout, "orders[0,1,2]") || !strings.Contains(r.stdout, "LAG") {
		t.Errorf("describe text: %q", r.stdout)
	}
	oneLineError(t, runLogd(t, bin, "", args("group", "reset-offsets", "g2", "--topic", "orders", "--to-earliest", "--execute")...), 1, "stop its consumers", nil)
	member.Process.Signal(syscall.SIGTERM)
	if err := member.Wait(); err != nil || strings.Count(mout.String(), "\n") != 30 {
		t.Fatalf("group member: %v, printed %d lines", err, strings.Count(mout.String(), "\n"))
	}

	// reset-offsets: the plan changes nothing; --execute commits it.
	var plan resetPlan
	r = ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders", "--to-earliest", "-o", "json")...)
	decode(t, r.stdout, &plan)
	if plan.Executed || len(plan.Offsets) != 3 || plan.Offsets[0].New != 0 || plan.Offsets[0].Current <= 0 {
		t.Fatalf("dry run: %+v", plan)
	}
	if r := ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders", "--to-earliest")...); !strings.Contains(r.stderr, "dry run: nothing changed") {
		t.Fatalf("dry run, text: stderr %q", r.stderr)
	}
	if gi = describe("g1"); gi.TotalLag != 0 {
		t.Fatalf("dry run changed the offsets: %+v", gi)
	}
	decode(t, ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders", "--to-earliest", "--execute", "-o", "json")...).stdout, &plan)
	if gi = describe("g1"); !plan.Executed || gi.TotalLag != 30 || committed(gi) != 0 {
		t.Fatalf("after --to-earliest --execute: %+v, %+v", plan, gi)
	}
	ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders", "--to-latest", "--execute")...)
	if gi = describe("g1"); gi.TotalLag != 0 {
		t.Fatalf("after --to-latest: %+v", gi)
	}
	ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders:1", "--to-offset", "0", "--execute")...)
	if gi = describe("g1"); gi.TotalLag == 0 || len(gi.Offsets) != 3 {
		t.Fatalf("after --topic orders:1 --to-offset 0: %+v", gi)
	}
	for _, o := range gi.Offsets {
		if (o.Partition == 1) != (o.Committed == 0 && o.Lag == o.End) {
			t.Errorf("partition %d after resetting only partition 1: %+v", o.Partition, o)
		}
	}
	ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders", "--to-datetime", "2999-01-01T00:00:00Z", "--execute")...)
	if gi = describe("g1"); gi.TotalLag != 0 {
		t.Fatalf("after --to-datetime in the future: %+v", gi)
	}
	r = ok(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "orders", "--to-datetime", "2000-01-01", "--execute")...)
	if gi = describe("g1"); gi.TotalLag != 30 || !strings.Contains(r.stdout, "NEW") {
		t.Fatalf("after --to-datetime in the past: %+v\n%s", gi, r.stdout)
	}
	// The group reads everything again.
	r = ok(t, bin, "", args("consume", "orders", "--group", "g1", "-n", "30")...)
	if n := strings.Count(r.stdout, "\n"); n != 30 {
		t.Errorf("after the reset the group read %d records, want 30", n)
	}

	oneLineError(t, runLogd(t, bin, "", args("group", "describe", "nope")...), 1, "does not exist", nil)
	oneLineError(t, runLogd(t, bin, "", args("group", "reset-offsets", "g1", "--topic", "missing", "--to-earliest")...), 1, "does not exist", nil)
}

// TestGroupVerbsKafkaProtocol runs the same scenario against kfake, franz-go's in-process
// implementation of the Kafka protocol with a real group coordinator: the verbs speak plain
// Kafka, so they are checked even while logd's own coordinator is not there.
func TestGroupVerbsKafkaProtocol(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testGroupVerbs(t, buildLogd(t), c.ListenAddrs()[0])
}
