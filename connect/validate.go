package connect

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
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
	for _, e := range p.NewConnector().Validate(config) {
		add(e.Name, e.Message)
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
		if d.kinds != nil && !slices.Contains(d.kinds, p.Kind) {
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
