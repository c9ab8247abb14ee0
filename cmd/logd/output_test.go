package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// TestEveryClientVerbHasJSON: every verb that talks to a broker takes --output json.
func TestEveryClientVerbHasJSON(t *testing.T) {
	var walk func(c *cobra.Command)
	leaves := 0
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() {
			for _, s := range c.Commands() {
				walk(s)
			}
			return
		}
		leaves++
		if c.Flags().Lookup("output") == nil && c.InheritedFlags().Lookup("output") == nil {
			t.Errorf("%s has no --output flag", c.CommandPath())
		}
	}
	root := &cobra.Command{Use: "logd"}
	root.AddCommand(topicCommand(), produceCommand(), consumeCommand(), groupVerbCommand(), clusterCommand())
	walk(root)
	if leaves < 11 {
		t.Errorf("only %d client verbs found", leaves)
	}
}

// TestOutputJSON runs every client verb with --output json against `logd serve` and checks
// that stdout is JSON (one document, or one per line for consume) and stderr is empty.
func TestOutputJSON(t *testing.T) {
	bin := buildLogd(t)
	addr := startServe(t, bin)
	run := func(stdin string, a ...string) string {
		t.Helper()
		r := ok(t, bin, stdin, append(a, "--bootstrap", addr, "-o", "json")...)
		if r.stderr != "" {
			t.Errorf("%v -o json wrote to stderr: %q", a, r.stderr)
		}
		if !json.Valid([]byte(r.stdout)) {
			t.Errorf("%v -o json: not JSON: %q", a, r.stdout)
		}
		return r.stdout
	}
	run("", "topic", "create", "j", "--partitions", "2")
	run("", "topic", "create", "j2")
	run("", "topic", "list")
	run("", "topic", "describe", "j")
	run("", "topic", "alter-config", "j", "retention.ms=1000000")
	var p struct {
		Topic    string `json:"topic"`
		Produced int    `json:"produced"`
	}
	decode(t, run("a\nb\nc\n", "produce", "j", "--no-progress"), &p)
	if p.Topic != "j" || p.Produced != 3 {
		t.Errorf("produce -o json: %+v", p)
	}
	for _, group := range []string{"", "jg"} { // consume: one JSON record per line
		a := []string{"consume", "j", "--from-beginning", "-n", "3", "--bootstrap", addr, "-o", "json"}
		if group != "" {
			a = append(a, "--group", group)
		}
		r := ok(t, bin, "", a...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		for _, l := range lines {
			var jr jsonRecord
			decode(t, l, &jr)
		}
		if len(lines) != 3 || r.stderr != "" {
			t.Errorf("%v: %q, stderr %q", a, r.stdout, r.stderr)
		}
	}
	var ci clusterInfo // __consumer_offsets (made by the group above) apart, as topic list does
	decode(t, run("", "cluster", "info"), &ci)
	if ci.Topics != 2 || ci.Partitions != 3 || !slices.Equal(ci.InternalTopics, []string{"__consumer_offsets"}) {
		t.Errorf("cluster info -o json: %+v", ci)
	}
	run("", "group", "list")
	run("", "group", "describe", "jg")
	run("", "group", "reset-offsets", "jg", "--topic", "j", "--to-earliest")
	var del []deletedTopic
	decode(t, run("", "topic", "delete", "j", "j2"), &del)
	if len(del) != 2 || !del[0].Deleted || !del[1].Deleted {
		t.Errorf("topic delete j j2 -o json: %+v", del)
	}
}

// TestTopicDeleteMany deletes many topics in one command, and reports the ones it could not.
func TestTopicDeleteMany(t *testing.T) {
	bin := buildLogd(t)
	addr := startServe(t, bin)
	var names []string
	for i := range 40 {
		names = append(names, "tmp-"+strconv.Itoa(i))
		ok(t, bin, "", "topic", "create", names[i], "--bootstrap", addr)
	}
	r := ok(t, bin, "", append(append([]string{"topic", "delete"}, names...), "--bootstrap", addr)...)
	if strings.Count(r.stdout, "deleted topic tmp-") != 40 {
		t.Errorf("delete 40: %q", r.stdout)
	}
	var list []topicSummary
	decode(t, ok(t, bin, "", "topic", "list", "-o", "json", "--bootstrap", addr).stdout, &list)
	if len(list) != 0 {
		t.Errorf("left after deleting: %+v", list)
	}
	ok(t, bin, "", "topic", "create", "keep", "--bootstrap", addr)
	a := []string{"topic", "delete", "keep", "nope", "--bootstrap", addr}
	r = runLogd(t, bin, "", a...)
	oneLineError(t, r, 1, "could not delete 1 of 2 topics: nope (does not exist)", a)
	if r.stdout != "deleted topic keep\n" {
		t.Errorf("partial delete stdout %q", r.stdout)
	}
}

// openPTY returns a pseudo-terminal's controller and its terminal end.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(); term.Close() })
	return ctl, term
}

// produceSlowly runs `logd produce` with stderr on w, writing 10 lines, pausing past the
// progress interval, then 10 more.
func produceSlowly(t *testing.T, bin, addr string, pause time.Duration, stderr io.Writer) {
	t.Helper()
	cmd := exec.Command(bin, "produce", "p", "--bootstrap", addr)
	in, _ := cmd.StdinPipe()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if i == 10 {
			time.Sleep(pause)
		}
		fmt.Fprintf(in, "line %d\n", i)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestProduceProgress: a long `logd produce` shows progress on stderr: plain lines when
// piped, a line redrawn in place (then erased) on a terminal.
func TestProduceProgress(t *testing.T) {
	bin := buildLogd(t)
	addr := startServe(t, bin)
	ok(t, bin, "", "topic", "create", "p", "--bootstrap", addr)

	var piped bytes.Buffer
	produceSlowly(t, bin, addr, 2500*time.Millisecond, &piped)
	lines := strings.Split(strings.TrimSpace(piped.String()), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "produce p 10 records") || !strings.Contains(lines[0], "records/s") ||
		lines[len(lines)-1] != "produced 20 records" || strings.Contains(piped.String(), "\r") {
		t.Errorf("piped stderr: %q", piped.String())
	}

	ctl, term := openPTY(t)
	produceSlowly(t, bin, addr, 500*time.Millisecond, term)
	term.Close()
	var tty bytes.Buffer
	ctl.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.Copy(&tty, ctl)
	got := tty.String()
	if !strings.Contains(got, "\rproduce p 10 records") || !strings.HasSuffix(got, "\rproduced 20 records\r\n") {
		t.Errorf("terminal stderr: %q", got)
	}
}
