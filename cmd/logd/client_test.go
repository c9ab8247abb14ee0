package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServe runs `logd serve` on a free port and returns its address; the broker is
// stopped with SIGTERM when the test ends.
func startServe(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				ready <- sc.Text()
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	select {
	case line := <-ready:
		m := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no listen= in ready line: %s", line)
		}
		return m[1]
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no ready line from logd serve")
	}
	return ""
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// runLogd runs the binary with stdin and returns its output and exit code.
func runLogd(t *testing.T, bin, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return r
}

// ok runs a command that must succeed.
func ok(t *testing.T, bin, stdin string, args ...string) result {
	t.Helper()
	r := runLogd(t, bin, stdin, args...)
	if r.code != 0 {
		t.Fatalf("logd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad json %q: %v", s, err)
	}
}

// oneLineError checks a failure: the wanted exit code and exactly one "logd: ..." line
// on stderr containing want.
func oneLineError(t *testing.T, r result, code int, want string, args []string) {
	t.Helper()
	msg := strings.TrimRight(r.stderr, "\n")
	if r.code != code || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "logd: ") || !strings.Contains(msg, want) {
		t.Errorf("%v: exit %d, stderr %q; want exit %d and one line naming %q", args, r.code, r.stderr, code, want)
	}
}

func TestClientVerbs(t *testing.T) {
	bin := buildLogd(t)
	addr := startServe(t, bin)
	B := []string{"--bootstrap", addr}
	args := func(a ...string) []string { return append(a, B...) }

	// topic create / list
	var created struct {
		Topic             string `json:"topic"`
		Partitions        int    `json:"partitions"`
		ReplicationFactor int    `json:"replication_factor"`
	}
	decode(t, ok(t, bin, "", args("topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=86400000", "-o", "json")...).stdout, &created)
	if created.Topic != "orders" || created.Partitions != 3 || created.ReplicationFactor != 1 {
		t.Fatalf("create: %+v", created)
	}
	if r := ok(t, bin, "", args("topic", "create", "other")...); !strings.Contains(r.stdout, "created topic other") {
		t.Errorf("create text: %q", r.stdout)
	}
	oneLineError(t, runLogd(t, bin, "", args("topic", "create", "rf3", "-r", "3")...), 1,
		"invalid replication factor: 3, with 1 eligible brokers: each replica needs its own broker; start more", nil)
	oneLineError(t, runLogd(t, bin, "", args("topic", "create", "orders")...), 1, "already exists", nil)
	var list []topicSummary
	decode(t, ok(t, bin, "", args("topic", "list", "--output", "json")...).stdout, &list)
	if len(list) != 2 || list[0].Name != "orders" || list[0].Partitions != 3 || list[1].Name != "other" {
		t.Fatalf("list: %+v", list)
	}
	if r := ok(t, bin, "", args("topic", "list")...); !strings.Contains(r.stdout, "orders") || !strings.Contains(r.stdout, "NAME") {
		t.Errorf("list text: %q", r.stdout)
	}

	// produce -> consume round trip with keys and headers
	r := ok(t, bin, "k1:v1\nk2:v:2\nk3:v3\nno key here\n", args("produce", "orders", "--key-separator", ":",
		"--header", "src=test", "--header", "trace=a=b", "--acks", "all", "--compression", "gzip")...)
	if r.stdout != "" || strings.TrimSpace(r.stderr) != "logd: line 4 has no key separator \":\": sent with a null key (the whole line is the value)\nproduced 4 records" {
		t.Fatalf("produce: stdout %q stderr %q", r.stdout, r.stderr)
	}
	ok(t, bin, "p:one\n", args("produce", "orders", "-K", ":", "--partition", "2", "--acks", "1", "--compression", "zstd")...)
	r = ok(t, bin, "", args("consume", "orders", "--from-beginning", "-n", "5", "--format", "json")...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("consume json: %d lines: %q", len(lines), r.stdout)
	}
	got := map[string]jsonRecord{}
	for _, l := range lines {
		var jr jsonRecord
		decode(t, l, &jr)
		k := "<nil>"
		if jr.Key != nil {
			k = *jr.Key
		}
		got[k] = jr
	}
	for k, v := range map[string]string{"k1": "v1", "k2": "v:2", "k3": "v3", "<nil>": "no key here", "p": "one"} {
		if got[k].Value != v || got[k].Topic != "orders" {
			t.Errorf("consumed %s=%+v; want value %q", k, got[k], v)
		}
	}
	if h := got["k1"].Headers; len(h) != 2 || h[0] != (jsonHeader{"src", "test"}) || h[1] != (jsonHeader{"trace", "a=b"}) {
		t.Errorf("headers: %+v", h)
	}
	if got["p"].Partition != 2 || len(got["p"].Headers) != 0 {
		t.Errorf("--partition 2 record: %+v", got["p"])
	}
	r = ok(t, bin, "", args("consume", "orders", "--from-beginning", "-n", "5", "--format", `%k\t%v\n`)...)
	tl := strings.Split(strings.TrimSpace(r.stdout), "\n")
	sort.Strings(tl)
	if strings.Join(tl, "|") != "\tno key here|k1\tv1|k2\tv:2|k3\tv3|p\tone" {
		t.Errorf("consume --format: %q", r.stdout)
	}
	r = ok(t, bin, "", args("consume", "orders", "--from-beginning", "-n", "1", "--partition", "2", "-o", "json")...)
	var one jsonRecord
	decode(t, r.stdout, &one)
	if one.Partition != 2 || one.Offset != 0 {
		t.Errorf("consume --partition 2: %q", r.stdout)
	}

	// consume from the end sees only new records
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	cons := exec.CommandContext(cctx, bin, args("consume", "orders", "-n", "1")...)
	var cout bytes.Buffer
	cons.Stdout = &cout
	if err := cons.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cons.Wait() }()
	var cerr error
produce:
	for {
		ok(t, bin, "late\n", args("produce", "orders")...)
		select {
		case cerr = <-exited:
			break produce
		case <-time.After(300 * time.Millisecond):
		}
	}
	if cerr != nil || cout.String() != "late\n" {
		t.Errorf("consume from end: %v, output %q", cerr, cout.String())
	}

	// "1 record"; -n more than there are: --idle-timeout stops it with what there was.
	if r = ok(t, bin, "x\n", args("produce", "other")...); strings.TrimSpace(r.stderr) != "produced 1 record" {
		t.Errorf("produce one: stderr %q", r.stderr)
	}
	if r = ok(t, bin, "", args("consume", "other", "--from-beginning", "-n", "100", "--idle-timeout", "1s")...); r.stdout != "x\n" {
		t.Errorf("consume --idle-timeout: %q, want the one record", r.stdout)
	}

	// describe, alter-config
	var info topicInfo
	decode(t, ok(t, bin, "", args("topic", "describe", "orders", "-o", "json")...).stdout, &info)
	var total int64
	for i, p := range info.Partitions {
		if p.Partition != int32(i) || p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.StartOffset != 0 {
			t.Errorf("partition %+v", p)
		}
		total += p.EndOffset - p.StartOffset
	}
	if info.Name != "orders" || len(info.Partitions) != 3 || total < 6 || info.Configs["retention.ms"] != "86400000" {
		t.Errorf("describe: %+v", info)
	}
	if r := ok(t, bin, "", args("topic", "alter-config", "orders", "retention.ms=3600000")...); !strings.Contains(r.stdout, "altered") {
		t.Errorf("alter-config: %q", r.stdout)
	}
	r = ok(t, bin, "", args("topic", "describe", "orders")...)
	for _, want := range []string{"PARTITION", "LEADER", "ISR", "retention.ms=3600000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe text lacks %q: %s", want, r.stdout)
		}
	}
	oneLineError(t, runLogd(t, bin, "", args("topic", "alter-config", "orders", "cleanup.policy=bogus")...), 1, "cleanup.policy", nil)
	oneLineError(t, runLogd(t, bin, "", args("topic", "describe", "missing")...), 1, "does not exist", nil)

	// cluster info
	var ci clusterInfo
	decode(t, ok(t, bin, "", args("cluster", "info", "--output", "json")...).stdout, &ci)
	if ci.ClusterID == "" || len(ci.Brokers) != 1 || ci.Brokers[0].NodeID != ci.Controller ||
		net.JoinHostPort(ci.Brokers[0].Host, strconv.Itoa(int(ci.Brokers[0].Port))) != addr || ci.Topics != 2 || ci.Partitions != 4 {
		t.Errorf("cluster info: %+v", ci)
	}
	if r := ok(t, bin, "", args("cluster", "info")...); !strings.Contains(r.stdout, "cluster id: "+ci.ClusterID) {
		t.Errorf("cluster info text: %q", r.stdout)
	}

	// delete
	if r := ok(t, bin, "", args("topic", "delete", "other", "-o", "json")...); !strings.Contains(r.stdout, `"deleted": true`) {
		t.Errorf("delete json: %q", r.stdout)
	}
	list = nil
	decode(t, ok(t, bin, "", args("topic", "list", "-o", "json")...).stdout, &list)
	if len(list) != 1 || list[0].Name != "orders" {
		t.Errorf("list after delete: %+v", list)
	}
	oneLineError(t, runLogd(t, bin, "", args("topic", "delete", "other")...), 1, "does not exist", nil)

}

// TestClientErrors needs no broker: bad arguments exit 2, an unreachable broker exits 1
// quickly, each with one line; every verb has --help with an example.
func TestClientErrors(t *testing.T) {
	bin := buildLogd(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create", "t", "--bogus"}, "unknown flag"},
		{[]string{"produce", "t", "--bogus"}, "unknown flag"},
		{[]string{"topic", "create"}, "missing argument"},
		{[]string{"topic", "describe"}, "missing argument"},
		{[]string{"topic", "delete"}, "missing argument"},
		{[]string{"produce"}, "missing argument"},
		{[]string{"consume"}, "missing argument"},
		{[]string{"topic", "create", "t", "--config", "retention.ms"}, "--config"},
		{[]string{"topic", "alter-config", "t", "nokv"}, "KEY=VALUE"},
		{[]string{"topic", "alter-config", "t"}, "missing argument"},
		{[]string{"topic", "create", "t", "--partitions", "0"}, "--partitions"},
		{[]string{"produce", "t", "--acks", "2"}, "--acks"},
		{[]string{"produce", "t", "--compression", "brotli"}, "--compression"},
		{[]string{"produce", "t", "--header", "nokv"}, "--header"},
		{[]string{"consume", "t", "--format", "%x"}, "--format"},
		{[]string{"consume", "t", "-n", "-1"}, "-n"},
		{[]string{"topic", "list", "--output", "yaml"}, "--output"},
		{[]string{"topic", "list", "--bootstrap", "nonsense"}, "--bootstrap"},
		{[]string{"topic", "list", "--timeout", "0s"}, "--timeout"},
		{[]string{"topic"}, "subcommand"},
		{[]string{"topic", "frobnicate"}, "unknown command"},
		{[]string{"cluster", "info", "extra"}, "unexpected argument"},
		{[]string{"consume", "t", "--bogus"}, "unknown flag: --bogus (see `logd consume --help`)"},
		{[]string{"frobnicate"}, "unknown command \"frobnicate\" for \"logd\" (see `logd --help`)"},
		{[]string{"serv"}, "(did you mean serve? see `logd --help`)"},
		{[]string{"topic", "list", "--bootstrap", "127.0.0.1:notaport"}, "port \"notaport\" is not a number"},
	} {
		oneLineError(t, runLogd(t, bin, "", c.args...), 2, c.want, c.args)
	}

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, a := range [][]string{
		{"topic", "list"}, {"topic", "create", "t"}, {"topic", "describe", "t"}, {"topic", "delete", "t"},
		{"topic", "alter-config", "t", "retention.ms=1"}, {"produce", "t"}, {"consume", "t"}, {"cluster", "info"},
	} {
		a = append(a, "--bootstrap", dead, "--timeout", "3s")
		r := runLogd(t, bin, "x\n", a...)
		oneLineError(t, r, 1, "cannot reach "+dead, a)
		if !strings.Contains(r.stderr, "--bootstrap") || r.took > 5*time.Second {
			t.Errorf("%v: took %v, stderr %q; want a hint naming --bootstrap within the timeout", a, r.took, r.stderr)
		}
	}

	for _, a := range [][]string{
		{"topic"}, {"topic", "create"}, {"topic", "list"}, {"topic", "describe"}, {"topic", "delete"},
		{"topic", "alter-config"}, {"produce"}, {"consume"}, {"cluster"}, {"cluster", "info"},
	} {
		r := runLogd(t, bin, "", append(a, "--help")...)
		if r.code != 0 || !regexp.MustCompile(`Examples:\n  .*logd `).MatchString(r.stdout) || !strings.Contains(r.stdout, "--bootstrap") {
			t.Errorf("%v --help: exit %d, %q", a, r.code, r.stdout)
		}
	}
}
