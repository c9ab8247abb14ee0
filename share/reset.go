package share

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// AutoOffsetReset is a parsed share.auto.offset.reset: where a share partition starts when
// it is first used and has no persisted state.
type AutoOffsetReset struct {
	Strategy ResetStrategy
	Duration time.Duration // ResetByDuration's
}

// ResetStrategy is the kind of a share.auto.offset.reset.
type ResetStrategy int8

// The strategies.
const (
	ResetLatest   ResetStrategy = iota // the high watermark (Kafka's default)
	ResetEarliest                      // the log start
	// ResetByDuration (by_duration:<ISO-8601 duration>) starts at the first record whose
	// timestamp is at least now − Duration, as ListOffsets by timestamp finds it; the high
	// watermark when there is none.
	ResetByDuration
)

// ParseAutoOffsetReset parses a share.auto.offset.reset value as Kafka's
// ShareGroupAutoOffsetResetStrategy does: "earliest", "latest" or "by_duration:" followed by
// a non-negative java.time.Duration (PnDTnHnMn.nS, letters in either case, each number
// optionally signed). The error is Kafka's message.
func ParseAutoOffsetReset(v string) (AutoOffsetReset, error) {
	switch {
	case v == "earliest":
		return AutoOffsetReset{Strategy: ResetEarliest}, nil
	case v == "latest":
		return AutoOffsetReset{}, nil
	case strings.HasPrefix(v, "by_duration:"):
		if d, ok := parseJavaDuration(strings.TrimPrefix(v, "by_duration:")); ok && d >= 0 {
			return AutoOffsetReset{Strategy: ResetByDuration, Duration: d}, nil
		}
	}
	return AutoOffsetReset{}, fmt.Errorf("Invalid value `%s` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.", v)
}

// parseJavaDuration parses what java.time.Duration.parse accepts:
// [-+]P[nD][T[nH][nM][n[.fraction]S]], at least one part, letters in either case, each
// number optionally signed. ok is false for anything else or a duration beyond time.Duration.
func parseJavaDuration(s string) (time.Duration, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	if len(s) < 2 || (s[0] != 'P' && s[0] != 'p') {
		return 0, false
	}
	s = s[1:]
	var total float64 // seconds
	parts, inTime := 0, false
	units := "D" // the units still allowed, in order
	for s != "" {
		if s[0] == 'T' || s[0] == 't' {
			if inTime {
				return 0, false
			}
			inTime, units, s = true, "HMS", s[1:]
			if s == "" {
				return 0, false // "PT" with nothing after it
			}
			continue
		}
		i := 0
		if s[0] == '-' || s[0] == '+' {
			i++
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		num := s[:i]
		if i < len(s) && (s[i] == '.' || s[i] == ',') && inTime {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j-i-1 > 9 || j >= len(s) || (s[j] != 'S' && s[j] != 's') {
				return 0, false
			}
			num, i = s[:i]+"."+s[i+1:j], j
		}
		if i >= len(s) || num == "" || num == "-" || num == "+" {
			return 0, false
		}
		unit := strings.ToUpper(s[i : i+1])
		k := strings.Index(units, unit)
		if k < 0 {
			return 0, false
		}
		units = units[k+1:]
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, false
		}
		switch unit {
		case "D":
			total += n * 86400
		case "H":
			total += n * 3600
		case "M":
			total += n * 60
		case "S":
			total += n
		}
		parts++
		s = s[i+1:]
	}
	if parts == 0 {
		return 0, false
	}
	if neg {
		total = -total
	}
	if math.Abs(total) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, false
	}
	return time.Duration(math.Round(total * float64(time.Second))), true
}
