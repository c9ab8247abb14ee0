package auth

import (
	"fmt"
	"regexp"
	"strings"
)

// Anonymous is Kafka's principal of a connection that did not authenticate.
const Anonymous = "User:ANONYMOUS"

// PrincipalMapper maps a certificate subject to a user name by ssl.principal.mapping.rules.
type PrincipalMapper struct {
	rules []mappingRule
	text  string
}

type mappingRule struct {
	isDefault   bool
	pattern     *regexp.Regexp // anchored: the whole subject must match
	replacement string
	lower       bool
	upper       bool
}

// Kafka's SslPrincipalMapper grammar, unchanged (RE2 runs it with Java's leftmost-first
// semantics).
const rulePattern = `(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)`

var (
	ruleSplitter = regexp.MustCompile(`\s*(` + rulePattern + `)\s*(,\s*|$)`)
	ruleParser   = regexp.MustCompile(`^(?:` + rulePattern + `)`)
)

// NewPrincipalMapper parses ssl.principal.mapping.rules; "" is DEFAULT.
func NewPrincipalMapper(rules string) (*PrincipalMapper, error) {
	rules = strings.TrimSpace(rules)
	if rules == "" {
		rules = "DEFAULT"
	}
	m := &PrincipalMapper{text: rules}
	for _, sm := range ruleSplitter.FindAllStringSubmatch(rules, -1) {
		rule := sm[1]
		g := ruleParser.FindStringSubmatch(rule)
		if g == nil {
			return nil, fmt.Errorf("invalid rule %q", rule)
		}
		if len(g[0]) != len(rule) {
			return nil, fmt.Errorf("invalid rule %q: unmatched %q", rule, rule[len(g[0]):])
		}
		switch {
		case g[1] != "":
			m.rules = append(m.rules, mappingRule{isDefault: true})
		case strings.HasPrefix(rule, "RULE:"):
			re, err := regexp.Compile(`^(?:` + g[2] + `)$`)
			if err != nil {
				return nil, fmt.Errorf("rule %q: pattern: %v", rule, err)
			}
			m.rules = append(m.rules, mappingRule{pattern: re, replacement: g[4], lower: g[6] == "L", upper: g[6] == "U"})
		} // an empty rule is ignored, as in Kafka
	}
	return m, nil
}

// Name maps a subject (RFC 2253) to a user name, or fails when no rule applies.
func (m *PrincipalMapper) Name(subject string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return subject, nil
		}
		g := r.pattern.FindStringSubmatch(subject)
		if g == nil {
			continue
		}
		name := expand(r.replacement, g)
		switch {
		case r.lower:
			name = strings.ToLower(name)
		case r.upper:
			name = strings.ToUpper(name)
		}
		return name, nil
	}
	return "", fmt.Errorf("no rule of ssl.principal.mapping.rules %q applies to %q", m.text, subject)
}

// expand is Java's replacement syntax: $N is group N (kept literally when there is no such
// group, as Kafka escapes it), \c is c.
func expand(repl string, groups []string) string {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		switch {
		case c == '\\' && i+1 < len(repl):
			i++
			b.WriteByte(repl[i])
		case c == '$' && i+1 < len(repl) && repl[i+1] >= '0' && repl[i+1] <= '9':
			j := i + 1
			n := 0
			// Java takes digits while the group number stays valid.
			for j < len(repl) && repl[j] >= '0' && repl[j] <= '9' && n*10+int(repl[j]-'0') < len(groups) {
				n = n*10 + int(repl[j]-'0')
				j++
			}
			if j == i+1 { // no such group
				b.WriteByte(c)
				continue
			}
			b.WriteString(groups[n])
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
