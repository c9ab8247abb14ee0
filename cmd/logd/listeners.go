package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logd/logd/auth"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
)

// listenerAddr is one item of listeners or advertised.listeners: NAME://HOST:PORT, or
// HOST:PORT (logd's older form, name "").
type listenerAddr struct {
	name string
	host string
	port uint16
}

func (l listenerAddr) addr() string { return net.JoinHostPort(l.host, strconv.Itoa(int(l.port))) }

// parseListeners parses a listeners or advertised.listeners value. Names are upper-cased,
// as Kafka's ListenerName normalises them; a name may appear once.
func parseListeners(v string) ([]listenerAddr, error) {
	items := splitComma(v)
	if len(items) == 0 {
		return nil, fmt.Errorf("%q names no listener (the form is NAME://HOST:PORT,...)", v)
	}
	var out []listenerAddr
	for _, item := range items {
		var l listenerAddr
		addr := item
		if i := strings.Index(item, "://"); i >= 0 {
			l.name, addr = strings.ToUpper(item[:i]), item[i+3:]
			if !validListenerName(l.name) {
				return nil, fmt.Errorf("%q: listener name %q must be letters, digits and _", item, item[:i])
			}
		}
		host, portStr, err := net.SplitHostPort(addr)
		port, perr := strconv.ParseUint(portStr, 10, 16)
		if err != nil || perr != nil {
			return nil, fmt.Errorf("%q is not NAME://HOST:PORT (for example PLAINTEXT://127.0.0.1:9092)", item)
		}
		l.host, l.port = host, uint16(port)
		if slices.ContainsFunc(out, func(o listenerAddr) bool { return o.name == l.name }) {
			return nil, fmt.Errorf("%q: listener %s is named twice", v, l.displayName())
		}
		out = append(out, l)
	}
	return out, nil
}

func (l listenerAddr) displayName() string {
	if l.name == "" {
		return "PLAINTEXT"
	}
	return l.name
}

func validListenerName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseProtocolMap parses listener.security.protocol.map: NAME:PROTOCOL,... where PROTOCOL is
// one of Kafka's four. Unset, it is Kafka's default: each protocol names its own listener.
func parseProtocolMap(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range metadata.SecurityProtocols {
		m[p] = p
	}
	if strings.TrimSpace(v) == "" {
		return m, nil
	}
	m = map[string]string{}
	for _, item := range splitComma(v) {
		name, proto, ok := strings.Cut(item, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || !validListenerName(name) {
			return nil, fmt.Errorf("%q is not NAME:PROTOCOL (for example INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL)", item)
		}
		if metadata.SecurityProtocolID(proto) < 0 {
			return nil, fmt.Errorf("%q: %s is not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", item, proto)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%q maps listener %s twice", v, name)
		}
		m[name] = proto
	}
	return m, nil
}

// listener is one client listener serve opens: its name, protocol, the address it binds and
// the address it advertises.
type listener struct {
	metadata.Endpoint        // name, protocol, advertised host and port
	bind              string // HOST:PORT to listen on
}

// listenerPlan is what serve opens: the client listeners (the inter-broker one first) and the
// metadata quorum's address from controller.listener.names ("" if none).
type listenerPlan struct {
	clients    []listener
	controller string
	// controllerListener is the controller listener's name and protocol (PLAINTEXT when
	// listener.security.protocol.map does not name it); bind is controller.
	controllerListener listener
}

func (l listener) tls() bool  { return l.Protocol == "SSL" || l.Protocol == "SASL_SSL" }
func (l listener) sasl() bool { return strings.HasPrefix(l.Protocol, "SASL_") }

// tlsConfigs loads each TLS listener's configuration: the ssl.* settings, with
// listener.name.<name>.ssl.client.auth overriding ssl.client.auth. A SASL_SSL listener
// authenticates by SASL, so the broker-wide ssl.client.auth does not apply to it (Kafka's
// KIP-684): only its listener-prefixed setting asks for client certificates there.
func tlsConfigs(st serveSettings, plan listenerPlan, log *slog.Logger) (map[string]*auth.TLS, error) {
	out := map[string]*auth.TLS{}
	for _, l := range plan.clients {
		if !l.tls() {
			continue
		}
		set := st.TLS
		if l.sasl() {
			set.ClientAuth = ""
		}
		if v := st.PerListener["listener.name."+strings.ToLower(l.Name)+".ssl.client.auth"]; v != "" {
			set.ClientAuth = v
		}
		t, err := auth.NewTLS(set, log)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %v", l.Name, err)
		}
		out[l.Name] = t
	}
	return out, nil
}

// saslConfig is the SASL listeners' mechanisms and credentials (nil without a SASL listener):
// listener.name.<name>.sasl.enabled.mechanisms, else sasl.enabled.mechanisms, else PLAIN;
// PLAIN's users from listener.name.<name>.plain.sasl.jaas.config; OAUTHBEARER's validator
// from sasl.oauthbearer.* (its JWKS loaded now, refresh failures logged to log, if not nil).
// The caller closes it.
func saslConfig(st serveSettings, plan listenerPlan, log *slog.Logger) (*auth.SASL, error) {
	ls := map[string]*auth.ListenerSASL{}
	var oauth *auth.OAuthValidator
	for _, l := range plan.clients {
		if !l.sasl() {
			continue
		}
		cfg, err := listenerSASL(st, l.Name, &oauth, log)
		if err != nil {
			if oauth != nil {
				oauth.Close()
			}
			return nil, err
		}
		ls[l.Name] = cfg
	}
	if len(ls) == 0 {
		return nil, nil
	}
	s, err := auth.NewSASL(ls)
	if err != nil && oauth != nil {
		oauth.Close()
	}
	return s, err
}

// listenerSASL is the SASL configuration of the listener called name: its mechanisms
// (listener.name.<name>.sasl.enabled.mechanisms, else sasl.enabled.mechanisms, else PLAIN),
// their connections.max.reauth.ms, PLAIN's users and, if OAUTHBEARER is enabled, the
// validator *oauth (created on first use; the caller closes it).
func listenerSASL(st serveSettings, name string, oauth **auth.OAuthValidator, log *slog.Logger) (*auth.ListenerSASL, error) {
	prefix := "listener.name." + strings.ToLower(name) + "."
	mechs := st.PerListener[prefix+"sasl.enabled.mechanisms"]
	if mechs == "" {
		mechs = st.SASLMechanisms
	}
	if mechs == "" {
		mechs = auth.MechPlain
	}
	cfg := &auth.ListenerSASL{MaxReauth: map[string]time.Duration{}}
	for _, m := range splitComma(mechs) {
		m = strings.ToUpper(m)
		cfg.Enabled = append(cfg.Enabled, m)
		cfg.MaxReauth[m] = st.MaxReauth
		key := prefix + strings.ToLower(m) + ".connections.max.reauth.ms"
		if v, ok := st.PerListener[key]; ok {
			n, err := parseWhole(v, 0, math.MaxInt64)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", key, err)
			}
			cfg.MaxReauth[m] = scaleDuration(n, time.Millisecond)
		}
	}
	if err := checkLoginModules(st, prefix); err != nil {
		return nil, err
	}
	if jaas := st.PerListener[prefix+"plain.sasl.jaas.config"]; jaas != "" {
		users, err := auth.PlainUsers(jaas)
		if err != nil {
			return nil, fmt.Errorf("%splain.sasl.jaas.config: %v", prefix, err)
		}
		cfg.Plain = users
	}
	if slices.Contains(cfg.Enabled, auth.MechOAuthBearer) {
		if *oauth == nil {
			v, err := auth.NewOAuthValidator(st.OAuth, func(err error) {
				if log != nil {
					log.Warn("OAUTHBEARER: could not refresh the JWKS; the previous keys stay in use", "err", err)
				}
			})
			if err != nil {
				return nil, err
			}
			*oauth = v
		}
		cfg.OAuth = *oauth
	}
	return cfg, nil
}

// planListeners checks the listener settings against each other (Kafka's rules) and returns
// what to open. Errors are usage errors naming the setting at fault.
func planListeners(st serveSettings) (listenerPlan, error) {
	var plan listenerPlan
	protos, err := parseProtocolMap(st.ProtocolMap)
	if err != nil {
		return plan, fmt.Errorf("listener.security.protocol.map: %v", err)
	}
	controllers := map[string]bool{}
	for _, n := range splitComma(st.ControllerNames) {
		controllers[strings.ToUpper(n)] = true
	}
	binds, err := parseListeners(st.Listen)
	if err != nil {
		return plan, fmt.Errorf("listeners: %v", err)
	}
	var adverts []listenerAddr
	if strings.TrimSpace(st.Advertise) != "" {
		if adverts, err = parseListeners(st.Advertise); err != nil {
			return plan, fmt.Errorf("advertised.listeners: %v", err)
		}
	}
	for _, b := range binds {
		name := b.displayName()
		if controllers[name] {
			// The metadata quorum's address; logd speaks Raft there, not the Kafka protocol.
			if plan.controller != "" {
				return plan, fmt.Errorf("controller.listener.names: logd's metadata quorum listens on one address; %s and another listener are both named", name)
			}
			plan.controller = b.addr()
			plan.controllerListener = listener{Endpoint: metadata.Endpoint{Name: name, Protocol: cmp.Or(protos[name], "PLAINTEXT")}, bind: b.addr()}
			continue
		}
		proto, ok := protos[name]
		if !ok {
			return plan, fmt.Errorf("listeners: listener %s has no security protocol in listener.security.protocol.map", name)
		}
		plan.clients = append(plan.clients, listener{Endpoint: metadata.Endpoint{Name: name, Protocol: proto}, bind: b.addr()})
	}
	if len(plan.clients) == 0 {
		return plan, fmt.Errorf("listeners: %q has no client listener (every one is in controller.listener.names)", st.Listen)
	}
	for _, a := range adverts {
		i := slices.IndexFunc(plan.clients, func(l listener) bool { return l.Name == a.displayName() })
		if a.name == "" && len(plan.clients) == 1 {
			i = 0 // HOST:PORT alone: the one client listener (logd's older form)
		}
		if i < 0 {
			if controllers[a.displayName()] {
				continue // Kafka lets controllers advertise; logd's quorum needs no advertising
			}
			if a.name == "" {
				return plan, fmt.Errorf("advertised.listeners: %q names no listener; with several listeners write NAME://HOST:PORT", a.addr())
			}
			return plan, fmt.Errorf("advertised.listeners: %s is not in listeners", a.name)
		}
		if a.port == 0 {
			return plan, fmt.Errorf("advertised.listeners: %q is not HOST:PORT with a port from 1 to 65535", a.addr())
		}
		plan.clients[i].Host, plan.clients[i].Port = a.host, int32(a.port)
		if err := checkAdvertised(&plan.clients[i]); err != nil {
			return plan, err
		}
	}
	inter := strings.ToUpper(strings.TrimSpace(st.InterBrokerListener))
	if p := strings.ToUpper(strings.TrimSpace(st.InterBrokerProtocol)); p != "" {
		if inter != "" {
			return plan, fmt.Errorf("security.inter.broker.protocol: set only one of it and inter.broker.listener.name (as Kafka)")
		}
		inter = p
	}
	if inter == "" {
		inter = plan.clients[0].Name
		if slices.ContainsFunc(plan.clients, func(l listener) bool { return l.Name == "PLAINTEXT" }) {
			inter = "PLAINTEXT" // Kafka's default: security.inter.broker.protocol's listener
		}
	}
	i := slices.IndexFunc(plan.clients, func(l listener) bool { return l.Name == inter })
	if i < 0 {
		return plan, fmt.Errorf("inter.broker.listener.name: %s is not a client listener in listeners", inter)
	}
	plan.clients[0], plan.clients[i] = plan.clients[i], plan.clients[0]
	return plan, nil
}

// advertise fills in the advertised address of a listener advertised.listeners did not
// name: its bound address (the bound port when it bound port 0), and for a listener bound to
// every interface with no host, this machine's host name, as Kafka does. Binding to 0.0.0.0
// or :: advertises nothing a client can reach, so it must be advertised explicitly.
func (l *listener) advertise(bound net.Addr) error {
	if l.Host != "" { // from advertised.listeners
		return checkAdvertised(l)
	}
	_, boundPort, _ := net.SplitHostPort(bound.String())
	host, _, _ := net.SplitHostPort(l.bind)
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("advertised.listeners: listener %s binds every interface and this machine has no host name (%v): advertise %s://HOST:PORT", l.Name, err, l.Name)
		}
		host = h
	}
	p, _ := strconv.Atoi(boundPort)
	l.Host, l.Port = host, int32(p)
	return checkAdvertised(l)
}

func checkAdvertised(l *listener) error {
	if l.Host == "0.0.0.0" || l.Host == "::" {
		return fmt.Errorf("advertised.listeners: listener %s would advertise %s, which no client can reach: advertise %s://HOST:PORT (--advertise HOST:PORT)",
			l.Name, net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))), l.Name)
	}
	return nil
}

// kafkaLoginModules are the JAAS login modules of Kafka's SCRAM and OAUTHBEARER listener
// settings (listener.name.<name>.<mechanism>.sasl.jaas.config); their options configure the
// broker's own login, which logd does not need, so only the module is checked.
var kafkaLoginModules = map[string]string{
	"scram-sha-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
	"scram-sha-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
	"oauthbearer":   "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
}

// oauthValidatorClasses are the server callback handlers whose validation logd does itself
// (KIP-768's, under its current and its first package name).
var oauthValidatorClasses = []string{
	"org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
	"org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
}

// checkLoginModules checks a listener's SCRAM and OAUTHBEARER settings of a Kafka
// server.properties: the login modules are Kafka's, and an OAUTHBEARER server callback
// handler is Kafka's JWKS validator (logd cannot run another class, and never accepts
// unsecured tokens, which Kafka does without that setting).
func checkLoginModules(st serveSettings, prefix string) error {
	for mech, module := range kafkaLoginModules {
		key := prefix + mech + ".sasl.jaas.config"
		jaas, ok := st.PerListener[key]
		if !ok {
			continue
		}
		m, _, err := auth.ParseJAAS(jaas)
		if err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		if m != module {
			return fmt.Errorf("%s: the login module must be %s, not %s", key, module, m)
		}
	}
	key := prefix + "oauthbearer.sasl.server.callback.handler.class"
	if class, ok := st.PerListener[key]; ok && !slices.Contains(oauthValidatorClasses, class) {
		return fmt.Errorf("%s: logd validates tokens as %s does (sasl.oauthbearer.jwks.endpoint.url); it cannot run %s",
			key, oauthValidatorClasses[0], class)
	}
	return nil
}

// interBrokerSecurity is how this broker dials the other brokers' inter-broker listener
// (plan.clients[0]), as Kafka's inter-broker client: TLS with the listener's truststore and
// keystore (tlsCfgs), and for SASL the mechanism sasl.mechanism.inter.broker.protocol (PLAIN
// when unset; PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) with the broker's own username and
// password from listener.name.<name>.<mechanism>.sasl.jaas.config, or OAUTHBEARER with its
// token from sasl.oauthbearer.token.endpoint.url (fileTokenLogin). Errors name the setting.
func interBrokerSecurity(st serveSettings, plan listenerPlan, tlsCfgs map[string]*auth.TLS) (kwire.Security, error) {
	var sec kwire.Security
	l := plan.clients[0]
	if l.tls() {
		sec.TLS = tlsCfgs[l.Name].ClientConfig()
	}
	if !l.sasl() {
		return sec, nil
	}
	mech := strings.ToUpper(strings.TrimSpace(st.InterBrokerMechanism))
	if mech == "" {
		mech = auth.MechPlain
	}
	var err error
	if mech == auth.MechOAuthBearer {
		sec.SASL, err = fileTokenLogin(st.OAuthTokenURL)
		return sec, err
	}
	sec.SASL, err = ownLogin(st, "the inter-broker listener", l, "sasl.mechanism.inter.broker.protocol", mech)
	return sec, err
}

// fileTokenLogin is OAUTHBEARER with this broker's own token read from the file of
// sasl.oauthbearer.token.endpoint.url (file://, as Kafka's login handler reads one without
// network access). The file is read again at every login, so a token replaced there (a
// renewed one) is used from the next connection on; an empty or unreadable file fails that
// login with the reason. At start the file must be readable.
func fileTokenLogin(tokenURL string) (sasl.Mechanism, error) {
	const key = "sasl.oauthbearer.token.endpoint.url"
	if tokenURL == "" {
		return nil, fmt.Errorf("%s: sasl.mechanism.inter.broker.protocol=OAUTHBEARER needs the file:// of this broker's token", key)
	}
	u, err := url.Parse(tokenURL)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return nil, fmt.Errorf("%s=%s: logd's brokers read their own token from a file (file:///path/to/token)", key, tokenURL)
	}
	if _, err := os.Stat(u.Path); err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		b, err := os.ReadFile(u.Path)
		if err != nil {
			return oauth.Auth{}, fmt.Errorf("%s: %w", key, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return oauth.Auth{}, fmt.Errorf("%s: %s holds no token", key, u.Path)
		}
		return oauth.Auth{Token: tok}, nil
	}), nil
}

// ownLogin is this broker's own SASL login on listener l (role: which listener it is, for
// errors), as a client of the other nodes' listener of that name: mechanism mech (named by
// the setting mechKey) with the username and password of
// listener.name.<name>.<mechanism>.sasl.jaas.config. Errors name the setting.
func ownLogin(st serveSettings, role string, l listener, mechKey, mech string) (sasl.Mechanism, error) {
	key := "listener.name." + strings.ToLower(l.Name) + "." + strings.ToLower(mech) + ".sasl.jaas.config"
	jaas, ok := st.PerListener[key]
	if !ok {
		return nil, fmt.Errorf("%s: %s %s is %s: set this broker's own username and password there (%s=%s)",
			key, role, l.Name, l.Protocol, mechKey, mech)
	}
	_, opts, err := auth.ParseJAAS(jaas)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	user, pass := opts["username"], opts["password"]
	if user == "" || pass == "" {
		return nil, fmt.Errorf("%s: this broker's own login needs username=\"...\" and password=\"...\"", key)
	}
	switch mech {
	case auth.MechPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%s=%s: logd's nodes authenticate to each other with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", mechKey, mech)
}
