package connect

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConfigInfos is the body of PUT /connector-plugins/{class}/config/validate (Java's ConfigInfos).
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ConfigInfo is one property's definition and its validated value.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigKeyInfo is a property's definition (Java's ConfigKeyInfo).
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	OrderInGroup  int      `json:"order"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigValueInfo is a property's value and its problems (Java's ConfigValueInfo).
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// commonDef is one of the properties every connector has (Java's ConnectorConfig,
// SinkConnectorConfig), in their groups' order.
type commonDef struct {
	name, typ, group, display, doc, importance string
	def                                        *string
	required                                   bool
	kinds                                      []Kind // nil: both
	distributed                                bool   // only in distributed mode
}

func ptr(s string) *string { return &s }

var commonDefs = []commonDef{
	{name: "name", typ: "STRING", group: "Common", display: "Connector name", importance: "HIGH", required: true,
		doc: "Globally unique name to use for this connector."},
	{name: "connector.class", typ: "STRING", group: "Common", display: "Connector class", importance: "HIGH", required: true,
		doc: "Name or alias of the class for this connector."},
	{name: "tasks.max", typ: "INT", group: "Common", display: "Tasks max", importance: "HIGH", def: ptr("1"),
		doc: "Maximum number of tasks to use for this connector."},
	{name: "key.converter", typ: "CLASS", group: "Common", display: "Key converter class", importance: "LOW",
		doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka."},
	{name: "value.converter", typ: "CLASS", group: "Common", display: "Value converter class", importance: "LOW",
		doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka."},
	{name: "transforms", typ: "LIST", group: "Transforms", display: "Transforms", importance: "LOW", def: ptr(""),
		doc: "Aliases for the transformations to be applied to records."},
	{name: "predicates", typ: "LIST", group: "Predicates", display: "Predicates", importance: "LOW", def: ptr(""),
		doc: "Aliases for the predicates used by transformations."},
	{name: "errors.tolerance", typ: "STRING", group: "Error Handling", display: "Error Tolerance", importance: "MEDIUM", def: ptr("none"),
		doc: "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any error will result in an immediate connector task failure; 'all' changes the behavior to skip over problematic records."},
	{name: "errors.log.enable", typ: "BOOLEAN", group: "Error Handling", display: "Log Errors", importance: "MEDIUM", def: ptr("false"),
		doc: "If true, write each error and the details of the failed operation and problematic record to the Connect application log."},
	{name: "errors.log.include.messages", typ: "BOOLEAN", group: "Error Handling", display: "Log Error Details", importance: "MEDIUM", def: ptr("false"),
		doc: "Whether to include in the log the Connect record that resulted in a failure."},
	{name: "exactly.once.support", typ: "STRING", group: "Exactly Once Support", display: "Exactly once support", importance: "MEDIUM", def: ptr("requested"), kinds: []Kind{Source}, distributed: true,
		doc: `Permitted values are requested, required. If set to "required", forces a preflight check for the connector to ensure that it can provide exactly-once semantics with the given configuration.`},
	{name: "transaction.boundary", typ: "STRING", group: "Exactly Once Support", display: "Transaction Boundary", importance: "MEDIUM", def: ptr("poll"), kinds: []Kind{Source}, distributed: true,
		doc: `Permitted values are: poll, interval, connector. If set to 'poll', a new producer transaction will be started and committed for every batch of records that each task from this connector provides to Connect. If set to 'connector', relies on connector-defined transaction boundaries. Finally, if set to 'interval', commits transactions only after a user-defined time interval has passed.`},
	{name: "transaction.boundary.interval.ms", typ: "LONG", group: "Exactly Once Support", display: "Transaction boundary interval", importance: "LOW", kinds: []Kind{Source}, distributed: true,
		doc: `If 'transaction.boundary' is set to 'interval', determines the interval for producer transaction commits by connector tasks. If unset, defaults to the value of the worker-level 'offset.flush.interval.ms' property. It has no effect if a different transaction.boundary is specified.`},
	{name: "topics", typ: "LIST", group: "Common", display: "Topics", importance: "HIGH", def: ptr(""), kinds: []Kind{Sink},
		doc: "List of topics to consume, separated by commas"},
	{name: "topics.regex", typ: "STRING", group: "Common", display: "Topics regex", importance: "HIGH", def: ptr(""), kinds: []Kind{Sink},
		doc: "Regular expression giving topics to consume."},
	{name: "errors.deadletterqueue.topic.name", typ: "STRING", group: "Error Handling", display: "Dead Letter Queue Topic Name", importance: "MEDIUM", def: ptr(""), kinds: []Kind{Sink},
		doc: "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector, or its transformations or converters."},
	{name: "errors.deadletterqueue.context.headers.enable", typ: "BOOLEAN", group: "Error Handling", display: "Enable Error Context Headers", importance: "MEDIUM", def: ptr("false"), kinds: []Kind{Sink},
		doc: "If true, add headers containing error context to the messages written to the dead letter queue."},
}

// unknownPlugin is the error for a connector.class no plugin registered.
func unknownPlugin(class string) error {
	var names []string
	for _, p := range Plugins() {
		names = append(names, p.Class)
	}
	return badRequest("Failed to find any class that implements Connector and which name matches %s, available connectors are: %s", class, strings.Join(names, ", "))
}

// Validate checks a connector configuration as Java's validateConnectorConfig does: the
// common properties, the converters, transforms and predicates, and the connector's own
// Validate.
func (h *Herder) Validate(class string, config map[string]string) (*ConfigInfos, error) {
	p, ok := Lookup(class)
	if !ok {
		return nil, unknownPlugin(class)
	}
	problems := make(map[string][]string)
	add := func(name, msg string) { problems[name] = append(problems[name], msg) }
	if strings.TrimSpace(config["name"]) == "" {
		add("name", `Missing required configuration "name" which has no default value.`)
	}
	if n, err := intConfig(config, "tasks.max", 1); err != nil {
		add("tasks.max", err.Error())
	} else if n < 1 {
		add("tasks.max", fmt.Sprintf("Invalid value %d for configuration tasks.max: Value must be at least 1", n))
	}
	for _, c := range []string{"key.converter", "value.converter"} {
		if v := config[c]; v != "" {
			if _, err := NewConverter(v, config, c+"."); err != nil {
				add(c, err.Error())
			}
		}
	}
	if _, err := newTransformChain(config); err != nil {
		add("transforms", err.Error())
	}
	if _, err := newErrorPolicy(config); err != nil {
		add("errors.tolerance", err.Error())
	}
	if p.Kind == Sink {
		topics, re := strings.TrimSpace(config["topics"]), strings.TrimSpace(config["topics.regex"])
		switch {
		case topics != "" && re != "":
			add("topics", "topics and topics.regex are mutually exclusive.")
		case topics == "" && re == "":
			add("topics", "Must configure one of topics or topics.regex")
		}
		if re != "" {
			if _, err := regexp.Compile(re); err != nil {
				add("topics.regex", fmt.Sprintf("Invalid value %s for configuration topics.regex: %v", re, err))
			}
		}
		if dlq := config["errors.deadletterqueue.topic.name"]; dlq != "" && slices.Contains(aliases(topics), dlq) {
			add("errors.deadletterqueue.topic.name", fmt.Sprintf("The DLQ topic '%s' may not be included in the list of topics ('topics=%s') consumed by the connector", dlq, topics))
		}
	} else if dlq := config["errors.deadletterqueue.topic.name"]; dlq != "" {
		add("errors.deadletterqueue.topic.name", "A dead letter queue is only supported for sink connectors")
	}
	conn := p.NewConnector()
	for _, e := range conn.Validate(config) {
		add(e.Name, e.Message)
	}
	if p.Kind == Source && h.cfg.GroupID != "" {
		h.validateExactlyOnce(conn, config, add)
	}

	res := &ConfigInfos{Name: p.Class, Groups: []string{}, Configs: []ConfigInfo{}}
	order := make(map[string]int)
	seen := make(map[string]bool)
	value := func(name string) *string {
		if v, ok := config[name]; ok {
			return &v
		}
		return nil
	}
	for _, d := range commonDefs {
		if (d.kinds != nil && !slices.Contains(d.kinds, p.Kind)) || (d.distributed && h.cfg.GroupID == "") {
			continue
		}
		if !slices.Contains(res.Groups, d.group) {
			res.Groups = append(res.Groups, d.group)
		}
		order[d.group]++
		seen[d.name] = true
		v := value(d.name)
		if v == nil && d.def != nil {
			v = d.def
		}
		res.Configs = append(res.Configs, ConfigInfo{
			Definition: ConfigKeyInfo{Name: d.name, Type: d.typ, Required: d.required, DefaultValue: d.def, Importance: d.importance,
				Documentation: d.doc, Group: d.group, OrderInGroup: order[d.group], Width: "MEDIUM", DisplayName: d.display, Dependents: []string{}},
			Value: ConfigValueInfo{Name: d.name, Value: v, RecommendedValues: []string{}, Errors: nonNil(problems[d.name]), Visible: true},
		})
	}
	// The connector's own properties: those its Validate reported on, and those set.
	var rest []string
	for k := range problems {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	for k := range config {
		if !seen[k] && !slices.Contains(rest, k) && !isCommonPrefix(k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for i, k := range rest {
		res.Configs = append(res.Configs, ConfigInfo{
			Definition: ConfigKeyInfo{Name: k, Type: "STRING", Importance: "MEDIUM", Group: "", OrderInGroup: i + 1, Width: "NONE",
				DisplayName: k, Dependents: []string{}},
			Value: ConfigValueInfo{Name: k, Value: value(k), RecommendedValues: []string{}, Errors: nonNil(problems[k]), Visible: true},
		})
	}
	for _, c := range res.Configs {
		res.ErrorCount += len(c.Value.Errors)
	}
	return res, nil
}

// isCommonPrefix says whether a property belongs to the runtime (converters', transforms',
// predicates' and clients' sub-properties) rather than to the connector.
func isCommonPrefix(k string) bool {
	for _, p := range []string{"key.converter.", "value.converter.", "header.converter", "transforms.", "predicates.", "errors.",
		"producer.override.", "consumer.override.", "admin.override.", "topic.creation."} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// exactlyOnceConfig is a source connector's KIP-618 settings.
type exactlyOnceConfig struct {
	required bool          // exactly.once.support=required
	boundary string        // transaction.boundary: poll, interval or connector
	interval time.Duration // transaction.boundary.interval.ms (0: offset.flush.interval.ms)
}

// parseExactlyOnce reads a source connector's exactly.once.support, transaction.boundary and
// transaction.boundary.interval.ms, reporting each bad value with Java's message.
func parseExactlyOnce(config map[string]string, add func(name, msg string)) exactlyOnceConfig {
	eo := exactlyOnceConfig{boundary: "poll"}
	if v, ok := config["exactly.once.support"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "required":
			eo.required = true
		case "requested":
		default:
			add("exactly.once.support", fmt.Sprintf("Invalid value %s for configuration exactly.once.support: String must be one of (case insensitive): REQUIRED, REQUESTED", v))
		}
	}
	if v, ok := config["transaction.boundary"]; ok {
		eo.boundary = strings.ToLower(strings.TrimSpace(v))
		if !slices.Contains([]string{"poll", "interval", "connector"}, eo.boundary) {
			add("transaction.boundary", fmt.Sprintf("Invalid value %s for configuration transaction.boundary: String must be one of (case insensitive): POLL, INTERVAL, CONNECTOR", v))
			eo.boundary = "poll"
		}
	}
	if v, ok := config["transaction.boundary.interval.ms"]; ok && strings.TrimSpace(v) != "" {
		ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || ms < 0 {
			add("transaction.boundary.interval.ms", fmt.Sprintf("Invalid value %s for configuration transaction.boundary.interval.ms: Value must be at least 0", v))
		} else {
			eo.interval = time.Duration(ms) * time.Millisecond
		}
	}
	return eo
}

// validateExactlyOnce is Java's DistributedHerder preflight check of a source connector's
// exactly-once settings; the support and boundary checks run only on a worker with
// exactly.once.source.support=enabled, as Java's do.
func (h *Herder) validateExactlyOnce(conn Connector, config map[string]string, add func(name, msg string)) {
	eo := parseExactlyOnce(config, add)
	if !h.cfg.exactlyOnceEnabled() {
		return
	}
	if eo.required {
		if eos, ok := conn.(ExactlyOnceSourceConnector); !ok {
			add("exactly.once.support", `The connector does not implement the API required for preflight validation of exactly-once source support. Please consult the documentation for the connector to determine whether it supports exactly-once semantics, and then consider reconfiguring the connector to use the value "requested" for this property (which will disable this preflight check and allow the connector to be created).`)
		} else if !eos.ExactlyOnceSupport(config) {
			add("exactly.once.support", "The connector does not support exactly-once semantics with the provided configuration.")
		}
	}
	if eo.boundary == "connector" {
		add("transaction.boundary", "The connector does not support connector-defined transaction boundaries with the given configuration. Please reconfigure it to use a different transaction boundary definition.")
	}
}
