//go:build compat

package compat

// kafka-consumer-groups.sh equivalents against logd: the Java AdminClient (list, describe,
// lag from the committed and end offsets, reset to earliest, delete; Driver.java groupadmin)
// and Kafka's own ConsumerGroupCommand from the tools jar (scripts/kafka-tools.sh fetches it
// into tools/kafka/lib). A franz-go member (group_go_test.go) makes the group.

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// adminGroup makes a group whose single franz-go member has consumed and committed 50
// records in each of 6 partitions and is still running.
func adminGroup(s *S, name string) (*groupRun, *member, map[int32]int64) {
	s.Helper()
	g := newGroupRun(s, goGroupClient("franz-go"), name)
	g.produce(50, "a")
	first := g.endOffsets()
	m := g.start("A")
	g.waitSettled("the member joining", 60*time.Second, m)
	g.waitConsumed("the member consuming", first, true, 60*time.Second)
	return g, m, first
}

func linesWith(lines []string, prefix string) [][]string {
	var out [][]string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == prefix {
			out = append(out, f)
		}
	}
	return out
}

// checkLag expects "LAG p committed end lag" for every partition.
func checkLag(s *S, lines []string, committed, end int64) {
	s.Helper()
	rows := linesWith(lines, "LAG")
	if len(rows) != groupParts {
		s.Errorf("lag: %d partitions listed, want %d: %q", len(rows), groupParts, lines)
	}
	want := fmt.Sprintf("%d %d %d", committed, end, end-committed)
	for _, f := range rows {
		if len(f) != 5 || strings.Join(f[2:], " ") != want {
			s.Errorf("lag row %q, want committed/end/lag %s", strings.Join(f, " "), want)
		}
	}
}

// checkGroupGone expects the group to be absent from ListGroups.
func checkGroupGone(s *S, group string) {
	s.Helper()
	adm, _ := newAdmin(s, bootAddr)
	ls, err := adm.ListGroups(s.ctx)
	if err != nil {
		s.Fatalf("ListGroups: %v", err)
	}
	if _, ok := ls[group]; ok {
		s.Errorf("group %s still listed after delete", group)
	}
}

func testGroupAdminAPI(s *S) {
	if _, err := javaArgv(); err != nil {
		s.Fatalf("java not installed: %v", err)
	}
	g, m, first := adminGroup(s, "java-admin")
	ga := func(action string) []string {
		return javaClient.run(s, "", "groupadmin", action, g.group, g.topic)
	}
	state := func(lines []string) (string, string) { // from list: state, type
		for _, f := range linesWith(lines, "GROUP") {
			if len(f) == 4 && f[1] == g.group {
				return f[2], f[3]
			}
		}
		return "", ""
	}

	// Active: Stable, one member holding all partitions, no lag.
	if st, typ := state(ga("list")); !strings.EqualFold(st, "Stable") || !strings.EqualFold(typ, "Classic") {
		s.Errorf("list: group %s state %q type %q, want Stable Classic", g.group, st, typ)
	}
	d := ga("describe")
	want := []string{"DESCRIBED " + g.group + " Stable members=1", "MEMBER logd-compat-franz 0,1,2,3,4,5"}
	if !strings.EqualFold(strings.Join(d, "\n"), strings.Join(want, "\n")) {
		s.Errorf("describe of the active group: %q, want %q", d, want)
	}
	checkLag(s, ga("lag"), first[0], first[0])

	// Empty, with 10 records of lag per partition.
	g.stop(m)
	g.produce(10, "b")
	if st, _ := state(ga("list")); !strings.EqualFold(st, "Empty") {
		s.Errorf("list after the member left: state %q, want Empty", st)
	}
	d = ga("describe")
	if w := "DESCRIBED " + g.group + " Empty members=0"; len(d) != 1 || !strings.EqualFold(d[0], w) {
		s.Errorf("describe of the empty group: %q, want %q", d, w)
	}
	checkLag(s, ga("lag"), first[0], first[0]+10)

	// Reset to earliest, then delete.
	rows := linesWith(ga("reset"), "OFFSET")
	if len(rows) != groupParts {
		s.Errorf("reset: %d offsets listed afterwards, want %d", len(rows), groupParts)
	}
	for _, f := range rows {
		if len(f) != 3 || f[2] != "0" {
			s.Errorf("after reset to earliest: %q", strings.Join(f, " "))
		}
	}
	zero := map[int32]int64{}
	for p := int32(0); p < groupParts; p++ {
		zero[p] = 0
	}
	g.checkGroupOffsets(zero)
	del := ga("delete")
	if w := []string{"DELETED " + g.group, "GONE " + g.group}; strings.Join(del, "\n") != strings.Join(w, "\n") {
		s.Errorf("delete: %q, want %q", del, w)
	}
	checkGroupGone(s, g.group)
}

// consumerGroupCommand runs Kafka's kafka-consumer-groups.sh main class against logd and
// returns its stdout and stderr.
func consumerGroupCommand(s *S, args ...string) string {
	s.Helper()
	return kafkaTool(s, "kafka-consumer-groups", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", args...)
}

// kafkaTool runs one of Kafka's command-line tools (its main class, from the tools jar)
// against logd and returns its stdout and stderr; a run that fails or prints "Error:" fails
// the scenario.
func kafkaTool(s *S, name, mainClass string, args ...string) string {
	s.Helper()
	return kafkaToolAt(s, bootAddr, name, mainClass, args...)
}

// kafkaToolAt is kafkaTool against the broker at addr.
func kafkaToolAt(s *S, addr, name, mainClass string, args ...string) string {
	s.Helper()
	lib := filepath.Join(repoRoot, "tools", "kafka", "lib")
	if !fileExists(filepath.Join(lib, ".complete")) {
		s.Fatalf("tools/kafka/lib missing: run scripts/kafka-tools.sh fetch (scripts/compat-deps.sh does)")
	}
	argv := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", lib + "/*",
		mainClass, "--bootstrap-server", addr}, args...)
	cmd := exec.CommandContext(s.ctx, "java", argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.Fatalf("%s %s: %v; stdout: %s; stderr: %s", name, strings.Join(args, " "), err, lastLines(out.String(), 5), lastLines(errb.String(), 5))
	}
	all := out.String() + errb.String() // notes such as "has no active members" go to stderr
	if strings.Contains(all, "Error:") {
		s.Errorf("%s %s: %s", name, strings.Join(args, " "), lastLines(all, 5))
	}
	return all
}

// cgcRows returns the rows of a ConsumerGroupCommand table for group and topic, by column name.
func cgcRows(out, group, topic string) []map[string]string {
	var cols []string
	var rows []map[string]string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "GROUP" && f[1] == "TOPIC" {
			cols = f
			continue
		}
		if cols != nil && len(f) == len(cols) && f[0] == group && f[1] == topic {
			row := map[string]string{}
			for i, c := range cols {
				row[c] = f[i]
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func checkCGCDescribe(s *S, out, group, topic string, current, end int64, active bool) {
	s.Helper()
	rows := cgcRows(out, group, topic)
	if len(rows) != groupParts {
		s.Errorf("--describe: %d rows for %s, want %d; output: %s", len(rows), topic, groupParts, out)
		return
	}
	for _, r := range rows {
		if r["CURRENT-OFFSET"] != strconv.FormatInt(current, 10) || r["LOG-END-OFFSET"] != strconv.FormatInt(end, 10) || r["LAG"] != strconv.FormatInt(end-current, 10) {
			s.Errorf("--describe row %v, want current %d end %d lag %d", r, current, end, end-current)
		}
		if hasMember := r["CONSUMER-ID"] != "-" && r["CONSUMER-ID"] != ""; hasMember != active {
			s.Errorf("--describe row %v: consumer listed %v, want %v", r, hasMember, active)
		}
		if active && r["CLIENT-ID"] != "logd-compat-franz" {
			s.Errorf("--describe row %v: client id, want logd-compat-franz", r)
		}
	}
}

func testConsumerGroupCommand(s *S) {
	g, m, first := adminGroup(s, "kafka-cgc")
	checkCGCDescribe(s, consumerGroupCommand(s, "--describe", "--group", g.group), g.group, g.topic, first[0], first[0], true)
	g.stop(m)
	g.produce(10, "b")
	if out := consumerGroupCommand(s, "--list"); !strings.Contains("\n"+out+"\n", "\n"+g.group+"\n") {
		s.Errorf("--list does not list %s: %s", g.group, out)
	}
	out := consumerGroupCommand(s, "--describe", "--group", g.group)
	if !strings.Contains(out, "has no active members") {
		s.Errorf("--describe of the empty group does not say it has no active members: %s", out)
	}
	checkCGCDescribe(s, out, g.group, g.topic, first[0], first[0]+10, false)
	out = consumerGroupCommand(s, "--reset-offsets", "--group", g.group, "--topic", g.topic, "--to-earliest", "--execute")
	rows := cgcRows(out, g.group, g.topic)
	if len(rows) != groupParts {
		s.Errorf("--reset-offsets: %d rows, want %d: %s", len(rows), groupParts, out)
	}
	for _, r := range rows {
		if r["NEW-OFFSET"] != "0" {
			s.Errorf("--reset-offsets --to-earliest row %v, want NEW-OFFSET 0", r)
		}
	}
	zero := map[int32]int64{}
	for p := int32(0); p < groupParts; p++ {
		zero[p] = 0
	}
	g.checkGroupOffsets(zero)
	if out := consumerGroupCommand(s, "--delete", "--group", g.group); !strings.Contains(out, "successful") {
		s.Errorf("--delete: %s", out)
	}
	checkGroupGone(s, g.group)
}

// TestGroupAdmin: kafka-consumer-groups equivalents (go test -tags compat -run TestGroupAdmin ./compat).
func TestGroupAdmin(t *testing.T) {
	scenario(t, "java", "group-admin-api", 180*time.Second, testGroupAdminAPI)
	scenario(t, "java", "kafka-consumer-groups-tool", 180*time.Second, testConsumerGroupCommand)
}
