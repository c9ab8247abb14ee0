//go:build compat

package compat

// logd's own Kafka Connect runtime (`logd connect standalone`) checked against Apache Kafka
// Connect's worker (connect-runtime 4.3.1, distributed mode, the setup of connect_test.go):
// the same REST requests go to both, over the same FileStream connector configs, and their
// status codes and JSON bodies must match once worker ids and the per-worker directories are
// normalized. The scenario is recorded under the "logd-connect" client.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// startLogdConnect runs `bin/logd connect standalone` with a worker.properties for dir on a
// free port and waits for its REST API.
func startLogdConnect(s *S, dir string) *connectWorker {
	s.Helper()
	port, err := freePort()
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	props := filepath.Join(dir, "logd-worker.properties")
	if err := os.WriteFile(props, []byte(strings.Join([]string{
		"bootstrap.servers=" + bootAddr,
		"key.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable=false",
		"value.converter.schemas.enable=false",
		"offset.storage.file.filename=" + filepath.Join(dir, "offsets.json"),
		"offset.flush.interval.ms=500",
		fmt.Sprintf("listeners=http://127.0.0.1:%d", port),
		"rest.advertised.host.name=127.0.0.1",
	}, "\n")+"\n"), 0o644); err != nil {
		s.Fatalf("setup: %v", err)
	}
	logDir := filepath.Join(repoRoot, "compat", ".logs")
	os.MkdirAll(logDir, 0o755)
	lf, err := os.Create(filepath.Join(logDir, "logd-connect.log"))
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	cmd := exec.Command(logdBin, "connect", "standalone", props)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		s.Fatalf("setup: starting logd connect: %v", err)
	}
	w := &connectWorker{port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: lf, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		lf.Close()
		close(w.done)
	}()
	s.Cleanup(func() { w.stop() })
	waitUntil(s, 30*time.Second, func() (bool, string) {
		code, b, err := w.call("GET", "/", nil)
		return err == nil && code == http.StatusOK, fmt.Sprintf("logd connect GET /: %d %s %v (log: %s)", code, b, err, lf.Name())
	})
	return w
}

// normalize decodes a REST body and replaces what differs by construction between the two
// workers: worker ids, the per-worker directory, and the order of arrays of strings.
func normalize(body []byte, replacements map[string]string) any {
	text := string(body)
	for from, to := range replacements {
		text = strings.ReplaceAll(text, from, to)
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return text
	}
	return v
}

func TestLogdConnectRESTParity(t *testing.T) {
	scenario(t, "logd-connect", "connect-rest-parity", 4*time.Minute, func(s *S) {
		c := newConnectCluster(s, "parity")
		topic := c.group + "-lines"
		createTopic(s, topic, 1, nil)
		javaDir, logdDir := filepath.Join(c.dir, "java"), filepath.Join(c.dir, "logd")
		for _, d := range []string{javaDir, logdDir} {
			os.MkdirAll(d, 0o755)
			appendLines(s, filepath.Join(d, "source.txt"), lines("line", 1, 5))
		}
		java := c.start(s, "parity-java", 0)
		logd := startLogdConnect(s, logdDir)
		type side struct {
			w    *connectWorker
			dir  string
			repl map[string]string
		}
		sides := []side{
			{java, javaDir, map[string]string{javaDir: "<dir>", fmt.Sprintf("127.0.0.1:%d", java.port): "<worker>"}},
			{logd, logdDir, map[string]string{logdDir: "<dir>", fmt.Sprintf("127.0.0.1:%d", logd.port): "<worker>"}},
		}
		src, sink := c.src, c.sink
		for _, sd := range sides {
			sd.w.must(s, "POST", "/connectors", fileSource(src, filepath.Join(sd.dir, "source.txt"), topic), http.StatusCreated)
			sd.w.waitState(s, src, "RUNNING", 60*time.Second)
			sd.w.must(s, "POST", "/connectors", fileSink(sink, filepath.Join(sd.dir, "sink.txt"), topic), http.StatusCreated)
			sd.w.waitState(s, sink, "RUNNING", 60*time.Second)
		}
		// Both sources read the same five lines of their own file: their offsets agree.
		fi, _ := os.Stat(filepath.Join(javaDir, "source.txt"))
		for _, sd := range sides {
			waitOffsets(s, sd.w, src, fmt.Sprintf(`[{"partition":{"filename":%q},"offset":{"position":%d}}]`, filepath.Join(sd.dir, "source.txt"), fi.Size()))
		}

		compare := func(method, path string, body any) {
			s.Helper()
			var got [2]any
			var codes [2]int
			for i, sd := range sides {
				code, b, err := sd.w.call(method, path, body)
				if err != nil {
					s.Fatalf("%s %s on %s: %v", method, path, sd.w.url, err)
				}
				codes[i], got[i] = code, normalize(b, sd.repl)
			}
			if codes[0] != codes[1] || !reflect.DeepEqual(got[0], got[1]) {
				s.Errorf("%s %s:\n java %d %v\n logd %d %v", method, path, codes[0], got[0], codes[1], got[1])
			}
		}
		compare("GET", "/connectors/"+src, nil)
		compare("GET", "/connectors/"+src+"/config", nil)
		compare("GET", "/connectors/"+src+"/tasks", nil)
		compare("GET", "/connectors/"+src+"/status", nil)
		compare("GET", "/connectors/"+src+"/tasks/0/status", nil)
		compare("GET", "/connectors/"+sink+"/status", nil)
		compare("GET", "/connectors/"+src+"/topics", nil)
		compare("GET", "/connectors/"+sink+"/topics", nil)
		compare("GET", "/connectors/"+src+"/offsets", nil)
		compare("GET", "/connectors/nope", nil)
		compare("GET", "/connectors/nope/config", nil)
		compare("GET", "/connectors/nope/status", nil)
		compare("POST", "/connectors", fileSource(src, "x", topic))
		compare("PATCH", "/connectors/"+src+"/offsets", map[string]any{"offsets": []any{
			map[string]any{"partition": map[string]any{"filename": "f"}, "offset": map[string]any{"position": 1}}}})
		compare("POST", "/connectors/"+src+"/restart?includeTasks=true&onlyFailed=true", nil)
		compare("PUT", "/connectors/"+src+"/pause", nil)
		for _, sd := range sides {
			sd.w.waitState(s, src, "PAUSED", 30*time.Second)
		}
		compare("GET", "/connectors/"+src+"/status", nil)
		compare("PUT", "/connectors/"+src+"/resume", nil)
		for _, sd := range sides {
			sd.w.waitState(s, src, "RUNNING", 30*time.Second)
		}
		compare("PUT", "/connectors/"+src+"/stop", nil)
		for _, sd := range sides {
			waitUntil(s, 30*time.Second, func() (bool, string) {
				st, ok := sd.w.status(src)
				return ok && st.Connector.State == "STOPPED" && len(st.Tasks) == 0, fmt.Sprintf("%s after stop: %+v", src, st)
			})
		}
		compare("GET", "/connectors/"+src+"/status", nil)
		compare("GET", "/connectors/"+src, nil)
		compare("DELETE", "/connectors/"+src+"/offsets", nil)
		compare("GET", "/connectors/"+src+"/offsets", nil)
		compare("DELETE", "/connectors/"+src, nil)
		for _, sd := range sides {
			waitUntil(s, 30*time.Second, func() (bool, string) {
				code, _, _ := sd.w.call("GET", "/connectors/"+src, nil)
				return code == http.StatusNotFound, fmt.Sprintf("GET /connectors/%s after DELETE on %s: %d", src, sd.w.url, code)
			})
		}
		compare("GET", "/connectors", nil)
		compare("DELETE", "/connectors/"+src, nil)
		// Validation: the error count (Java's definitions list is longer than logd's).
		var counts [2]int
		for i, sd := range sides {
			var v struct {
				ErrorCount int `json:"error_count"`
			}
			b := sd.w.must(s, "PUT", "/connector-plugins/org.apache.kafka.connect.file.FileStreamSourceConnector/config/validate",
				map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "name": "v", "file": "f"}, http.StatusOK)
			json.Unmarshal(b, &v)
			counts[i] = v.ErrorCount
		}
		if counts[0] != counts[1] {
			s.Errorf("validate without topic: java reports %d errors, logd %d", counts[0], counts[1])
		}
		compare("PUT", "/connector-plugins/FileStreamSink/config/validate", map[string]string{"connector.class": "FileStreamSource"})
	})
}

// startLogdDistributed runs `bin/logd connect distributed` with the cluster's
// worker.properties (the same file a Java worker of the cluster reads).
func (c *connectCluster) startLogdDistributed(s *S, name string) *connectWorker {
	s.Helper()
	port, err := freePort()
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	props := filepath.Join(c.dir, name+".properties")
	if err := os.WriteFile(props, []byte(c.properties(port)), 0o644); err != nil {
		s.Fatalf("setup: %v", err)
	}
	logDir := filepath.Join(repoRoot, "compat", ".logs")
	os.MkdirAll(logDir, 0o755)
	lf, err := os.Create(filepath.Join(logDir, "logd-connect-"+name+".log"))
	if err != nil {
		s.Fatalf("setup: %v", err)
	}
	cmd := exec.Command(logdBin, "connect", "distributed", props)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		s.Fatalf("setup: starting logd connect: %v", err)
	}
	w := &connectWorker{port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: lf, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		lf.Close()
		close(w.done)
	}()
	s.Cleanup(func() { w.stop() })
	waitUntil(s, 30*time.Second, func() (bool, string) {
		code, b, err := w.call("GET", "/", nil)
		return err == nil && code == http.StatusOK, fmt.Sprintf("logd connect GET /: %d %s %v (log: %s)", code, b, err, lf.Name())
	})
	return w
}

// TestLogdConnectTopicsReadByJava: a logd distributed worker creates the internal topics and
// runs a FileStream pipeline; after it stops, Apache Kafka Connect's worker joins the same
// group and carries on from what logd wrote: the connectors from the config topic, the
// source's position from the offsets topic, the sink's from its consumer group — every line
// exactly once.
func TestLogdConnectTopicsReadByJava(t *testing.T) {
	scenario(t, "logd-connect", "connect-topics-read-by-java", 4*time.Minute, func(s *S) {
		c := newConnectCluster(s, "handover")
		topic := c.group + "-lines"
		createTopic(s, topic, 1, nil)
		src, sink := filepath.Join(c.dir, "source.txt"), filepath.Join(c.dir, "sink.txt")
		appendLines(s, src, lines("logd", 1, 5))
		lw := c.startLogdDistributed(s, "handover-logd")
		c.checkInternalTopics(s)
		lw.must(s, "POST", "/connectors", fileSource(c.src, src, topic), http.StatusCreated)
		lw.must(s, "POST", "/connectors", fileSink(c.sink, sink, topic), http.StatusCreated)
		waitFileLines(s, sink, lines("logd", 1, 5), 60*time.Second)
		for _, name := range []string{c.src, c.sink} {
			lw.waitState(s, name, "RUNNING", 60*time.Second)
		}
		fi, _ := os.Stat(src)
		waitOffsets(s, lw, c.src, fmt.Sprintf(`[{"partition":{"filename":%q},"offset":{"position":%d}}]`, src, fi.Size()))
		if !lw.stop() {
			s.Fatalf("logd connect did not exit within 60s of SIGTERM")
		}
		jw := c.start(s, "handover-java", 0)
		for _, name := range []string{c.src, c.sink} {
			jw.waitState(s, name, "RUNNING", 90*time.Second)
		}
		var cfg map[string]string
		json.Unmarshal(jw.must(s, "GET", "/connectors/"+c.src+"/config", nil, http.StatusOK), &cfg)
		if cfg["file"] != src || cfg["topic"] != topic || cfg["name"] != c.src {
			s.Errorf("Java reads the config logd wrote as %v", cfg)
		}
		appendLines(s, src, lines("java", 1, 3))
		want := append(lines("logd", 1, 5), lines("java", 1, 3)...)
		waitFileLines(s, sink, want, 90*time.Second)
		checkTopicLines(s, topic, want)
	})
}
