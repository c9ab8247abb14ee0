package metadata

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden scenario files in testdata/ with the actual output")

// TestScenarios runs the controller's decisions as golden files (testdata/*.txt): each case
// is a command line, "----", and the expected output (the command's result, then every
// partition that changed), separated by blank lines. Commands (epochs default to the current
// ones, so stale requests are written out explicitly):
//
//	register id=N [inc=S] [dirs=a,b] RegisterBroker (log directories named by a letter)
//	assign id=N topic=T p=N dir=a   AssignReplicasToDirs
//	dirs-offline id=N dirs=a,b      DirectoriesOffline
//	unfence id=N | fence id=N | shutdown id=N [epoch=E]
//	create topic=T (partitions=N rf=N | assign=1,2,3/2,3,1)
//	grow topic=T total=N            CreatePartitions
//	delete topic=T
//	config topic=T [unclean=true|false]
//	alter topic=T p=N isr=1,2 [broker=N] [leader-epoch=E] [partition-epoch=E]
//	elect topic=T p=N type=preferred|unclean
//	reassign topic=T p=N target=1,2 | reassign topic=T p=N cancel
//	state                           every broker and partition
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c := newCluster(t)
			var out strings.Builder
			for _, cs := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
				cmd, want, _ := strings.Cut(cs, "\n----\n")
				cmd = strings.TrimSuffix(cmd, "\n----")
				before := c.s.Clone()
				got := runScenarioCommand(t, c, cmd)
				if cmd != "state" {
					got += changedPartitions(before, c.s)
				}
				checkClusterInvariants(t, c.s)
				fmt.Fprintf(&out, "%s\n----\n%s\n\n", cmd, got)
				if !*rewrite && strings.TrimSpace(got) != strings.TrimSpace(want) {
					t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, cmd, got, want)
				}
			}
			if *rewrite {
				if err := os.WriteFile(file, []byte(strings.TrimSpace(out.String())+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func runScenarioCommand(t *testing.T, c *cluster, line string) string {
	f := strings.Fields(line)
	a := map[string]string{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		a[k] = v
	}
	num := func(k string, def int64) int64 {
		v, ok := a[k]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad %s=%q", line, k, v)
		}
		return n
	}
	ids := func(s string) []int32 {
		var out []int32
		for _, x := range strings.Split(s, ",") {
			if n, err := strconv.Atoi(x); err == nil {
				out = append(out, int32(n))
			}
		}
		return out
	}
	id := int32(num("id", 0))
	epoch := int64(0)
	if b, ok := c.s.Brokers[id]; ok {
		epoch = b.Epoch
	}
	epoch = num("epoch", epoch)
	topic := a["topic"]
	p := int32(num("p", 0))
	var cmd any
	switch f[0] {
	case "register":
		inc := a["inc"]
		if inc == "" {
			inc = "a"
		}
		cmd = &RegisterBroker{ID: id, Incarnation: inc, LogDirs: scenarioDirs(id, a["dirs"])}
	case "assign":
		as := &AssignReplicasToDirs{BrokerID: id, BrokerEpoch: epoch, Assignments: []DirAssignment{{Partition: p}}}
		if d := scenarioDirs(id, a["dir"]); d != nil {
			as.Assignments[0].Dir = d[0] // "dir=" alone: the zero (unassigned) id
		}
		if t, ok := c.s.Topics[topic]; ok {
			as.Assignments[0].Topic = t.ID
		}
		cmd = as
	case "dirs-offline":
		cmd = &DirectoriesOffline{BrokerID: id, BrokerEpoch: epoch, Dirs: scenarioDirs(id, a["dirs"])}
	case "unfence":
		cmd = &UnfenceBroker{ID: id, Epoch: epoch}
	case "fence":
		cmd = &FenceBroker{ID: id, Epoch: epoch}
	case "shutdown":
		cmd = &ControlledShutdown{ID: id, Epoch: epoch}
	case "create":
		ct := &CreateTopic{Name: topic, ID: TopicID{byte(len(c.s.Topics) + 1), 7}, Partitions: int32(num("partitions", 0)), ReplicationFactor: int16(num("rf", 0))}
		if as, ok := a["assign"]; ok {
			for _, part := range strings.Split(as, "/") {
				ct.Assignment = append(ct.Assignment, ids(part))
			}
		}
		cmd = ct
	case "grow":
		cmd = &CreatePartitions{Name: topic, Total: int32(num("total", 0))}
	case "delete":
		cmd = &DeleteTopic{Name: topic}
	case "config":
		cfg := map[string]string{}
		if v, ok := a["unclean"]; ok {
			cfg["unclean.leader.election.enable"] = v
		}
		cmd = &AlterConfigs{Name: topic, Configs: cfg}
	case "alter":
		ap := &AlterPartition{Topic: topic, Partition: p, ISR: ids(a["isr"])}
		if _, pa, err := c.s.partition(topic, p); err == nil {
			ap.BrokerID, ap.LeaderEpoch, ap.PartitionEpoch = pa.Leader, pa.LeaderEpoch, pa.PartitionEpoch
		}
		ap.BrokerID = int32(num("broker", int64(ap.BrokerID)))
		if b, ok := c.s.Brokers[ap.BrokerID]; ok {
			ap.BrokerEpoch = b.Epoch
		}
		ap.LeaderEpoch = int32(num("leader-epoch", int64(ap.LeaderEpoch)))
		ap.PartitionEpoch = int32(num("partition-epoch", int64(ap.PartitionEpoch)))
		cmd = ap
	case "elect":
		typ := ElectPreferred
		if a["type"] == "unclean" {
			typ = ElectUnclean
		}
		cmd = &ElectLeaders{Type: typ, Topic: topic, Partition: p}
	case "reassign":
		r := &Reassign{Topic: topic, Partition: p}
		if _, cancel := a["cancel"]; !cancel {
			r.Target = ids(a["target"])
		}
		cmd = r
	case "state":
		return dumpState(c.s)
	default:
		t.Fatalf("unknown command %q", line)
	}
	res, err := c.apply(cmd)
	if err != nil {
		return "error: " + err.Error()
	}
	switch r := res.(type) {
	case *BrokerRegistration:
		return fmt.Sprintf("broker %d epoch %d fenced=%v", r.ID, r.Epoch, r.Fenced)
	case int:
		if _, ok := cmd.(*DirectoriesOffline); ok {
			return fmt.Sprintf("ok: %d partitions lost the replica", r)
		}
		return fmt.Sprintf("ok: %d partitions left leaderless", r)
	case []error:
		for _, e := range r {
			if e != nil {
				return "refused: " + e.Error()
			}
		}
	}
	return "ok"
}

func fmtPartition(topic string, i int, p *PartitionAssignment) string {
	s := fmt.Sprintf("%s-%d: replicas=%v isr=%v leader=%d leader-epoch=%d partition-epoch=%d", topic, i, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	if len(p.Adding)+len(p.Removing) > 0 {
		s += fmt.Sprintf(" adding=%v removing=%v", p.Adding, p.Removing)
	}
	if len(p.Directories) > 0 {
		var ds []string
		for _, r := range p.Replicas {
			if d, ok := p.Directories[r]; ok {
				ds = append(ds, fmt.Sprintf("%d:%s", r, scenarioDirName(d)))
			}
		}
		s += " dirs=" + strings.Join(ds, ",")
	}
	return s
}

// scenarioDirs turns broker id's directory letters ("a,b") into directory ids.
func scenarioDirs(id int32, letters string) []TopicID {
	var out []TopicID
	for _, l := range strings.Split(letters, ",") {
		if l != "" {
			out = append(out, TopicID{byte(id), l[0], 0xd1})
		}
	}
	return out
}

// scenarioDirName is a scenario directory id's letter ("-" for the zero id).
func scenarioDirName(d TopicID) string {
	if d == (TopicID{}) {
		return "-"
	}
	return string(d[1])
}

// changedPartitions lists the partitions that differ between two states.
func changedPartitions(before, after *ClusterState) string {
	var lines []string
	for _, t := range after.sortedTopics() {
		for i, p := range t.Partitions {
			now := fmtPartition(t.Name, i, p)
			if bt, ok := before.Topics[t.Name]; ok && i < len(bt.Partitions) && fmtPartition(t.Name, i, bt.Partitions[i]) == now {
				continue
			}
			lines = append(lines, now)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n" + strings.Join(lines, "\n")
}

func dumpState(s *ClusterState) string {
	var lines []string
	var ids []int
	for id := range s.Brokers {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for _, id := range ids {
		b := s.Brokers[int32(id)]
		line := fmt.Sprintf("broker %d epoch=%d fenced=%v shutting-down=%v", b.ID, b.Epoch, b.Fenced, b.ShuttingDown)
		if len(b.LogDirs)+len(b.OfflineDirs) > 0 {
			names := func(ds []TopicID) string {
				var n []string
				for _, d := range ds {
					n = append(n, scenarioDirName(d))
				}
				return strings.Join(n, ",")
			}
			line += fmt.Sprintf(" dirs=%s offline=%s", names(b.LogDirs), names(b.OfflineDirs))
		}
		lines = append(lines, line)
	}
	for _, t := range s.sortedTopics() {
		for i, p := range t.Partitions {
			lines = append(lines, fmtPartition(t.Name, i, p))
		}
	}
	return strings.Join(lines, "\n")
}
