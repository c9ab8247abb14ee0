package connect

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Record is what single message transforms see: a source record on its way to Kafka or a
// sink record on its way to the task (Kafka Connect's ConnectRecord). Offset is -1 for
// source records.
type Record struct {
	Topic       string
	Partition   int32
	Offset      int64
	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any
	Timestamp   time.Time
	Headers     []Header
}

// Transformation is a single message transform: it returns the record to pass on (the same
// or a new one), or nil to drop it.
type Transformation interface {
	Apply(r *Record) (*Record, error)
}

// Predicate decides whether a transform applies to a record.
type Predicate interface {
	Test(r *Record) bool
}

// transformStep is one configured transform with its optional predicate.
type transformStep struct {
	name      string
	t         Transformation
	predicate Predicate // nil: always
	negate    bool
}

// transformChain is a connector's transforms in order.
type transformChain []transformStep

// apply runs the chain; nil means a transform dropped the record.
func (c transformChain) apply(r *Record) (*Record, error) {
	for _, s := range c {
		if s.predicate != nil && s.predicate.Test(r) == s.negate {
			continue
		}
		out, err := s.t.Apply(r)
		if err != nil {
			return nil, fmt.Errorf("transform %s: %w", s.name, err)
		}
		if out == nil {
			return nil, nil
		}
		r = out
	}
	return r, nil
}

// The transform and predicate classes of org.apache.kafka.connect.transforms this runtime
// implements, by their Java names ($Key/$Value variants where Java has them).
var transformClasses = map[string]func(key bool, cfg map[string]string) (Transformation, error){
	"org.apache.kafka.connect.transforms.InsertField":     newInsertField,
	"org.apache.kafka.connect.transforms.ReplaceField":    newReplaceField,
	"org.apache.kafka.connect.transforms.ExtractField":    newExtractField,
	"org.apache.kafka.connect.transforms.ValueToKey":      newValueToKey,
	"org.apache.kafka.connect.transforms.RegexRouter":     newRegexRouter,
	"org.apache.kafka.connect.transforms.TimestampRouter": newTimestampRouter,
	"org.apache.kafka.connect.transforms.Filter":          func(bool, map[string]string) (Transformation, error) { return filter{}, nil },
}

var predicateClasses = map[string]func(cfg map[string]string) (Predicate, error){
	"org.apache.kafka.connect.transforms.predicates.TopicNameMatches": newTopicNameMatches,
	"org.apache.kafka.connect.transforms.predicates.RecordIsTombstone": func(map[string]string) (Predicate, error) {
		return recordIsTombstone{}, nil
	},
	"org.apache.kafka.connect.transforms.predicates.HasHeaderKey": newHasHeaderKey,
}

// TransformClasses returns the transform class names accepted (with $Key/$Value variants).
func TransformClasses() []string {
	var out []string
	for c := range transformClasses {
		switch c {
		case "org.apache.kafka.connect.transforms.RegexRouter", "org.apache.kafka.connect.transforms.TimestampRouter",
			"org.apache.kafka.connect.transforms.Filter", "org.apache.kafka.connect.transforms.ValueToKey":
			out = append(out, c)
		default:
			out = append(out, c+"$Key", c+"$Value")
		}
	}
	slices.Sort(out)
	return out
}

// PredicateClasses returns the predicate class names accepted.
func PredicateClasses() []string { return slices.Sorted(maps.Keys(predicateClasses)) }

// subConfig returns the properties under prefix, with the prefix removed.
func subConfig(config map[string]string, prefix string) map[string]string {
	out := make(map[string]string)
	for k, v := range config {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = v
		}
	}
	return out
}

// aliases splits a comma-separated list (transforms, predicates), dropping blanks.
func aliases(v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// newTransformChain builds a connector's transforms and predicates from its configuration
// (transforms=a,b; transforms.a.type=…; transforms.a.predicate=p; transforms.a.negate;
// predicates=p; predicates.p.type=…).
func newTransformChain(config map[string]string) (transformChain, error) {
	preds := make(map[string]Predicate)
	for _, alias := range aliases(config["predicates"]) {
		pc := subConfig(config, "predicates."+alias+".")
		class := pc["type"]
		mk, ok := predicateClasses[class]
		if !ok {
			return nil, fmt.Errorf("invalid value %s for configuration predicates.%s.type: class not found (known: %s)", class, alias, strings.Join(PredicateClasses(), ", "))
		}
		p, err := mk(pc)
		if err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		preds[alias] = p
	}
	var chain transformChain
	for _, alias := range aliases(config["transforms"]) {
		tc := subConfig(config, "transforms."+alias+".")
		class := tc["type"]
		base, variant, _ := strings.Cut(class, "$")
		mk, ok := transformClasses[base]
		if !ok || (variant != "" && variant != "Key" && variant != "Value") {
			return nil, fmt.Errorf("invalid value %s for configuration transforms.%s.type: class not found (known: %s)", class, alias, strings.Join(TransformClasses(), ", "))
		}
		t, err := mk(variant == "Key", tc)
		if err != nil {
			return nil, fmt.Errorf("transform %s: %w", alias, err)
		}
		step := transformStep{name: alias, t: t}
		if pn := tc["predicate"]; pn != "" {
			p, ok := preds[pn]
			if !ok {
				return nil, fmt.Errorf("transform %s: predicate %q is not defined in predicates", alias, pn)
			}
			step.predicate = p
			if v, ok := tc["negate"]; ok {
				if step.negate, err = parseBool("transforms."+alias+".negate", v); err != nil {
					return nil, err
				}
			}
		} else if _, ok := tc["negate"]; ok {
			return nil, fmt.Errorf("transform %s: negate is set without a predicate", alias)
		}
		chain = append(chain, step)
	}
	return chain, nil
}

// side picks the key or the value of a record for $Key/$Value transforms.
type side bool

func (s side) get(r *Record) (*Schema, any) {
	if s {
		return r.KeySchema, r.Key
	}
	return r.ValueSchema, r.Value
}

func (s side) with(r *Record, schema *Schema, v any) *Record {
	out := *r
	if s {
		out.KeySchema, out.Key = schema, v
	} else {
		out.ValueSchema, out.Value = schema, v
	}
	return &out
}

func (s side) String() string {
	if s {
		return "key"
	}
	return "value"
}

// insertField is InsertField: adds the record's topic, partition, offset, timestamp and a
// static value as fields.
type insertField struct {
	side
	topic, partition, offset, timestamp, static fieldSpec
	staticValue                                 string
}

// fieldSpec is a field name with InsertField's suffix: "!" required, "?" or none optional.
type fieldSpec struct {
	name     string
	optional bool
}

func parseFieldSpec(v string) fieldSpec {
	switch {
	case strings.HasSuffix(v, "!"):
		return fieldSpec{strings.TrimSuffix(v, "!"), false}
	case strings.HasSuffix(v, "?"):
		return fieldSpec{strings.TrimSuffix(v, "?"), true}
	}
	return fieldSpec{v, true}
}

func newInsertField(key bool, cfg map[string]string) (Transformation, error) {
	t := &insertField{side: side(key),
		topic: parseFieldSpec(cfg["topic.field"]), partition: parseFieldSpec(cfg["partition.field"]),
		offset: parseFieldSpec(cfg["offset.field"]), timestamp: parseFieldSpec(cfg["timestamp.field"]),
		static: parseFieldSpec(cfg["static.field"]), staticValue: cfg["static.value"]}
	if t.topic.name == "" && t.partition.name == "" && t.offset.name == "" && t.timestamp.name == "" && t.static.name == "" {
		return nil, errors.New("InsertField needs at least one of topic.field, partition.field, offset.field, timestamp.field, static.field")
	}
	return t, nil
}

func (t *insertField) Apply(r *Record) (*Record, error) {
	schema, v := t.get(r)
	type add struct {
		spec  fieldSpec
		s     *Schema
		value any
	}
	var adds []add
	if t.topic.name != "" {
		adds = append(adds, add{t.topic, &Schema{Type: String}, r.Topic})
	}
	if t.partition.name != "" {
		var p any
		if r.Partition >= 0 {
			p = r.Partition
		}
		adds = append(adds, add{t.partition, &Schema{Type: Int32}, p})
	}
	if t.offset.name != "" {
		if r.Offset < 0 {
			return nil, errors.New("offset.field is only supported for sink connectors")
		}
		adds = append(adds, add{t.offset, &Schema{Type: Int64}, r.Offset})
	}
	if t.timestamp.name != "" {
		var ts any
		if !r.Timestamp.IsZero() {
			ts = r.Timestamp.UnixMilli()
		}
		adds = append(adds, add{t.timestamp, &Schema{Type: Int64, Name: TimestampName, Version: 1}, ts})
	}
	if t.static.name != "" {
		adds = append(adds, add{t.static, &Schema{Type: String}, t.staticValue})
	}
	if schema == nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("only Map objects supported in absence of schema for [field insertion], found: %T", v)
		}
		out := maps.Clone(m)
		for _, a := range adds {
			out[a.spec.name] = a.value
		}
		return t.with(r, nil, out), nil
	}
	sv, ok := v.(*StructValue)
	if schema.Type != Struct || (!ok && v != nil) {
		return nil, fmt.Errorf("only Struct objects supported for [field insertion], found: %T", v)
	}
	ns := copyStructSchema(schema)
	for _, a := range adds {
		fs := *a.s
		fs.Optional = a.spec.optional
		ns.Fields = append(ns.Fields, Field{Name: a.spec.name, Schema: &fs})
	}
	if sv == nil {
		return t.with(r, ns, nil), nil
	}
	out := &StructValue{Schema: ns, Values: append(slices.Clone(sv.Values), make([]any, len(adds))...)}
	for i, a := range adds {
		out.Values[len(sv.Values)+i] = a.value
	}
	return t.with(r, ns, out), nil
}

// copyStructSchema copies a struct schema's header (name, version, doc, optional) and fields.
func copyStructSchema(s *Schema) *Schema {
	c := *s
	c.Fields = slices.Clone(s.Fields)
	c.Default = nil
	return &c
}

// replaceField is ReplaceField: keeps (include) or drops (exclude) fields and renames them.
type replaceField struct {
	side
	include, exclude []string
	renames          map[string]string
}

func newReplaceField(key bool, cfg map[string]string) (Transformation, error) {
	t := &replaceField{side: side(key), renames: make(map[string]string)}
	t.include = aliases(cfg["include"] + "," + cfg["whitelist"])
	t.exclude = aliases(cfg["exclude"] + "," + cfg["blacklist"])
	for _, r := range aliases(cfg["renames"]) {
		from, to, ok := strings.Cut(r, ":")
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("invalid value %s for configuration renames: expected old:new pairs", cfg["renames"])
		}
		t.renames[from] = to
	}
	return t, nil
}

func (t *replaceField) keep(name string) bool {
	return !slices.Contains(t.exclude, name) && (len(t.include) == 0 || slices.Contains(t.include, name))
}

func (t *replaceField) rename(name string) string {
	if n, ok := t.renames[name]; ok {
		return n
	}
	return name
}

func (t *replaceField) Apply(r *Record) (*Record, error) {
	schema, v := t.get(r)
	if schema == nil {
		if v == nil {
			return r, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("only Map objects supported in absence of schema for [field replacement], found: %T", v)
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			if t.keep(k) {
				out[t.rename(k)] = x
			}
		}
		return t.with(r, nil, out), nil
	}
	if schema.Type != Struct {
		return nil, fmt.Errorf("only Struct objects supported for [field replacement], found schema type %s", schema.Type)
	}
	ns := copyStructSchema(schema)
	ns.Fields = nil
	var idx []int
	for i, f := range schema.Fields {
		if t.keep(f.Name) {
			ns.Fields = append(ns.Fields, Field{Name: t.rename(f.Name), Schema: f.Schema})
			idx = append(idx, i)
		}
	}
	sv, _ := v.(*StructValue)
	if sv == nil {
		return t.with(r, ns, nil), nil
	}
	out := &StructValue{Schema: ns, Values: make([]any, len(idx))}
	for j, i := range idx {
		out.Values[j] = sv.Values[i]
	}
	return t.with(r, ns, out), nil
}

// extractField is ExtractField: replaces the key or value with one of its fields.
type extractField struct {
	side
	field string
}

func newExtractField(key bool, cfg map[string]string) (Transformation, error) {
	if cfg["field"] == "" {
		return nil, errors.New(`missing required configuration "field" which has no default value`)
	}
	return &extractField{side(key), cfg["field"]}, nil
}

func (t *extractField) Apply(r *Record) (*Record, error) {
	schema, v := t.get(r)
	if schema == nil {
		if v == nil {
			return t.with(r, nil, nil), nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("only Map objects supported in absence of schema for [field extraction], found: %T", v)
		}
		return t.with(r, nil, m[t.field]), nil
	}
	f, i := schema.Field(t.field)
	if schema.Type != Struct || i < 0 {
		return nil, fmt.Errorf("unknown field: %s", t.field)
	}
	sv, _ := v.(*StructValue)
	if sv == nil {
		return t.with(r, f.Schema, nil), nil
	}
	return t.with(r, f.Schema, sv.Values[i]), nil
}

// valueToKey is ValueToKey: the key becomes a struct (or map) of some of the value's fields.
type valueToKey struct{ fields []string }

func newValueToKey(_ bool, cfg map[string]string) (Transformation, error) {
	f := aliases(cfg["fields"])
	if len(f) == 0 {
		return nil, errors.New(`missing required configuration "fields" which has no default value`)
	}
	return &valueToKey{f}, nil
}

func (t *valueToKey) Apply(r *Record) (*Record, error) {
	out := *r
	if r.ValueSchema == nil {
		m, ok := r.Value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("only Map objects supported in absence of schema for [copying fields from value to key], found: %T", r.Value)
		}
		key := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			key[f] = m[f]
		}
		out.KeySchema, out.Key = nil, key
		return &out, nil
	}
	sv, ok := r.Value.(*StructValue)
	if !ok {
		return nil, fmt.Errorf("only Struct objects supported for [copying fields from value to key], found: %T", r.Value)
	}
	ks := &Schema{Type: Struct}
	key := &StructValue{Schema: ks}
	for _, name := range t.fields {
		f, i := r.ValueSchema.Field(name)
		if i < 0 {
			return nil, fmt.Errorf("field does not exist: %s", name)
		}
		ks.Fields = append(ks.Fields, f)
		key.Values = append(key.Values, sv.Values[i])
	}
	out.KeySchema, out.Key = ks, key
	return &out, nil
}

// regexRouter is RegexRouter: renames the topic when the whole name matches regex.
type regexRouter struct {
	re          *regexp.Regexp
	replacement string
}

func newRegexRouter(_ bool, cfg map[string]string) (Transformation, error) {
	re, err := regexp.Compile(`^(?:` + cfg["regex"] + `)$`)
	if err != nil || cfg["regex"] == "" {
		return nil, fmt.Errorf("invalid value %s for configuration regex: not a valid regular expression", cfg["regex"])
	}
	if _, ok := cfg["replacement"]; !ok {
		return nil, errors.New(`missing required configuration "replacement" which has no default value`)
	}
	return &regexRouter{re, cfg["replacement"]}, nil
}

func (t *regexRouter) Apply(r *Record) (*Record, error) {
	m := t.re.FindStringSubmatchIndex(r.Topic)
	if m == nil {
		return r, nil
	}
	out := *r
	out.Topic = string(t.re.ExpandString(nil, t.replacement, r.Topic, m))
	return &out, nil
}

// timestampRouter is TimestampRouter: topic.format with ${topic} and ${timestamp} (the
// record's timestamp in timestamp.format, Java SimpleDateFormat letters y M d H m s).
type timestampRouter struct{ topicFormat, layout string }

func newTimestampRouter(_ bool, cfg map[string]string) (Transformation, error) {
	tf, ok := cfg["topic.format"]
	if !ok {
		tf = "${topic}-${timestamp}"
	}
	df, ok := cfg["timestamp.format"]
	if !ok {
		df = "yyyyMMdd"
	}
	layout := strings.NewReplacer("yyyy", "2006", "yy", "06", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05", "SSS", "000").Replace(df)
	return &timestampRouter{tf, layout}, nil
}

func (t *timestampRouter) Apply(r *Record) (*Record, error) {
	if r.Timestamp.IsZero() {
		return nil, fmt.Errorf("timestamp missing on record: topic %s", r.Topic)
	}
	out := *r
	out.Topic = strings.NewReplacer("${topic}", r.Topic, "${timestamp}", r.Timestamp.UTC().Format(t.layout)).Replace(t.topicFormat)
	return &out, nil
}

// filter is Filter: drops every record its predicate selects.
type filter struct{}

func (filter) Apply(*Record) (*Record, error) { return nil, nil }

// topicNameMatches is the TopicNameMatches predicate: the whole topic name matches pattern.
type topicNameMatches struct{ re *regexp.Regexp }

func newTopicNameMatches(cfg map[string]string) (Predicate, error) {
	re, err := regexp.Compile(`^(?:` + cfg["pattern"] + `)$`)
	if err != nil || cfg["pattern"] == "" {
		return nil, fmt.Errorf("invalid value %s for configuration pattern: entry must be a non-empty valid regular expression", cfg["pattern"])
	}
	return topicNameMatches{re}, nil
}

func (p topicNameMatches) Test(r *Record) bool { return p.re.MatchString(r.Topic) }

// recordIsTombstone is the RecordIsTombstone predicate.
type recordIsTombstone struct{}

func (recordIsTombstone) Test(r *Record) bool { return r.Value == nil }

// hasHeaderKey is the HasHeaderKey predicate.
type hasHeaderKey struct{ name string }

func newHasHeaderKey(cfg map[string]string) (Predicate, error) {
	if cfg["name"] == "" {
		return nil, errors.New("invalid value for configuration name: must be non-empty")
	}
	return hasHeaderKey{cfg["name"]}, nil
}

func (p hasHeaderKey) Test(r *Record) bool {
	return slices.ContainsFunc(r.Headers, func(h Header) bool { return h.Key == p.name })
}
