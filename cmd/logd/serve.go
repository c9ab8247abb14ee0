package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/broker"
	"github.com/logd/logd/cluster"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/metrics"
	"github.com/logd/logd/net/server"
	"github.com/logd/logd/quota"
	"github.com/logd/logd/restproxy"
)

func serveCommand() *cobra.Command {
	var dataDir, listen, advertise, httpAddr, configPath, controllerListen, voters, joinVia string
	var addScram []string
	var nodeID int32
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: "Run a logd broker with the embedded default configuration: data in ./data,\n" +
			"Kafka protocol on 127.0.0.1:9092, a cluster of one (its own metadata quorum of one voter).\n" +
			"SIGTERM or SIGINT shuts it down cleanly. A data directory of an older release (with\n" +
			"logd-metadata.json) is imported into the quorum at the first start.\n\n" +
			"--http HOST:PORT also serves /metrics (Prometheus), /healthz, /readyz, /debug/pprof/,\n" +
			"Confluent REST Proxy's v3 API under /v3/ (topics, configs, records, consumer groups and lags)\n" +
			"and its v2 consumer instances under /consumers/, and the web console at /ui/ (the proxy and\n" +
			"the console reach the broker through logd.http.listener, default its first SASL listener,\n" +
			"else its first PLAINTEXT one; through a SASL listener they act as their HTTP users, whose HTTP Basic\n" +
			"credentials go to the broker by logd.http.sasl.mechanism, so its ACLs apply to them;\n" +
			"logd.http.read.only=true makes both change nothing).\n\n" +
			"--config FILE reads Java properties (Kafka's server.properties: keys logd has no use for are\n" +
			"warnings), YAML or TOML settings (by the extension .properties, .yaml/.yml or .toml, else by\n" +
			"the content) by Kafka's property names (node.id, log.dirs, listeners,\n" +
			"advertised.listeners, auto.create.topics.enable, num.partitions, log.retention.ms|hours,\n" +
			"log.retention.bytes, log.segment.bytes, log.roll.ms|hours, message.max.bytes,\n" +
			"log.index.interval.bytes, log.flush.interval.messages, log.flush.interval.ms,\n" +
			"log.cleanup.policy, log.cleaner.* (enable, threads, dedupe.buffer.size, backoff.ms,\n" +
			"io.max.bytes.per.second, min.cleanable.ratio, min|max.compaction.lag.ms,\n" +
			"delete.retention.ms)) and logd's own\n" +
			"logd.http, logd.fsync.acks.all and logd.replica.fsync (a follower fsyncs before its next\n" +
			"fetch acknowledges what it replicated; default false, as Kafka). LOGD_* environment variables (LOGD_LOG_DIRS, LOGD_NODE_ID,\n" +
			"LOGD_HTTP, ...) override the file; flags override both. LOGD_CONFIG names the file if\n" +
			"--config is not given.\n\n" +
			"Listeners: listeners=NAME://HOST:PORT,... (--listen) with listener.security.protocol.map,\n" +
			"advertised.listeners (--advertise), inter.broker.listener.name (the listener other brokers\n" +
			"dial; default PLAINTEXT, else the first) and controller.listener.names (that listener is the\n" +
			"metadata quorum's Raft address). Each client is answered with the addresses of the listener\n" +
			"it came in on. A bare HOST:PORT is a PLAINTEXT listener. SSL listeners take Kafka's ssl.*\n" +
			"settings (PEM: ssl.keystore.location, ssl.truststore.location, ssl.client.auth,\n" +
			"ssl.principal.mapping.rules, ssl.enabled.protocols, ssl.cipher.suites); changed store\n" +
			"files are reloaded within 5 s, without a restart. SASL_PLAINTEXT and SASL_SSL listeners\n" +
			"serve SASL PLAIN (sasl.enabled.mechanisms, users in\n" +
			"listener.name.<name>.plain.sasl.jaas.config), SCRAM-SHA-256 and SCRAM-SHA-512 (users in the\n" +
			"metadata quorum: kafka-configs --entity-type users, or --add-scram for the first ones; a\n" +
			"credential --add-scram names is added when it does not exist, so restarting with the flag\n" +
			"keeps a password changed since, but brings back a deleted one).\n\n" +
			"Authorization: authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n" +
			"turns on Kafka's ACLs (kafka-acls; kept in the metadata quorum) with super.users (User:a;User:b)\n" +
			"and allow.everyone.if.no.acl.found (default false). Brokers talk to each other as their\n" +
			"listener's principal, which needs CLUSTER_ACTION (e.g. super.users=User:ANONYMOUS for a PLAINTEXT\n" +
			"inter-broker listener, User:broker for a SASL one where the broker logs in as broker).\n" +
			"Brokers dial inter.broker.listener.name (or the listener security.inter.broker.protocol\n" +
			"names) with its TLS (the truststore checks the peer; the keystore is the client certificate\n" +
			"when asked) and SASL: sasl.mechanism.inter.broker.protocol (PLAIN, SCRAM-SHA-256/512; default\n" +
			"PLAIN) with username and password from listener.name.<l>.<mechanism>.sasl.jaas.config, or\n" +
			"OAUTHBEARER with the token in the file of sasl.oauthbearer.token.endpoint.url (file://).\n" +
			"The voters speak Raft on the controller listener secured as its protocol says: SSL is mTLS,\n" +
			"SASL runs sasl.mechanism.controller.protocol (PLAIN or OAUTHBEARER) first; with an authorizer\n" +
			"the peer must be in super.users.\n" +
			"Client quotas (kafka-configs --entity-type users|clients: producer_byte_rate, consumer_byte_rate,\n" +
			"request_percentage, controller_mutation_rate) throttle clients over them, measured over\n" +
			"quota.window.num windows of quota.window.size.seconds; max.connections, max.connections.per.ip\n" +
			"(.overrides), listener.name.<l>.max.connections and connection_creation_rate (kafka-configs\n" +
			"--entity-type ips) close connections over them at accept.\n\n" +
			"Several nodes: --controller-quorum-voters (and --controller-listen) make this node one of a\n" +
			"cluster whose metadata quorum is those voters (Raft); start every node with the same voters.\n" +
			"Or grow a running cluster (KIP-853): start a node with --controller-listen and\n" +
			"--controller-quorum-bootstrap-servers (a broker's Kafka address): it joins as an observer;\n" +
			"kafka-metadata-quorum add-controller / remove-controller change the voters.\n" +
			"Topics get default.replication.factor replicas (default 3, or fewer voters); a broker whose\n" +
			"heartbeats stop for broker.session.timeout.ms (default 1000) is fenced and its partitions get\n" +
			"new leaders from their ISR; replica.lag.time.max.ms (default 30000) drops lagging followers\n" +
			"from the ISR.",
		Example: "  logd serve\n  logd serve --data-dir /var/lib/logd --listen 0.0.0.0:9092 --advertise broker1.example.com:9092\n" +
			"  logd serve --node-id 1 --listen 127.0.0.1:9092 --controller-listen 127.0.0.1:9093 \\\n" +
			"    --controller-quorum-voters 1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293 --data-dir d1\n" +
			"  logd serve --http 127.0.0.1:9644\n  logd serve --config /etc/logd/logd.yaml --node-id 2\n  logd serve --config /etc/logd/logd.toml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := configPath
			if !cmd.Flags().Changed("config") {
				path = os.Getenv("LOGD_CONFIG")
			}
			st, err := loadServeSettings(path, os.Getenv, cmd.Flags())
			if err != nil {
				return err
			}
			if st.AddScram, err = parseAddScram(addScram); err != nil {
				return usageError{err}
			}
			return serve(st)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "data", "log directory")
	f.StringVar(&listen, "listen", "127.0.0.1:9092", "address to accept Kafka clients on, or listeners: NAME://HOST:PORT,...")
	f.StringVar(&advertise, "advertise", "", "address clients are told to connect to, or NAME://HOST:PORT,... per listener (default: the listen addresses)")
	f.Int32Var(&nodeID, "node-id", 1, "this broker's node id")
	f.StringVar(&httpAddr, "http", "", "serve /metrics, /healthz, /readyz, /debug/pprof/, the REST proxy and the web console (/ui/) on HOST:PORT, e.g. 127.0.0.1:9644 (default off)")
	f.StringVar(&controllerListen, "controller-listen", "", "cluster mode: accept the metadata quorum's Raft traffic on HOST:PORT (default: this node's address in --controller-quorum-voters)")
	f.StringVar(&voters, "controller-quorum-voters", "", "cluster mode: the metadata quorum, ID@HOST:PORT,... (controller.quorum.voters); every node lists the same voters")
	f.StringVar(&joinVia, "controller-quorum-bootstrap-servers", "", "cluster mode: join an existing cluster's metadata quorum as an observer through these brokers' Kafka listeners, HOST:PORT,... (with --controller-listen; add-controller then makes this node a voter)")
	f.StringArrayVar(&addScram, "add-scram", nil, "add a SCRAM user unless it exists, as kafka-storage format does: 'SCRAM-SHA-256=[name=admin,password=admin-secret]' (repeatable; also iterations=, salt=, saltedpassword=)")
	f.StringVar(&configPath, "config", "", "read settings from this Java properties (server.properties), YAML or TOML file (Kafka property names); env LOGD_CONFIG")
	return cmd
}

func serve(st serveSettings) error {
	dataDir, httpAddr, nodeID := st.DataDir, st.HTTP, st.NodeID
	start := time.Now()
	plan, err := planListeners(st)
	if err != nil {
		return usageError{err}
	}
	for i := range plan.clients {
		l := &plan.clients[i]
		if _, port, _ := net.SplitHostPort(l.bind); port == "0" {
			// Any free port: pick it now, so the advertised address can name it.
			ln, err := net.Listen("tcp", l.bind)
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %v", l.bind, err)
			}
			l.bind = ln.Addr().String()
			ln.Close()
		}
		addr, err := net.ResolveTCPAddr("tcp", l.bind)
		if err != nil {
			return usageError{fmt.Errorf("listeners: %s %q: %v", l.Name, l.bind, err)}
		}
		if err := l.advertise(addr); err != nil {
			return usageError{err}
		}
	}
	inter := plan.clients[0]
	if httpAddr != "" {
		_, hport, err := net.SplitHostPort(httpAddr)
		if _, perr := strconv.ParseUint(hport, 10, 16); err != nil || perr != nil {
			return usageError{fmt.Errorf("--http %q is not HOST:PORT (for example 127.0.0.1:9644)", httpAddr)}
		}
	}
	if nodeID < 0 {
		return usageError{fmt.Errorf("--node-id %d must not be negative", nodeID)}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("cannot use --data-dir %s: %v", dataDir, err)
	}
	probe := filepath.Join(dataDir, ".logd-write-test")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return fmt.Errorf("cannot write to --data-dir %s: %v", dataDir, err)
	}
	os.Remove(probe)
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	for _, d := range st.ExtraLogDirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cannot use log directory %s: %v", d, err)
		}
		lock, err := lockDataDir(d)
		if err != nil {
			return err
		}
		defer lock.Close()
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(logger)
	for _, w := range st.Warnings {
		logger.Warn("config: " + w)
	}
	cfg := broker.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.ExtraLogDirs, cfg.Logger = nodeID, dataDir, st.ExtraLogDirs, logger
	cfg.AdvertisedHost, cfg.AdvertisedPort = inter.Host, inter.Port
	for _, l := range plan.clients {
		cfg.Listeners = append(cfg.Listeners, l.Endpoint)
	}
	if cfg.SASL, err = saslConfig(st, plan, logger); err != nil {
		return usageError{err}
	}
	defer cfg.SASL.Close()
	if st.Authorizer != "" {
		cfg.Authorizer = acl.New(acl.Config{SuperUsers: st.SuperUsers, AllowIfNoACL: st.AllowIfNoACL})
	}
	cfg.AutoCreateTopics, cfg.NumPartitions, cfg.FsyncAcksAll = st.AutoCreateTopics, st.NumPartitions, st.FsyncAcksAll
	cfg.TelemetryMaxBytes = st.TelemetryMaxBytes
	cfg.ReplicaFsync = st.ReplicaFsync
	cfg.TransactionPartitionVerification = st.TxnVerification
	cfg.TransactionVersion = st.TxnVersion
	cfg.Share = st.Share
	cfg.DelegationTokens = st.DelegationTokens
	cfg.Quota = st.Quota
	cfg.LogDefaults = st.LogDefaults
	cfg.Settings = brokerSettings(st.Given)
	cfg.Cleaner = &st.Cleaner
	cfg.MoveLogBytesPerSecond = st.MoveLogBytesPerSecond
	var m *metrics.Metrics
	if httpAddr != "" {
		m = metrics.New()
		cfg.Metrics = m
	}
	if st.ControllerListen == "" && (len(st.Voters) > 0 || len(st.JoinVia) > 0) {
		st.ControllerListen = plan.controller // controller.listener.names' listener, if any
	}
	tlsCfgs, err := tlsConfigs(st, plan, logger)
	if err != nil {
		return usageError{err}
	}
	if cfg.InterBroker, err = interBrokerSecurity(st, plan, tlsCfgs); err != nil {
		return usageError{err}
	}
	ccfg, err := clusterConfig(st, cfg)
	if err != nil {
		return err
	}
	ctlSec, closeCtlSec, err := controllerSecurity(st, plan, cfg.Authorizer, logger)
	if err != nil {
		return usageError{err}
	}
	defer closeCtlSec()
	ccfg.ControllerSecurity = ctlSec
	node, err := cluster.Start(ccfg)
	if err != nil {
		return fmt.Errorf("cannot start on --data-dir %s: %v", dataDir, err)
	}
	b := node.Broker()
	closeBroker := node.Close
	conns, err := connectionQuotas(st, plan, b)
	if err != nil {
		closeBroker()
		return usageError{err}
	}
	srvs := make([]*server.Server, len(plan.clients))
	for i, l := range plan.clients {
		scfg := server.Config{
			HeaderVersion: broker.HeaderVersion,
			Logf:          func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) },
			Listener:      l.Name,
			Listeners:     len(plan.clients),
			Admit:         conns,
		}
		if l.Protocol == "SSL" { // on SASL_SSL the principal is SASL's
			scfg.TLSPrincipal = tlsCfgs[l.Name].Principal
		}
		scfg.RequireAuth = l.sasl()
		if m != nil {
			scfg.ObserveResponse = m.ObserveResponse
		}
		srvs[i] = server.New(scfg, b)
	}
	var ready atomic.Bool // the broker serves; /readyz also wants the log directory online
	var hs *opsServer
	if m != nil {
		m.SetServerStats(func() server.Stats {
			var sum server.Stats
			for _, s := range srvs {
				sum = sum.Add(s.Stats())
			}
			return sum
		})
		proxy, err := startRESTProxy(st, plan, cfg.SASL, tlsCfgs, logger)
		if err != nil {
			closeBroker()
			return err
		}
		var api http.Handler
		if proxy != nil {
			defer proxy.Close()
			api = proxy.Handler()
		}
		hs, err = startOpsServer(httpAddr, m, func() error {
			if !ready.Load() {
				return errors.New("not serving")
			}
			if err := b.Engine().Offline(); err != nil {
				return fmt.Errorf("every log directory is offline: %v", err)
			}
			return nil
		}, api, logger)
		if err != nil {
			closeBroker()
			return fmt.Errorf("cannot serve --http on %s: %v", httpAddr, err)
		}
	}
	shutdownServers := func(ctx context.Context) error {
		var first error
		for _, s := range srvs {
			if err := s.Shutdown(ctx); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	for i, s := range srvs {
		start := func() error { return s.Start(plan.clients[i].bind) }
		if plan.clients[i].tls() {
			start = func() error { return s.StartTLS(plan.clients[i].bind, tlsCfgs[plan.clients[i].Name].Config()) }
		}
		if err := start(); err != nil {
			shutdownServers(context.Background())
			hs.close(context.Background())
			closeBroker()
			return fmt.Errorf("cannot listen on %s (listener %s): %v", plan.clients[i].bind, plan.clients[i].Name, err)
		}
	}
	// Signals are caught before the ready line: a SIGTERM sent as soon as it appears must
	// shut down cleanly, not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if len(ccfg.Voters) <= 1 {
		// A quorum of one is ready in milliseconds (cluster/doc.go): ready means serving.
		// Nodes of a larger quorum wait for each other, so they do not wait here.
		select {
		case <-node.Ready():
		case <-time.After(readyWait):
			logger.Warn("not registered with the controller yet; serving anyway", "waited", readyWait.String())
		}
	}
	ready.Store(true)
	attrs := []any{"listen", srvs[0].Addr().String(), "advertise", net.JoinHostPort(inter.Host, strconv.Itoa(int(inter.Port)))}
	if len(plan.clients) > 1 {
		ls := make([]string, len(plan.clients))
		for i, l := range plan.clients {
			ls[i] = fmt.Sprintf("%s://%s (%s, advertised %s)", l.Name, srvs[i].Addr(), l.Protocol, net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
		}
		attrs = append(attrs, "listeners", strings.Join(ls, ","))
	}
	attrs = append(attrs, "data_dir", dataDir,
		"node_id", nodeID, "startup", time.Since(start).Round(time.Microsecond).String())
	if hs != nil {
		attrs = append(attrs, "http", hs.addr())
	}
	logger.Info("logd ready", attrs...)

	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready.Store(false)
	node.ControlledShutdown() // while this node still answers clients and brokers
	b.BeginShutdown()
	serr := shutdownServers(ctx)
	if err := closeBroker(); err != nil {
		return fmt.Errorf("shutdown: %v", err)
	}
	if serr != nil {
		logger.Warn("network shutdown incomplete", "err", serr)
	}
	// The ops server goes last, so /metrics and /healthz answer while the broker drains.
	if err := hs.close(ctx); err != nil {
		logger.Warn("http shutdown incomplete", "err", err)
	}
	logger.Info("stopped cleanly")
	return nil
}

// startRESTProxy returns the REST proxy for --http, a client of this broker's listener
// logd.http.listener (default: the first SASL listener, else the first PLAINTEXT one); nil,
// with a warning, when there is none. Through a SASL listener the proxy acts as its HTTP users
// (HTTP Basic credentials passed on by logd.http.sasl.mechanism, default the strongest the
// listener enables), and through SASL_SSL it verifies the broker's certificate against the
// broker's truststore, for the listener's advertised host.
func startRESTProxy(st serveSettings, plan listenerPlan, sasl *auth.SASL, tlsCfgs map[string]*auth.TLS, logger *slog.Logger) (*restproxy.Proxy, error) {
	i := slices.IndexFunc(plan.clients, listener.sasl)
	if i < 0 {
		i = slices.IndexFunc(plan.clients, func(l listener) bool { return l.Protocol == "PLAINTEXT" })
	}
	if st.HTTPListener != "" {
		i = slices.IndexFunc(plan.clients, func(l listener) bool { return l.Name == st.HTTPListener })
		if i < 0 {
			return nil, usageError{fmt.Errorf("logd.http.listener: %s is not in listeners", st.HTTPListener)}
		}
	}
	if i < 0 {
		logger.Warn("REST proxy and console off: they reach the broker through a PLAINTEXT or SASL listener, and none is configured (SSL alone would leave them no identity of their own)")
		return nil, nil
	}
	l := plan.clients[i]
	cfg := restproxy.Config{Logger: logger, ReadOnly: st.HTTPReadOnly}
	if l.Protocol == "SSL" {
		return nil, usageError{fmt.Errorf("logd.http.listener: %s is an SSL listener; the proxy passes its HTTP users on by SASL, so name a PLAINTEXT, SASL_PLAINTEXT or SASL_SSL listener", l.Name)}
	}
	if l.sasl() {
		enabled := sasl.Enabled(l.Name)
		cfg.Mechanism = st.HTTPMechanism
		if cfg.Mechanism == "" {
			for _, m := range []string{auth.ScramSHA512.Name, auth.ScramSHA256.Name, auth.MechPlain} {
				if slices.Contains(enabled, m) {
					cfg.Mechanism = m
					break
				}
			}
		}
		if !slices.Contains(enabled, cfg.Mechanism) {
			return nil, usageError{fmt.Errorf("logd.http.sasl.mechanism: listener %s enables %s; the proxy needs one of them that carries a user's password (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", l.Name, strings.Join(enabled, ", "))}
		}
	}
	if l.tls() {
		// The listener's configuration as it is now: the proxy trusts the CAs the truststore
		// held at start (a reloaded truststore reaches it at the next start).
		srv, _ := tlsCfgs[l.Name].Config().GetConfigForClient(nil) // it never fails
		if srv.ClientCAs == nil {
			return nil, usageError{fmt.Errorf("listener %s: the REST proxy verifies the broker's certificate against ssl.truststore.location (or ssl.truststore.certificates), and it is not set", l.Name)}
		}
		// The broker's truststore holds the CAs it trusts; its own certificate is issued by
		// one of them for the advertised host. The keystore's certificate goes along for a
		// listener that asks clients for one.
		cfg.TLS = &tls.Config{RootCAs: srv.ClientCAs, ServerName: l.Host, Certificates: srv.Certificates, MinVersion: tls.VersionTLS12}
	}
	host, port, _ := net.SplitHostPort(l.bind)
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	cfg.Bootstrap = []string{net.JoinHostPort(host, port)}
	p, err := restproxy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot start the REST proxy: %v", err)
	}
	return p, nil
}

// readyWait bounds how long a single node's start waits to be ready before it says so.
const readyWait = 10 * time.Second

// clusterConfig checks the cluster settings and builds the node's configuration.
func clusterConfig(st serveSettings, bcfg broker.Config) (cluster.Config, error) {
	cfg := cluster.Config{Broker: bcfg, ControllerListen: st.ControllerListen, Voters: st.Voters, JoinVia: st.JoinVia,
		SessionTimeout: st.SessionTimeout, DefaultReplicationFactor: st.DefaultReplicationFactor, BootstrapScram: st.AddScram}
	cfg.Broker.ReplicaLagTime = st.ReplicaLagTime
	if len(st.JoinVia) > 0 && (len(st.Voters) > 0 || st.ControllerListen == "") {
		return cfg, usageError{errors.New("--controller-quorum-bootstrap-servers joins an existing quorum: it takes --controller-listen (the address the quorum's leader dials) and no --controller-quorum-voters")}
	}
	if len(st.Voters) > 0 {
		i := slices.IndexFunc(st.Voters, func(v metadata.Voter) bool { return v.ID == st.NodeID })
		if i < 0 {
			return cfg, usageError{fmt.Errorf("--node-id %d is not among --controller-quorum-voters %s: every node of the cluster must be a voter", st.NodeID, votersString(st.Voters))}
		}
		if cfg.ControllerListen == "" {
			cfg.ControllerListen = st.Voters[i].Addr
		}
	}
	return cfg, nil
}

func votersString(vs []metadata.Voter) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%d@%s", v.ID, v.Addr)
	}
	return strings.Join(parts, ",")
}

// dataDirLock is the file whose exclusive flock marks a data directory as in use (Kafka's
// per-directory ".lock"): a second logd on the same directory would recover the logs under
// the running one (truncating what it sees as torn tails) before failing to bind its port.
const dataDirLock = ".lock"

// lockDataDir takes dir's lock for the life of the process (released by Close, or by the
// kernel when the process exits, kill -9 included) and writes this process's id into it.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, dataDirLock)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot lock --data-dir %s: %v", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data-dir %s is in use by another logd (pid %s holds %s): stop it or choose another --data-dir",
				dir, strings.TrimSpace(string(holder)), path)
		}
		return nil, fmt.Errorf("cannot lock --data-dir %s: %v", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// parseAddScram parses the --add-scram arguments into the credentials the controller adds.
func parseAddScram(args []string) ([]metadata.ScramUpsertion, error) {
	var out []metadata.ScramUpsertion
	for _, a := range args {
		m, user, c, err := auth.ParseAddScram(a)
		if err != nil {
			return nil, fmt.Errorf("--add-scram: %v", err)
		}
		out = append(out, metadata.ScramUpsertion{User: user, Mechanism: m.Type,
			Credential: metadata.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations}})
	}
	return out, nil
}

// connectionQuotas are the broker's connection limits (max.connections,
// max.connections.per.ip and its overrides, listener.name.<l>.max.connections, the inter-broker
// listener exempt from max.connections) and the IP connection rates of b's quotas, shared
// by every listener.
func connectionQuotas(st serveSettings, plan listenerPlan, b *broker.Broker) (*quota.Connections, error) {
	cc := st.Connections
	cc.InterBroker, cc.Listeners = plan.clients[0].Name, len(plan.clients)
	for _, l := range plan.clients {
		key := "listener.name." + strings.ToLower(l.Name) + ".max.connections"
		v, ok := st.PerListener[key]
		if !ok {
			continue
		}
		n, err := parseWhole(v, 0, math.MaxInt32)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
		if cc.ListenerMax == nil {
			cc.ListenerMax = map[string]int{}
		}
		cc.ListenerMax[l.Name] = int(n)
	}
	return quota.NewConnections(cc, b.Quotas())
}
