//go:build compat

package compat

// Apache Kafka Connect's distributed worker (connect-runtime 4.3.1 with the FileStream connectors
// and the JSON converter, resolved by scripts/compat-deps.sh into compat/connect/target) run
// unchanged against the shared logd: org.apache.kafka.connect.cli.ConnectDistributed with a
// worker.properties written here. The worker keeps its state in three compact-only topics (it
// refuses to start on any other cleanup.policy), forms a group of protocol type "connect" and is
// driven over its REST API. The scenarios are recorded under the "java" client.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// connectCluster is one Connect group: its id, internal topics and the properties every
// worker in it shares.
type connectCluster struct {
	group, configs, offsets, status string
	src, sink                       string   // the FileStream connectors' names
	extra                           []string // more worker properties
	dir                             string   // worker.properties files and the connectors' files
}

// connectWorker is one running ConnectDistributed JVM.
type connectWorker struct {
	port int
	url  string // http://127.0.0.1:<port>
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // the JVM's exit, once done is closed
}

// connectClasspath reads the classpath scripts/compat-deps.sh resolved for compat/connect.
func connectClasspath() (string, error) {
	p := filepath.Join(repoRoot, "compat", "connect", "target", "classpath.txt")
	b, err := os.ReadFile(p)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return "", fmt.Errorf("%s missing or empty: run scripts/compat-deps.sh", p)
	}
	return string(bytes.TrimSpace(b)), nil
}

// newConnectCluster names a group and its internal topics after tag.
func newConnectCluster(s *S, tag string) *connectCluster {
	dir, err := os.MkdirTemp(tmpDir, "connect-"+tag+"-")
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	// The temporary directory's random suffix keeps the names fresh on a reused broker
	// (COMPAT_BROKER).
	group := filepath.Base(dir)
	return &connectCluster{
		group:   group,
		configs: group + "-configs",
		offsets: group + "-offsets",
		status:  group + "-status",
		src:     group + "-src",
		sink:    group + "-sink",
		dir:     dir,
	}
}

// properties is a worker.properties for one worker of the cluster listening on port.
// scheduled.rebalance.max.delay.ms is lowered from 5 minutes so that the work of a departed
// worker is handed to the others within the test's bounds.
func (c *connectCluster) properties(port int) string {
	return strings.Join(append([]string{
		"bootstrap.servers=" + bootAddr,
		"group.id=" + c.group,
		"config.storage.topic=" + c.configs,
		"offset.storage.topic=" + c.offsets,
		"status.storage.topic=" + c.status,
		"config.storage.replication.factor=1",
		"offset.storage.replication.factor=1",
		"status.storage.replication.factor=1",
		"offset.storage.partitions=3",
		"status.storage.partitions=2",
		"key.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable=false",
		"value.converter.schemas.enable=false",
		fmt.Sprintf("listeners=http://127.0.0.1:%d", port),
		"rest.advertised.host.name=127.0.0.1",
		"plugin.discovery=service_load",
		"offset.flush.interval.ms=500",
		"scheduled.rebalance.max.delay.ms=3000",
	}, c.extra...), "\n") + "\n"
}

// start runs a worker of the cluster on port (a free one if 0) and waits for its REST API.
func (c *connectCluster) start(s *S, name string, port int) *connectWorker {
	s.Helper()
	cp, err := connectClasspath()
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			s.Fatalf("setup: %v", err)
		}
	}
	props := filepath.Join(c.dir, name+".properties")
	if err := os.WriteFile(props, []byte(c.properties(port)), 0o644); err != nil {
		s.Fatalf("setup: %v", err)
	}
	logDir := filepath.Join(repoRoot, "compat", ".logs")
	os.MkdirAll(logDir, 0o755)
	lf, err := os.OpenFile(filepath.Join(logDir, "connect-"+name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	// A small heap and the client compiler: two shared cores start the JVM sooner this way.
	cmd := exec.Command("java", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.showDateTime=true", "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
		"-cp", cp, "org.apache.kafka.connect.cli.ConnectDistributed", props)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		s.Fatalf("setup: starting the Connect worker: %v", err)
	}
	w := &connectWorker{port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: lf, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		lf.Close()
		close(w.done)
	}()
	s.Cleanup(func() { w.stop() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body, err := w.call("GET", "/", nil)
		if err == nil && code == http.StatusOK {
			var root struct{ Version, Kafka_cluster_id string }
			if json.Unmarshal(body, &root) == nil && root.Version != "" && root.Kafka_cluster_id != "" {
				return w
			}
		}
		select {
		case <-w.done:
			s.Fatalf("Connect worker %s exited before its REST API answered: %v (log: %s)", name, w.err, lf.Name())
		case <-s.ctx.Done():
			s.Fatalf("Connect worker %s: REST API not up before the scenario deadline (log: %s)", name, lf.Name())
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Fatalf("Connect worker %s: GET / not answered within 90s: %d %s %v (log: %s)", name, code, body, err, lf.Name())
		}
	}
}

// stop sends SIGTERM and waits up to 60s for the JVM to exit (then kills it); it is a no-op
// for a worker that already exited. It reports whether the exit was in time.
func (w *connectWorker) stop() bool {
	select {
	case <-w.done:
		return true
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	inTime := true
	select {
	case <-w.done:
	case <-time.After(60 * time.Second):
		inTime = false
		w.cmd.Process.Kill()
		<-w.done
	}
	return inTime
}

var restClient = &http.Client{Timeout: 15 * time.Second}

// call sends one REST request with an optional JSON body and returns the status and body.
func (w *connectWorker) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := restClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must sends a REST request and fails the scenario unless the status is want. A 409 (the
// group is rebalancing) is retried until the scenario's deadline, as Connect's docs advise.
func (w *connectWorker) must(s *S, method, path string, body any, want int) []byte {
	s.Helper()
	for {
		code, b, err := w.call(method, path, body)
		if err == nil && code == want {
			return b
		}
		if err != nil || code != http.StatusConflict || s.ctx.Err() != nil {
			s.Fatalf("%s %s%s: want %d, got %d %s %v (log: %s)", method, w.url, path, want, code, b, err, w.log.Name())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// connectorStatus is GET /connectors/{c}/status.
type connectorStatus struct {
	Name      string
	Connector struct{ State, Worker_id string }
	Tasks     []struct {
		ID                      int
		State, Worker_id, Trace string
	}
}

// status reads a connector's status; ok is false while the worker does not know it yet.
func (w *connectWorker) status(name string) (connectorStatus, bool) {
	var st connectorStatus
	code, b, err := w.call("GET", "/connectors/"+name+"/status", nil)
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

// waitState waits until the connector and all its (at least one) tasks are in state, and
// returns that status.
func (w *connectWorker) waitState(s *S, name, state string, within time.Duration) connectorStatus {
	s.Helper()
	var st connectorStatus
	var ok bool
	waitUntil(s, within, func() (bool, string) {
		st, ok = w.status(name)
		if !ok || st.Connector.State != state || len(st.Tasks) == 0 {
			return false, fmt.Sprintf("connector %s not %s: %+v", name, state, st)
		}
		for _, t := range st.Tasks {
			if t.State != state {
				return false, fmt.Sprintf("connector %s task %d is %s, not %s: %s", name, t.ID, t.State, state, oneLine(t.Trace))
			}
		}
		return true, ""
	})
	return st
}

// waitUntil polls cond every 200ms until it holds; after within (or the scenario deadline) it
// fails the scenario with cond's last explanation.
func waitUntil(s *S, within time.Duration, cond func() (bool, string)) {
	s.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || s.ctx.Err() != nil {
			s.Fatalf("after %v: %s", within, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitOffsets waits until GET /connectors/{name}/offsets lists exactly want (JSON, compared
// after normalising both sides).
func waitOffsets(s *S, w *connectWorker, name, want string) {
	s.Helper()
	var wantV any
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		s.Fatalf("bad expectation %s: %v", want, err)
	}
	wantN, _ := json.Marshal(wantV)
	waitUntil(s, 30*time.Second, func() (bool, string) {
		code, b, err := w.call("GET", "/connectors/"+name+"/offsets", nil)
		var got struct{ Offsets any }
		if err != nil || code != http.StatusOK || json.Unmarshal(b, &got) != nil {
			return false, fmt.Sprintf("GET /connectors/%s/offsets: %d %s %v", name, code, b, err)
		}
		gotN, _ := json.Marshal(got.Offsets)
		return bytes.Equal(gotN, wantN), fmt.Sprintf("GET /connectors/%s/offsets: %s, want %s", name, gotN, wantN)
	})
}

// fileSource and fileSink are the FileStream connectors' configurations.
func fileSource(name, file, topic string) map[string]any {
	return map[string]any{"name": name, "config": map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
		"tasks.max":       "1", "file": file, "topic": topic,
	}}
}

func fileSink(name, file, topic string) map[string]any {
	return map[string]any{"name": name, "config": map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
		"tasks.max":       "1", "file": file, "topics": topic,
	}}
}

// appendLines appends lines to the source file.
func appendLines(s *S, file string, lines []string) {
	s.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		s.Fatalf("%v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		s.Fatalf("%v", err)
	}
}

// waitFileLines waits until file holds exactly want, one per line, in order; a file that grows
// past want or differs from it in a line fails at once.
func waitFileLines(s *S, file string, want []string, within time.Duration) {
	s.Helper()
	waitUntil(s, within, func() (bool, string) {
		b, _ := os.ReadFile(file)
		got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) == 0 {
			got = nil
		}
		for i := range got {
			if i >= len(want) || got[i] != want[i] {
				// A complete line that is wrong cannot be fixed by waiting.
				if i < len(got)-1 || strings.HasSuffix(string(b), "\n") {
					s.Fatalf("sink file %s: line %d is %q, want %q (all: %q)", file, i+1, got[i], at(want, i), got)
				}
			}
		}
		return len(got) == len(want) && strings.HasSuffix(string(b), "\n"),
			fmt.Sprintf("sink file %s holds %d of %d lines: %q", file, len(got), len(want), got)
	})
}

func at(xs []string, i int) string {
	if i < len(xs) {
		return xs[i]
	}
	return "(nothing)"
}

// checkTopicLines reads the data topic (one partition) and checks it holds each line exactly
// once, in order, as the JSON strings the schemaless JsonConverter writes.
func checkTopicLines(s *S, topic string, want []string) {
	s.Helper()
	recs := readAll(s, bootAddr, topic, 1, 0)
	var got []string
	for _, r := range recs {
		var v string
		if err := json.Unmarshal(r.Val, &v); err != nil {
			s.Fatalf("topic %s offset %d: value %q is not a JSON string: %v", topic, r.Off, r.Val, err)
		}
		got = append(got, v)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		s.Fatalf("topic %s holds %q, want each line once in order: %q", topic, got, want)
	}
}

// checkInternalTopics checks that the worker created its three topics compact-only with the
// partition counts it was given.
func (c *connectCluster) checkInternalTopics(s *S) {
	s.Helper()
	adm, _ := newAdmin(s, bootAddr)
	want := map[string]int{c.configs: 1, c.offsets: 3, c.status: 2}
	md, err := adm.Metadata(s.ctx, c.configs, c.offsets, c.status)
	if err != nil {
		s.Fatalf("Metadata of the internal topics: %v", err)
	}
	rcs, err := adm.DescribeTopicConfigs(s.ctx, c.configs, c.offsets, c.status)
	if err != nil {
		s.Fatalf("DescribeConfigs of the internal topics: %v", err)
	}
	for topic, parts := range want {
		if t, ok := md.Topics[topic]; !ok || t.Err != nil || len(t.Partitions) != parts {
			s.Errorf("internal topic %s: want %d partitions, metadata says %+v", topic, parts, md.Topics[topic])
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			s.Fatalf("DescribeConfigs %s: %v %v", topic, err, rc.Err)
		}
		policy := "(absent)"
		for _, cfg := range rc.Configs {
			if cfg.Key == "cleanup.policy" && cfg.Value != nil {
				policy = *cfg.Value
			}
		}
		if policy != "compact" {
			s.Errorf("internal topic %s: cleanup.policy %s, want compact", topic, policy)
		}
		// Settings given as <config|offset|status>.storage.<name> reach CreateTopics.
		for _, p := range c.extra {
			name, val, _ := strings.Cut(p, "=")
			prefix := map[string]string{c.configs: "config.storage.", c.offsets: "offset.storage.", c.status: "status.storage."}[topic]
			if key, ok := strings.CutPrefix(name, prefix); ok {
				got := "(absent)"
				for _, cfg := range rc.Configs {
					if cfg.Key == key && cfg.Value != nil {
						got = *cfg.Value
					}
				}
				if got != val {
					s.Errorf("internal topic %s: %s is %s, the worker created it with %s", topic, key, got, val)
				}
			}
		}
	}
}

// waitCompacted waits until the log cleaner has removed superseded records from topic: fewer
// records remain than offsets were written. Connect keeps rewriting its status keys, and
// segment.ms=100 makes every write after a pause land in a segment of its own, so the cleaner
// finds dirty closed segments within its backoff (log.cleaner.backoff.ms, 15 s by default).
func waitCompacted(s *S, topic string, partitions int32) {
	s.Helper()
	adm, _ := newAdmin(s, bootAddr)
	waitUntil(s, 60*time.Second, func() (bool, string) {
		starts, err1 := adm.ListStartOffsets(s.ctx, topic)
		ends, err2 := adm.ListEndOffsets(s.ctx, topic)
		if err := errors.Join(err1, err2, starts.Error(), ends.Error()); err != nil {
			return false, fmt.Sprintf("ListOffsets %s: %v", topic, err)
		}
		written := int64(0)
		for p := int32(0); p < partitions; p++ {
			st, _ := starts.Lookup(topic, p)
			en, _ := ends.Lookup(topic, p)
			written += en.Offset - st.Offset
		}
		kept := len(readAll(s, bootAddr, topic, partitions, 0))
		return int64(kept) < written, fmt.Sprintf("topic %s still holds all %d records written: not compacted", topic, written)
	})
}

// lines returns "<tag>-<from>" … "<tag>-<to>".
func lines(tag string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", tag, i))
	}
	return out
}

func TestConnect(t *testing.T) {
	// The restart scenario continues the pipeline's cluster; nil if the pipeline failed.
	var (
		cl               *connectCluster
		src, sink, topic string
		port             int
	)
	scenario(t, "java", "connect-pipeline", 2*time.Minute, func(s *S) {
		c := newConnectCluster(s, "pipe")
		// Tiny segments, so that the cleaner compacts the internal topics before the restart.
		c.extra = []string{"config.storage.segment.ms=100", "offset.storage.segment.ms=100", "status.storage.segment.ms=100"}
		topic = c.group + "-lines"
		createTopic(s, topic, 1, nil)
		src, sink = filepath.Join(c.dir, "source.txt"), filepath.Join(c.dir, "sink.txt")
		appendLines(s, src, lines("before", 1, 3))

		w := c.start(s, "pipe-1", 0)
		c.checkInternalTopics(s)
		w.must(s, "POST", "/connectors", fileSource(c.src, src, topic), http.StatusCreated)
		w.must(s, "POST", "/connectors", fileSink(c.sink, sink, topic), http.StatusCreated)
		appendLines(s, src, lines("before", 4, 6))
		waitFileLines(s, sink, lines("before", 1, 6), 60*time.Second)
		for _, name := range []string{c.src, c.sink} {
			w.waitState(s, name, "RUNNING", 30*time.Second)
		}
		var names []string
		json.Unmarshal(w.must(s, "GET", "/connectors", nil, http.StatusOK), &names)
		if slices.Sort(names); !slices.Equal(names, []string{c.sink, c.src}) {
			s.Errorf("GET /connectors: %q, want src and sink", names)
		}
		if !w.stop() {
			s.Fatalf("worker did not exit within 60s of SIGTERM (log: %s)", w.log.Name())
		}
		cl, port = c, w.port
	})

	scenario(t, "java", "connect-restart", 2*time.Minute, func(s *S) {
		if cl == nil {
			s.Fatalf("the connect-pipeline scenario did not leave a stopped worker to restart")
		}
		// The same worker again, over compacted internal topics: the connectors come back from
		// the config topic, the source resumes at its committed offset in the offsets topic, the
		// sink at its group's offset.
		c := cl
		waitCompacted(s, c.status, 2)
		w := c.start(s, "pipe-2", port)
		for _, name := range []string{c.src, c.sink} {
			w.waitState(s, name, "RUNNING", 60*time.Second)
		}
		appendLines(s, src, lines("after", 1, 3))
		want := append(lines("before", 1, 6), lines("after", 1, 3)...)
		waitFileLines(s, sink, want, 60*time.Second)
		checkTopicLines(s, topic, want)

		w.must(s, "PUT", "/connectors/"+c.src+"/pause", nil, http.StatusAccepted)
		w.waitState(s, c.src, "PAUSED", 30*time.Second)
		appendLines(s, src, []string{"paused-1"})
		// A paused source reads nothing: two offset-flush intervals and two source polls pass
		// and the line must not be in the topic.
		time.Sleep(2 * time.Second)
		checkTopicLines(s, topic, want)
		w.must(s, "PUT", "/connectors/"+c.src+"/resume", nil, http.StatusAccepted)
		w.waitState(s, c.src, "RUNNING", 30*time.Second)
		want = append(want, "paused-1")
		waitFileLines(s, sink, want, 60*time.Second)

		// KIP-875 over REST: the source's committed position (the offsets topic) is the whole
		// file, the sink's committed offset (its consumer group) the whole topic; a stopped
		// sink's offsets can be deleted (OffsetDelete on an empty group).
		fi, err := os.Stat(src)
		if err != nil {
			s.Fatalf("%v", err)
		}
		waitOffsets(s, w, c.src, fmt.Sprintf(`[{"partition":{"filename":%q},"offset":{"position":%d}}]`, src, fi.Size()))
		waitOffsets(s, w, c.sink, fmt.Sprintf(`[{"partition":{"kafka_partition":0,"kafka_topic":%q},"offset":{"kafka_offset":%d}}]`, topic, len(want)))
		w.must(s, "PUT", "/connectors/"+c.sink+"/stop", nil, http.StatusNoContent)
		waitUntil(s, 30*time.Second, func() (bool, string) {
			st, ok := w.status(c.sink)
			return ok && st.Connector.State == "STOPPED" && len(st.Tasks) == 0, fmt.Sprintf("%s after stop: %+v", c.sink, st)
		})
		w.must(s, "DELETE", "/connectors/"+c.sink+"/offsets", nil, http.StatusOK)
		waitOffsets(s, w, c.sink, `[]`)

		w.must(s, "DELETE", "/connectors/"+c.sink, nil, http.StatusNoContent)
		waitUntil(s, 30*time.Second, func() (bool, string) {
			code, b, err := w.call("GET", "/connectors/"+c.sink, nil)
			return code == http.StatusNotFound, fmt.Sprintf("GET /connectors/%s after DELETE: %d %s %v", c.sink, code, b, err)
		})
		var names []string
		json.Unmarshal(w.must(s, "GET", "/connectors", nil, http.StatusOK), &names)
		if !slices.Equal(names, []string{c.src}) {
			s.Errorf("GET /connectors after deleting %s: %q, want [%s]", c.sink, names, c.src)
		}
		w.stop()
	})

	scenario(t, "java", "connect-two-workers", 2*time.Minute, func(s *S) {
		c := newConnectCluster(s, "pair")
		topic := c.group + "-lines"
		createTopic(s, topic, 1, nil)
		src, sink := filepath.Join(c.dir, "source.txt"), filepath.Join(c.dir, "sink.txt")
		a := c.start(s, "pair-a", 0)
		b := c.start(s, "pair-b", 0)
		a.must(s, "POST", "/connectors", fileSource(c.src, src, topic), http.StatusCreated)
		a.must(s, "POST", "/connectors", fileSink(c.sink, sink, topic), http.StatusCreated)
		appendLines(s, src, lines("pair", 1, 3))
		waitFileLines(s, sink, lines("pair", 1, 3), 60*time.Second)

		// Two connectors and two tasks over two workers: the incremental cooperative assignor
		// gives each worker some, and either worker answers for the whole group.
		owners := map[string]bool{}
		waitUntil(s, 60*time.Second, func() (bool, string) {
			clear(owners)
			for _, name := range []string{c.src, c.sink} {
				st, ok := b.status(name)
				if !ok || st.Connector.State != "RUNNING" || len(st.Tasks) == 0 {
					return false, fmt.Sprintf("worker b: %s is %+v, want RUNNING with a task", name, st)
				}
				owners[st.Connector.Worker_id] = true
				for _, t := range st.Tasks {
					if t.State != "RUNNING" {
						return false, fmt.Sprintf("worker b: %s task %d is %s: %s", name, t.ID, t.State, oneLine(t.Trace))
					}
					owners[t.Worker_id] = true
				}
			}
			return len(owners) == 2, fmt.Sprintf("connectors and tasks run on %v, want both workers", owners)
		})

		// The group as the broker describes it: both workers, Connect's protocol.
		adm, _ := newAdmin(s, bootAddr)
		dg, err := adm.DescribeGroups(s.ctx, c.group)
		if err != nil {
			s.Fatalf("DescribeGroups %s: %v", c.group, err)
		}
		if g := dg[c.group]; g.Err != nil || g.State != "Stable" || g.ProtocolType != "connect" ||
			g.Protocol != "sessioned" || len(g.Members) != 2 {
			s.Errorf("DescribeGroups %s: state %s, protocol %s/%s, %d members, err %v; want Stable, connect/sessioned, 2",
				c.group, g.State, g.ProtocolType, g.Protocol, len(g.Members), g.Err)
		}

		// Worker b leaves: after the scheduled rebalance delay everything runs on a.
		if !b.stop() {
			s.Fatalf("worker b did not exit within 60s of SIGTERM (log: %s)", b.log.Name())
		}
		aID := strings.TrimPrefix(a.url, "http://")
		waitUntil(s, 60*time.Second, func() (bool, string) {
			for _, name := range []string{c.src, c.sink} {
				st, ok := a.status(name)
				if !ok || st.Connector.State != "RUNNING" || st.Connector.Worker_id != aID || len(st.Tasks) == 0 {
					return false, fmt.Sprintf("after worker b left: %s is %+v, want RUNNING on %s", name, st, aID)
				}
				for _, t := range st.Tasks {
					if t.State != "RUNNING" || t.Worker_id != aID {
						return false, fmt.Sprintf("after worker b left: %s task %d %s on %s, want RUNNING on %s", name, t.ID, t.State, t.Worker_id, aID)
					}
				}
			}
			return true, ""
		})
		appendLines(s, src, lines("pair", 4, 6))
		waitFileLines(s, sink, lines("pair", 1, 6), 60*time.Second)
		checkTopicLines(s, topic, lines("pair", 1, 6))
		a.stop()
	})
}
