package main

import (
	"fmt"
	"strings"

	"github.com/logd/logd/internal/properties"
)

// readPropertiesConfig reads Kafka's own format, Java properties (internal/properties), so
// an existing server.properties works. A Kafka file carries many keys logd has no use for
// (num.network.threads, socket.send.buffer.bytes, ...): an unknown key is a warning naming
// it, not an error — unless refusedKeys says its value asks for semantics logd does not
// have. A key given twice takes its later value, as Java's Properties does.
func readPropertiesConfig(path string, data []byte) (map[string]setting, []string, error) {
	entries, err := properties.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %v", path, err)
	}
	out := map[string]setting{}
	var unknown []string
	for _, e := range entries {
		at := fmt.Sprintf("%s line %d", path, e.Line)
		if knownKey(e.Key) {
			out[e.Key] = setting{e.Value, at}
			continue
		}
		if err := refusedSetting(e.Key, strings.TrimSpace(e.Value)); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", at, err)
		}
		if err := unknownKey(at, e.Key); err != nil {
			unknown = append(unknown, err.Error()+": ignored")
		}
	}
	return out, unknown, nil
}

// refusedKey is a Kafka broker setting logd does not implement, whose value promises
// something logd would silently not do unless accept says it is what logd does anyway.
type refusedKey struct {
	accept func(v string) bool
	why    string
}

// is accepts exactly the value (case-insensitively) logd behaves as; empty accepts "" too.
func is(want string) func(string) bool {
	return func(v string) bool { return v == "" || strings.EqualFold(v, want) }
}

var refusedKeys = map[string]refusedKey{
	"process.roles": {func(v string) bool { r := splitComma(v); return len(r) == 0 || containsFold(r, "broker") },
		"every logd node is a broker (and a voter of the metadata quorum when listed in controller.quorum.voters); a controller-only node does not exist"},
	"unclean.leader.election.enable": {is("false"),
		"logd never elects a leader from outside the ISR (that can lose acknowledged records)"},
	"min.insync.replicas": {is("1"),
		"the broker-wide default is 1 in logd; set min.insync.replicas on the topics instead (kafka-configs --entity-type topics)"},
	"compression.type": {is("producer"),
		"logd stores batches as the producer compressed them (producer); it never recompresses"},
	"log.message.timestamp.type": {is("CreateTime"),
		"the broker-wide default is CreateTime in logd; set message.timestamp.type on the topics instead"},
	"delete.topic.enable": {is("true"), "logd always lets DeleteTopics delete topics"},
}

// refusedSetting is the error for an unknown key whose value logd cannot honour, else nil.
func refusedSetting(key, value string) error {
	if r, ok := refusedKeys[key]; ok && !r.accept(value) {
		return fmt.Errorf("%s=%s is not supported: %s", key, value, r.why)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
