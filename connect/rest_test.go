package connect_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logd/logd/connect"
)

// expect checks a REST answer's status and, when want is not "", that its body contains want.
func expect(t *testing.T, w *connect.Worker, method, path string, body any, code int, want string) []byte {
	t.Helper()
	got, b := call(t, w, method, path, body)
	var e struct{ Message string }
	json.Unmarshal(b, &e)
	if got != code || (want != "" && !strings.Contains(string(b), want) && !strings.Contains(e.Message, want)) {
		t.Fatalf("%s %s: %d %s, want %d with %s", method, path, got, b, code, want)
	}
	return b
}

// TestRESTAPI walks every endpoint of the REST API with good and bad requests.
func TestRESTAPI(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	topic := p + "-t"
	createTopic(t, topic, 1)
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, 0, 10)
	w := startWorker(t, dir, nil)
	src := p + "-src"
	srcConfig := map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": topic}

	expect(t, w, "GET", "/", nil, 200, `"version":"4.3.1"`)
	expect(t, w, "GET", "/connectors", nil, 200, "[]")
	expect(t, w, "GET", "/nowhere", nil, 404, `"error_code":404`)
	expect(t, w, "POST", "/connectors", `{"name":`, 400, `"error_code":400`)
	expect(t, w, "POST", "/connectors", map[string]any{"name": src, "config": map[string]string{"file": in}}, 400, "contains no connector type")
	expect(t, w, "POST", "/connectors", map[string]any{"name": src, "config": map[string]string{"connector.class": "com.example.Nope"}}, 400,
		"Failed to find any class that implements Connector and which name matches com.example.Nope")
	expect(t, w, "POST", "/connectors", map[string]any{"name": src, "config": map[string]string{"connector.class": "FileStreamSource", "file": in}}, 400,
		"Connector configuration is invalid and contains the following 1 error(s):\nMissing required configuration \"topic\"")
	expect(t, w, "POST", "/connectors", map[string]any{"name": src, "config": map[string]string{"name": "other", "connector.class": "FileStreamSource"}}, 400,
		"Connector name configuration (other) doesn't match connector name in the URL ("+src+")")

	b := expect(t, w, "POST", "/connectors", map[string]any{"name": src, "config": srcConfig}, 201, "")
	var info connect.ConnectorInfo
	if err := json.Unmarshal(b, &info); err != nil || info.Name != src || info.Type != connect.Source ||
		len(info.Tasks) != 1 || info.Tasks[0] != (connect.TaskID{Connector: src, Task: 0}) || info.Config["name"] != src {
		t.Fatalf("created: %s", b)
	}
	expect(t, w, "POST", "/connectors", map[string]any{"name": src, "config": srcConfig}, 409, "Connector "+src+" already exists")
	waitState(t, w, src, connect.StateRunning, 1)

	expect(t, w, "GET", "/connectors/"+src, nil, 200, `"tasks":[{"connector":"`+src+`","task":0}],"type":"source"`)
	expect(t, w, "GET", "/connectors/"+src+"/config", nil, 200, `"topic":"`+topic+`"`)
	expect(t, w, "GET", "/connectors/"+src+"/tasks", nil, 200, `"task.class":"org.apache.kafka.connect.file.FileStreamSourceTask"`)
	expect(t, w, "GET", "/connectors/"+src+"/status", nil, 200, `"connector":{"state":"RUNNING","worker_id":"`+w.Herder.WorkerID()+`","version":"4.3.1"}`)
	expect(t, w, "GET", "/connectors/"+src+"/tasks/0/status", nil, 200, `{"id":0,"state":"RUNNING","worker_id":"`)
	expect(t, w, "GET", "/connectors/"+src+"/tasks/9/status", nil, 404, "No status found for task "+src+"-9")
	expect(t, w, "GET", "/connectors/"+src+"/tasks/x/status", nil, 404, "")
	expect(t, w, "GET", "/connectors/nope/status", nil, 404, "No status found for connector nope")
	expect(t, w, "GET", "/connectors/nope", nil, 404, "Connector nope not found")
	expect(t, w, "GET", "/connectors?expand=status&expand=info", nil, 200, `"`+src+`":{"info":{"name":"`+src+`"`)
	waitFor(t, defaultWait, "active topics", func() (bool, string) {
		_, b := call(t, w, "GET", "/connectors/"+src+"/topics", nil)
		return string(b) == `{"`+src+`":{"topics":["`+topic+`"]}}`, string(b)
	})
	expect(t, w, "PUT", "/connectors/"+src+"/topics/reset", nil, 202, "")
	expect(t, w, "GET", "/connectors/"+src+"/topics", nil, 200, `{"`+src+`":{"topics":[]}}`)

	// Config replacement and patch.
	expect(t, w, "PUT", "/connectors/"+src+"/config", map[string]string{"name": "x", "connector.class": "FileStreamSource"}, 400, "doesn't match")
	srcConfig["batch.size"] = "3"
	expect(t, w, "PUT", "/connectors/"+src+"/config", srcConfig, 200, `"batch.size":"3"`)
	expect(t, w, "PATCH", "/connectors/"+src+"/config", map[string]any{"batch.size": "5"}, 200, `"batch.size":"5"`)
	expect(t, w, "PUT", "/connectors/"+src+"-2/config", srcConfig, 201, `"name":"`+src+`-2"`)
	expect(t, w, "DELETE", "/connectors/"+src+"-2", nil, 204, "")

	// Pause, resume, restarts.
	expect(t, w, "PUT", "/connectors/"+src+"/pause", nil, 202, "")
	waitState(t, w, src, connect.StatePaused, 1)
	expect(t, w, "PUT", "/connectors/"+src+"/resume", nil, 202, "")
	waitState(t, w, src, connect.StateRunning, 1)
	expect(t, w, "POST", "/connectors/"+src+"/restart", nil, 204, "")
	expect(t, w, "POST", "/connectors/"+src+"/restart?includeTasks=true", nil, 202, `"connector":{"state":"RESTARTING"`)
	waitState(t, w, src, connect.StateRunning, 1)
	expect(t, w, "POST", "/connectors/"+src+"/restart?includeTasks=true&onlyFailed=true", nil, 202, `"tasks":[{"id":0,"state":"RUNNING"`)
	expect(t, w, "POST", "/connectors/"+src+"/tasks/0/restart", nil, 204, "")
	expect(t, w, "POST", "/connectors/"+src+"/tasks/7/restart", nil, 404, "Task "+src+"-7 not found")
	expect(t, w, "POST", "/connectors/nope/restart", nil, 404, "")

	// A failing task, restarted only when failed.
	bad := p + "-bad"
	expect(t, w, "POST", "/connectors", map[string]any{"name": bad, "config": map[string]string{
		"connector.class": "FileStreamSink", "topics.regex": "("}}, 400, "Invalid value ( for configuration topics.regex")
	expect(t, w, "POST", "/connectors", map[string]any{"name": bad, "config": map[string]string{
		"connector.class": "FileStreamSink", "topics": topic, "file": filepath.Join(dir, "no-such-dir", "bad.txt")}}, 201, "")
	waitFor(t, defaultWait, "the bad sink's task failing", func() (bool, string) {
		st, err := w.Herder.TaskStatus(bad, 0)
		return err == nil && st.State == connect.StateFailed && strings.Contains(st.Trace, "couldn't find or create file"), pretty(st)
	})
	expect(t, w, "POST", "/connectors/"+bad+"/restart?includeTasks=true&onlyFailed=true", nil, 202,
		`"connector":{"state":"RUNNING","worker_id":"`+w.Herder.WorkerID()+`","version":"4.3.1"},"tasks":[{"id":0,"state":"RESTARTING"`)
	expect(t, w, "DELETE", "/connectors/"+bad, nil, 204, "")

	// Offsets (KIP-875): only on a stopped connector.
	waitFor(t, defaultWait, "source offsets", func() (bool, string) {
		_, b := call(t, w, "GET", "/connectors/"+src+"/offsets", nil)
		return strings.Contains(string(b), `"offset":{"position":`), string(b)
	})
	newOffsets := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": 7}}}}
	expect(t, w, "PATCH", "/connectors/"+src+"/offsets", newOffsets, 400, "Connectors must be in the STOPPED state before their offsets can be modified")
	expect(t, w, "PUT", "/connectors/"+src+"/stop", nil, 204, "")
	expect(t, w, "GET", "/connectors/"+src+"/status", nil, 200, `"connector":{"state":"STOPPED","worker_id":"`+w.Herder.WorkerID()+`","version":"4.3.1"},"tasks":[]`)
	expect(t, w, "GET", "/connectors/"+src, nil, 200, `"tasks":[]`)
	expect(t, w, "PATCH", "/connectors/"+src+"/offsets", `{"offsets":[]}`, 400, "Partitions / offsets need to be provided")
	expect(t, w, "PATCH", "/connectors/"+src+"/offsets", newOffsets, 200, `{"message":"The offsets for this connector have been altered successfully"}`)
	expect(t, w, "GET", "/connectors/"+src+"/offsets", nil, 200, `{"offsets":[{"partition":{"filename":"`+in+`"},"offset":{"position":7}}]}`)
	expect(t, w, "DELETE", "/connectors/"+src+"/offsets", nil, 200, `{"message":"The offsets for this connector have been reset successfully"}`)
	expect(t, w, "GET", "/connectors/"+src+"/offsets", nil, 200, `{"offsets":[]}`)
	expect(t, w, "DELETE", "/connectors/nope/offsets", nil, 404, "Connector nope not found")

	// Plugins and validation.
	b = expect(t, w, "GET", "/connector-plugins", nil, 200, `{"class":"org.apache.kafka.connect.file.FileStreamSinkConnector","type":"sink","version":"4.3.1"}`)
	if strings.Contains(string(b), "transformation") {
		t.Fatalf("connector-plugins lists transforms by default: %s", b)
	}
	expect(t, w, "GET", "/connector-plugins?connectorsOnly=false", nil, 200, `{"class":"org.apache.kafka.connect.transforms.Filter","type":"transformation"`)
	b = expect(t, w, "PUT", "/connector-plugins/FileStreamSource/config/validate", map[string]string{"tasks.max": "0"}, 200, `"name":"org.apache.kafka.connect.file.FileStreamSourceConnector","error_count":4`)
	var infos connect.ConfigInfos
	if err := json.Unmarshal(b, &infos); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, c := range infos.Configs {
		for _, e := range c.Value.Errors {
			errs = append(errs, c.Definition.Name+": "+e)
		}
	}
	slices.Sort(errs)
	if want := []string{"file: reading standard input is not supported: set file", `name: Missing required configuration "name" which has no default value.`,
		"tasks.max: Invalid value 0 for configuration tasks.max: Value must be at least 1", `topic: Missing required configuration "topic" which has no default value.`}; !slices.Equal(errs, want) {
		t.Fatalf("validation errors:\n%s\nwant\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	expect(t, w, "PUT", "/connector-plugins/FileStreamSink/config/validate", map[string]string{"connector.class": "FileStreamSource"}, 400,
		"Included connector type FileStreamSource does not match request type FileStreamSink")

	expect(t, w, "DELETE", "/connectors/"+src, nil, 204, "")
	expect(t, w, "DELETE", "/connectors/"+src, nil, 404, "Connector "+src+" not found")
	expect(t, w, "GET", "/connectors/"+src, nil, 404, "")
}

// pretty renders v as JSON for failure messages.
func pretty(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
