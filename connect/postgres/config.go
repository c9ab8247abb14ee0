package postgres

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logd/logd/connect"
)

// configReader reads typed properties from a connector configuration, collecting one
// ConfigError per bad property instead of stopping at the first.
type configReader struct {
	cfg  map[string]string
	errs []connect.ConfigError
}

func (r *configReader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, connect.ConfigError{Name: name, Message: fmt.Sprintf(format, args...)})
}

// str returns the property's trimmed value, or def when unset or empty.
func (r *configReader) str(name, def string) string {
	if v := strings.TrimSpace(r.cfg[name]); v != "" {
		return v
	}
	return def
}

// required returns the property's value and reports it missing when empty.
func (r *configReader) required(name string) string {
	v := r.str(name, "")
	if v == "" {
		r.fail(name, "%s is required", name)
	}
	return v
}

// oneOf returns the property's value (lower-cased), which must be one of allowed.
func (r *configReader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "%s=%q is not one of %s", name, r.cfg[name], strings.Join(allowed, ", "))
	return def
}

// integer returns the property as an int within [lo, hi].
func (r *configReader) integer(name string, def, lo, hi int) int {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		r.fail(name, "%s=%q must be an integer between %d and %d", name, s, lo, hi)
		return def
	}
	return v
}

// boolean returns the property as a bool ("true" or "false", any case).
func (r *configReader) boolean(name string, def bool) bool {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	}
	r.fail(name, "%s=%q must be true or false", name, s)
	return def
}

// list returns the comma-separated property as trimmed, non-empty items.
func (r *configReader) list(name string) []string {
	var out []string
	for _, item := range strings.Split(r.cfg[name], ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// regexList compiles a comma-separated list of regular expressions the way Debezium's
// include/exclude lists are matched: each against the whole identifier, case-insensitively.
func (r *configReader) regexList(name string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, item := range r.list(name) {
		re, err := regexp.Compile("(?i)^(?:" + item + ")$")
		if err != nil {
			r.fail(name, "%s: %q is not a valid regular expression: %v", name, item, err)
			continue
		}
		out = append(out, re)
	}
	return out
}

// sourceConfig is the parsed configuration of the change capture source, with Debezium's
// property names.
type sourceConfig struct {
	host, user, password, dbname string
	port                         int
	prefix                       string
	include, exclude             []*regexp.Regexp
	slot, publication            string
	pubMode                      string // all_tables, filtered, disabled
	snapshotMode                 string // initial, initial_only, no_data, always
	heartbeat                    time.Duration
	heartbeatTopic               string
	tombstones                   bool
	decimalMode                  string // precise, double, string
	timeMode                     string // adaptive, adaptive_time_microseconds, connect
}

// slotNameRE is PostgreSQL's rule for replication slot names.
var slotNameRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func parseSourceConfig(cfg map[string]string) (*sourceConfig, []connect.ConfigError) {
	r := &configReader{cfg: cfg}
	c := &sourceConfig{
		host:         r.required("database.hostname"),
		port:         r.integer("database.port", 5432, 1, 65535),
		user:         r.required("database.user"),
		password:     r.str("database.password", ""),
		dbname:       r.required("database.dbname"),
		prefix:       r.required("topic.prefix"),
		include:      r.regexList("table.include.list"),
		exclude:      r.regexList("table.exclude.list"),
		slot:         r.str("slot.name", "debezium"),
		publication:  r.str("publication.name", "dbz_publication"),
		pubMode:      r.oneOf("publication.autocreate.mode", "all_tables", "all_tables", "filtered", "disabled"),
		snapshotMode: r.oneOf("snapshot.mode", "initial", "initial", "initial_only", "never", "no_data", "always"),
		heartbeat:    time.Duration(r.integer("heartbeat.interval.ms", 0, 0, 1<<31-1)) * time.Millisecond,
		tombstones:   r.boolean("tombstones.on.delete", true),
		decimalMode:  r.oneOf("decimal.handling.mode", "precise", "precise", "double", "string"),
		timeMode:     r.oneOf("time.precision.mode", "adaptive", "adaptive", "adaptive_time_microseconds", "connect"),
	}
	if c.snapshotMode == "never" {
		c.snapshotMode = "no_data" // Debezium's older name for the same mode
	}
	c.heartbeatTopic = r.str("topic.heartbeat.prefix", "__debezium-heartbeat") + "." + c.prefix
	if p := r.str("plugin.name", "pgoutput"); p != "pgoutput" {
		r.fail("plugin.name", "plugin.name=%q is not supported: only pgoutput (built into PostgreSQL 10+) is", p)
	}
	if !slotNameRE.MatchString(c.slot) {
		r.fail("slot.name", "slot.name=%q must be 1 to 63 lower-case letters, digits or underscores", c.slot)
	}
	if len(r.cfg["table.include.list"]) > 0 && len(r.cfg["table.exclude.list"]) > 0 {
		r.fail("table.exclude.list", "table.include.list and table.exclude.list cannot both be set")
	}
	if c.prefix != "" && !validTopic(c.prefix) {
		r.fail("topic.prefix", "topic.prefix=%q may hold only letters, digits, '.', '_' and '-'", c.prefix)
	}
	if n := r.integer("tasks.max", 1, 1, 1<<31-1); n < 1 {
		r.fail("tasks.max", "tasks.max must be at least 1")
	}
	return c, r.errs
}

// captured reports whether the table schema.table is selected by the include/exclude lists.
func (c *sourceConfig) captured(schema, table string) bool {
	id := schema + "." + table
	if len(c.include) > 0 {
		for _, re := range c.include {
			if re.MatchString(id) {
				return true
			}
		}
		return false
	}
	for _, re := range c.exclude {
		if re.MatchString(id) {
			return false
		}
	}
	return true
}

// snapshotOrder orders tables as Debezium snapshots them: grouped by the first
// table.include.list entry that selects them, in the list's order, and by "schema.table"
// (byte order, as Java's String.compareTo) within a group; without an include list, by name.
func (c *sourceConfig) snapshotOrder(tables []tableRef) []tableRef {
	group := func(r tableRef) int {
		for i, re := range c.include {
			if re.MatchString(r.schema + "." + r.name) {
				return i
			}
		}
		return len(c.include)
	}
	out := slices.Clone(tables)
	slices.SortStableFunc(out, func(a, b tableRef) int {
		return cmp.Or(cmp.Compare(group(a), group(b)), strings.Compare(a.schema+"."+a.name, b.schema+"."+b.name))
	})
	return out
}

// connString is the libpq URL of the configured database.
func (c *sourceConfig) connString() string {
	return pgURL(c.host, c.port, c.user, c.password, c.dbname)
}

func validTopic(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return len(s) <= 249
}
