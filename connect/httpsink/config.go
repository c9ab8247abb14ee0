package httpsink

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/logd/logd/connect"
)

// The property names (Confluent's HTTP sink's).
const (
	propURL          = "http.api.url"
	propMethod       = "request.method"
	propHeaders      = "headers"
	propHeaderSep    = "header.separator"
	propFormat       = "request.body.format"
	propAsArray      = "batch.json.as.array"
	propPrefix       = "batch.prefix"
	propSuffix       = "batch.suffix"
	propSeparator    = "batch.separator"
	propBatchMax     = "batch.max.size"
	propMaxRetries   = "max.retries"
	propBackoff      = "retry.backoff.ms"
	propPolicy       = "retry.backoff.policy"
	propRetryCodes   = "retry.on.status.codes"
	propOnError      = "behavior.on.error"
	propOnNull       = "behavior.on.null.values"
	propAuthType     = "auth.type"
	propUser         = "connection.user"
	propPassword     = "connection.password"
	propConnTimeout  = "http.connect.timeout.ms"
	propReqTimeout   = "http.request.timeout.ms"
	maxBackoff       = time.Minute
	defaultRetryList = "408,429,500-"
)

// config is a parsed, validated connector configuration.
type config struct {
	url                     string
	method                  string
	headers                 http.Header
	jsonBody, asArray       bool
	prefix, suffix, sep     string
	batchMax                int
	maxRetries              int
	backoff                 time.Duration
	exponential             bool
	retryOn                 []statusRange
	onError                 string // fail, log, ignore
	failOnNull              bool
	user, password          string // auth.type=BASIC
	basic                   bool
	connTimeout, reqTimeout time.Duration
}

// statusRange is one entry of retry.on.status.codes: lo..hi inclusive.
type statusRange struct{ lo, hi int }

// retried reports whether an answer with this status is retried.
func (c *config) retried(status int) bool {
	for _, r := range c.retryOn {
		if status >= r.lo && status <= r.hi {
			return true
		}
	}
	return false
}

// parseConfig reads and checks every property; the errors name the property and the value.
func parseConfig(props map[string]string) (*config, []connect.ConfigError) {
	var errs []connect.ConfigError
	bad := func(name, format string, args ...any) {
		errs = append(errs, connect.ConfigError{Name: name, Message: fmt.Sprintf(format, args...)})
	}
	get := func(name, def string) string {
		if v, ok := props[name]; ok {
			return strings.TrimSpace(v)
		}
		return def
	}
	choice := func(name, def string, allowed ...string) string {
		v := strings.ToLower(get(name, def))
		for _, a := range allowed {
			if v == strings.ToLower(a) {
				return a
			}
		}
		bad(name, "Invalid value %s for configuration %s: must be one of %s", props[name], name, strings.Join(allowed, ", "))
		return def
	}
	integer := func(name string, def, lo int) int {
		s := get(name, strconv.Itoa(def))
		n, err := strconv.Atoi(s)
		if err != nil || n < lo {
			bad(name, "Invalid value %s for configuration %s: must be an integer of at least %d", s, name, lo)
			return def
		}
		return n
	}
	boolean := func(name string, def bool) bool {
		s := get(name, strconv.FormatBool(def))
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad(name, "Invalid value %s for configuration %s: expected true or false", s, name)
			return def
		}
		return b
	}
	c := &config{headers: make(http.Header)}

	switch raw, ok := props[propURL]; {
	case !ok:
		bad(propURL, "Missing required configuration %q which has no default value.", propURL)
	default:
		c.url = strings.TrimSpace(raw)
		u, err := url.Parse(c.url)
		switch {
		case err != nil:
			bad(propURL, "Invalid value %s for configuration %s: %v", raw, propURL, err)
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			bad(propURL, "Invalid value %s for configuration %s: must be an absolute http:// or https:// URL", raw, propURL)
		case strings.Contains(c.url, "${"):
			bad(propURL, "Invalid value %s for configuration %s: ${topic} and ${key} substitution is not supported", raw, propURL)
		}
	}
	c.method = choice(propMethod, http.MethodPost, http.MethodPost, http.MethodPut, http.MethodPatch)
	sep := get(propHeaderSep, "|")
	if sep == "" {
		bad(propHeaderSep, "Invalid value for configuration %s: must not be empty", propHeaderSep)
		sep = "|"
	}
	if hs := get(propHeaders, ""); hs != "" {
		for _, h := range strings.Split(hs, sep) {
			name, value, ok := strings.Cut(h, ":")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
				bad(propHeaders, "Invalid header %q in %s: expected Name:Value pairs separated by %q", h, propHeaders, sep)
				continue
			}
			c.headers.Add(name, strings.TrimSpace(value))
		}
	}
	c.jsonBody = choice(propFormat, "json", "json", "string") == "json"
	c.asArray = boolean(propAsArray, true)
	if c.asArray && !c.jsonBody {
		bad(propAsArray, "%s=true needs %s=json", propAsArray, propFormat)
	}
	c.prefix, c.suffix, c.sep = props[propPrefix], props[propSuffix], ","
	if v, ok := props[propSeparator]; ok {
		c.sep = v
	}
	c.batchMax = integer(propBatchMax, 100, 1)
	c.maxRetries = integer(propMaxRetries, 10, 0)
	c.backoff = time.Duration(integer(propBackoff, 3000, 0)) * time.Millisecond
	c.exponential = choice(propPolicy, "EXPONENTIAL_WITH_JITTER", "EXPONENTIAL_WITH_JITTER", "CONSTANT_VALUE") == "EXPONENTIAL_WITH_JITTER"
	codes := get(propRetryCodes, defaultRetryList)
	var err error
	if c.retryOn, err = parseStatusRanges(codes); err != nil {
		bad(propRetryCodes, "Invalid value %s for configuration %s: %v", codes, propRetryCodes, err)
	}
	c.onError = choice(propOnError, "fail", "fail", "log", "ignore")
	c.failOnNull = choice(propOnNull, "ignore", "ignore", "fail") == "fail"
	c.basic = choice(propAuthType, "NONE", "NONE", "BASIC") == "BASIC"
	if c.basic {
		c.user, c.password = props[propUser], props[propPassword]
		if c.user == "" {
			bad(propUser, "%s=BASIC needs %s", propAuthType, propUser)
		}
	}
	c.connTimeout = time.Duration(integer(propConnTimeout, 30000, 1)) * time.Millisecond
	c.reqTimeout = time.Duration(integer(propReqTimeout, 30000, 1)) * time.Millisecond
	return c, errs
}

// parseStatusRanges parses "408,429,500-" or "500-599": codes and ranges, "N-" meaning N and up.
func parseStatusRanges(s string) ([]statusRange, error) {
	var out []statusRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		r := statusRange{}
		var err error
		if r.lo, err = strconv.Atoi(strings.TrimSpace(lo)); err != nil || r.lo < 100 || r.lo > 599 {
			return nil, fmt.Errorf("%q is not a status code from 100 to 599", lo)
		}
		r.hi = r.lo
		if isRange {
			r.hi = 599
			if hi = strings.TrimSpace(hi); hi != "" {
				if r.hi, err = strconv.Atoi(hi); err != nil || r.hi < r.lo || r.hi > 599 {
					return nil, fmt.Errorf("%q is not a range of status codes", part)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}
