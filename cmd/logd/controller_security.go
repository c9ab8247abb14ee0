package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/metadata"
)

// controllerSecurity is how the metadata quorum's voters secure Raft between them
// (metadata.RaftSecurity), from the controller listener's protocol in
// listener.security.protocol.map:
//
//   - SSL: mTLS with the ssl.keystore and ssl.truststore. Raft has no other way to know its
//     peer, so the listener requires client certificates: a
//     listener.name.<name>.ssl.client.auth other than required is refused.
//   - SASL_PLAINTEXT, SASL_SSL: the listener's mechanisms (listener.name.<name>.sasl.enabled.mechanisms,
//     else sasl.enabled.mechanisms, else PLAIN), PLAIN or OAUTHBEARER: SCRAM's credentials
//     live in the metadata quorum itself, which a voter must reach before it has them (Kafka
//     does not support SCRAM between controllers either). Each voter logs in with
//     sasl.mechanism.controller.protocol: PLAIN (the default) with the username and password
//     of listener.name.<name>.plain.sasl.jaas.config, or OAUTHBEARER with the token of
//     sasl.oauthbearer.token.endpoint.url. SASL_SSL adds TLS (server authentication, client
//     certificates only if the listener asks).
//
// With an authorizer the peer's principal must be a super user: Kafka's controllers need
// CLUSTER_ACTION on the cluster from each other, and the ACLs that could grant it are in the
// quorum the peer is trying to reach. Without one, any authenticated peer is let in, as
// Kafka does. The returned close releases the listener's SASL configuration.
func controllerSecurity(st serveSettings, plan listenerPlan, authz *acl.Authorizer, log *slog.Logger) (metadata.RaftSecurity, func(), error) {
	l := plan.controllerListener
	sec := metadata.RaftSecurity{Protocol: l.Protocol}
	noop := func() {}
	if plan.controller == "" || l.Protocol == "PLAINTEXT" {
		return metadata.RaftSecurity{}, noop, nil
	}
	prefix := "listener.name." + strings.ToLower(l.Name) + "."
	if l.tls() {
		set := st.TLS
		ca, given := st.PerListener[prefix+"ssl.client.auth"]
		switch {
		case l.sasl():
			set.ClientAuth = ca // KIP-684: SASL authenticates; certificates only if asked here
		case given && !strings.EqualFold(ca, "required"):
			return sec, noop, fmt.Errorf("%sssl.client.auth=%s: the controller listener %s is SSL, and its Raft peers authenticate by client certificate: it must be required", prefix, ca, l.Name)
		default:
			set.ClientAuth = "required"
		}
		t, err := auth.NewTLS(set, log)
		if err != nil {
			return sec, noop, fmt.Errorf("controller listener %s: %v", l.Name, err)
		}
		sec.ServerTLS, sec.Client.TLS, sec.TLSPrincipal = t.Config(), t.ClientConfig(), t.Principal
	}
	closeSASL := noop
	if l.sasl() {
		var oauth *auth.OAuthValidator
		cfg, err := listenerSASL(st, l.Name, &oauth, log)
		if err == nil {
			for _, m := range cfg.Enabled {
				if m != auth.MechPlain && m != auth.MechOAuthBearer {
					err = fmt.Errorf("%ssasl.enabled.mechanisms: the controller listener %s enables %s; its voters authenticate with PLAIN or OAUTHBEARER (SCRAM's credentials are in the quorum they are joining)", prefix, l.Name, m)
				}
			}
		}
		var s *auth.SASL
		if err == nil {
			s, err = auth.NewSASL(map[string]*auth.ListenerSASL{l.Name: cfg})
		}
		if err != nil {
			if oauth != nil {
				oauth.Close()
			}
			return sec, noop, err
		}
		closeSASL = s.Close
		sec.Mechanisms = cfg.Enabled
		sec.SASL = func(mech string) (auth.Exchange, error) { return s.Start(l.Name, mech, nil) }
		mech := strings.ToUpper(strings.TrimSpace(st.ControllerMechanism))
		if mech == "" {
			mech = auth.MechPlain
		}
		if !slices.Contains(cfg.Enabled, mech) {
			closeSASL()
			return sec, noop, fmt.Errorf("sasl.mechanism.controller.protocol=%s: the controller listener %s does not enable it (it enables %s)", mech, l.Name, strings.Join(cfg.Enabled, ", "))
		}
		if mech == auth.MechOAuthBearer {
			sec.Client.SASL, err = fileTokenLogin(st.OAuthTokenURL)
		} else {
			sec.Client.SASL, err = ownLogin(st, "the controller listener", l, "sasl.mechanism.controller.protocol", mech)
		}
		if err != nil {
			closeSASL()
			return sec, noop, err
		}
	}
	if authz != nil {
		sec.Authorize = func(principal string) error {
			if authz.IsSuperUser(acl.Subject{Principal: principal}) {
				return nil
			}
			return errNotSuperUser
		}
	}
	return sec, closeSASL, nil
}

// errNotSuperUser refuses a Raft peer whose principal is not in super.users.
var errNotSuperUser = errors.New("not in super.users: with an authorizer only super users may speak Raft to the controllers")
