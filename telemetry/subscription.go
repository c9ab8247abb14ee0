package telemetry

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config names of a client-metrics resource (Kafka's ClientMetricsConfigs).
const (
	// ConfigMetrics lists the metric name prefixes the matching clients push ("*": all).
	ConfigMetrics = "metrics"
	// ConfigInterval is the push interval in milliseconds.
	ConfigInterval = "interval.ms"
	// ConfigMatch lists the selectors ("client_id=regex", …) a client must all match.
	ConfigMatch = "match"
)

// Selector names of the match config: the client attributes a regular expression is matched
// against (the whole attribute must match, as Java's Matcher.matches).
const (
	MatchClientInstanceID    = "client_instance_id"
	MatchClientID            = "client_id"
	MatchClientSoftwareName  = "client_software_name"
	MatchClientSoftwareVer   = "client_software_version"
	MatchClientSourceAddress = "client_source_address"
	MatchClientSourcePort    = "client_source_port"
)

// AllMetrics in ConfigMetrics subscribes to every metric.
const AllMetrics = "*"

// Push interval bounds (Kafka's ClientMetricsConfigs): a client no subscription matches is told
// DefaultInterval, and asks again after it.
const (
	DefaultInterval = 5 * time.Minute
	MinInterval     = 100 * time.Millisecond
	MaxInterval     = time.Hour
)

// Errors of a subscription's configs. ErrInvalidRequest is Kafka's answer to an unknown config
// name or an interval out of range (INVALID_REQUEST), ErrInvalidConfig to a value that does not
// parse or an illegal match selector (INVALID_CONFIG).
var (
	ErrInvalidConfig = errors.New("invalid client metrics config")
)

var matchSelectors = []string{MatchClientInstanceID, MatchClientID, MatchClientSoftwareName, MatchClientSoftwareVer,
	MatchClientSourceAddress, MatchClientSourcePort}

// Subscription is one client-metrics resource, parsed: which clients it applies to, what they
// push and how often.
type Subscription struct {
	// Name is the resource's name (kafka-client-metrics --name).
	Name string
	// Metrics are the metric name prefixes requested; AllMetrics alone for every metric.
	Metrics []string
	// Interval is how often the matching clients push.
	Interval time.Duration
	// match maps a selector to its anchored pattern; empty matches every client.
	match map[string]*regexp.Regexp
}

// ParseSubscription validates a client-metrics resource's configs as Kafka's
// ClientMetricsConfigs.validate does and parses them. Unset configs take Kafka's defaults: no
// metrics, DefaultInterval, every client.
func ParseSubscription(name string, configs map[string]string) (Subscription, error) {
	s := Subscription{Name: name, Interval: DefaultInterval}
	if name == "" {
		return s, fmt.Errorf("%w: a client metrics subscription needs a name", ErrInvalidRequest)
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		v := configs[k]
		switch k {
		case ConfigMetrics:
			s.Metrics = splitList(v)
		case ConfigInterval:
			ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return s, fmt.Errorf("%w: %s %q is not an integer", ErrInvalidConfig, k, v)
			}
			s.Interval = time.Duration(ms) * time.Millisecond
			if s.Interval < MinInterval || s.Interval > MaxInterval {
				return s, fmt.Errorf("%w: invalid value %d for %s, interval must be between 100 and 3600000 (1 hour)", ErrInvalidRequest, ms, k)
			}
		case ConfigMatch:
			m, err := parseMatch(splitList(v))
			if err != nil {
				return s, err
			}
			s.match = m
		default:
			return s, fmt.Errorf("%w: unknown client metrics configuration %q (known: %s, %s, %s)", ErrInvalidRequest, k, ConfigMetrics, ConfigInterval, ConfigMatch)
		}
	}
	return s, nil
}

// parseMatch parses match selectors "name=regex": the name one of the selectors, the value a
// regular expression (RE2 syntax: Java's back references and look-arounds are refused), the
// whole split at "=" in exactly two parts as Kafka splits it.
func parseMatch(items []string) (map[string]*regexp.Regexp, error) {
	m := make(map[string]*regexp.Regexp, len(items))
	for _, item := range items {
		parts := strings.Split(item, "=")
		for len(parts) > 0 && parts[len(parts)-1] == "" { // Java's split drops trailing empty strings
			parts = parts[:len(parts)-1]
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("%w: illegal client matching pattern %q: want selector=regex", ErrInvalidConfig, item)
		}
		sel := strings.TrimSpace(parts[0])
		if !slices.Contains(matchSelectors, sel) {
			return nil, fmt.Errorf("%w: illegal client matching pattern %q: selector %q is none of %s", ErrInvalidConfig, item, sel, strings.Join(matchSelectors, ", "))
		}
		re, err := regexp.Compile(`^(?:` + strings.TrimSpace(parts[1]) + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%w: illegal client matching pattern %q: %v", ErrInvalidConfig, item, err)
		}
		m[sel] = re
	}
	return m, nil
}

// splitList splits a list config ("a, b") into its trimmed, non-empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// matches reports whether a client with attributes attrs (selector → value; a missing one
// matches nothing) is selected: every selector matches, and no selector selects every client.
func (s *Subscription) matches(attrs map[string]string) bool {
	for sel, re := range s.match {
		v, ok := attrs[sel]
		if !ok || !re.MatchString(v) {
			return false
		}
	}
	return true
}
