package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
)

// TestPlanListeners: Kafka's listener settings resolve to the listeners serve opens, the
// inter-broker one first, and inconsistent ones are one-line errors naming the setting.
func TestPlanListeners(t *testing.T) {
	st := defaultServeSettings()
	st.Listen = "EXTERNAL://0.0.0.0:19092, internal://127.0.0.1:19093,CONTROLLER://127.0.0.1:19094"
	st.ProtocolMap = "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
	st.Advertise = "EXTERNAL://broker1.example.com:9092"
	st.InterBrokerListener = "INTERNAL"
	st.ControllerNames = "CONTROLLER"
	plan, err := planListeners(st)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", plan)
	want := "{clients:[{Endpoint:{Name:INTERNAL Protocol:PLAINTEXT Host: Port:0} bind:127.0.0.1:19093} " +
		"{Endpoint:{Name:EXTERNAL Protocol:PLAINTEXT Host:broker1.example.com Port:9092} bind:0.0.0.0:19092}] controller:127.0.0.1:19094 " +
		"controllerListener:{Endpoint:{Name:CONTROLLER Protocol:PLAINTEXT Host: Port:0} bind:127.0.0.1:19094}}"
	if got != want {
		t.Fatalf("plan\n got %s\nwant %s", got, want)
	}
	// The default: one PLAINTEXT listener, advertised as bound.
	if plan, err = planListeners(defaultServeSettings()); err != nil || len(plan.clients) != 1 || plan.clients[0].bind != "127.0.0.1:9092" {
		t.Fatalf("default: %+v %v", plan, err)
	}
	for _, tc := range []struct {
		listen, protos, adv, inter, ctl, want string
	}{
		{listen: "A://:1", want: "listeners: listener A has no security protocol in listener.security.protocol.map"},
		{listen: "PLAINTEXT://:1,PLAINTEXT://:2", want: `listeners: "PLAINTEXT://:1,PLAINTEXT://:2": listener PLAINTEXT is named twice`},
		{listen: "A://:1,X://:2", protos: "A:PLAINTEXT,X:PLAINTEXT", adv: "h:1", want: `advertised.listeners: "h:1" names no listener; with several listeners write NAME://HOST:PORT`},
		{listen: "PLAINTEXT://:1", adv: "OTHER://h:1", want: "advertised.listeners: OTHER is not in listeners"},
		{listen: "PLAINTEXT://:1", inter: "OTHER", want: "inter.broker.listener.name: OTHER is not a client listener in listeners"},
		{listen: "C://:1", ctl: "C", want: `listeners: "C://:1" has no client listener (every one is in controller.listener.names)`},
		{listen: "PLAINTEXT://:1", protos: "PLAINTEXT:TLS", want: `listener.security.protocol.map: "PLAINTEXT:TLS": TLS is not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)`},
	} {
		st := defaultServeSettings()
		st.Listen, st.ProtocolMap, st.Advertise, st.InterBrokerListener, st.ControllerNames = tc.listen, tc.protos, tc.adv, tc.inter, tc.ctl
		if _, err := planListeners(st); err == nil || err.Error() != tc.want {
			t.Errorf("%+v:\n got %v\nwant %s", tc, err, tc.want)
		}
	}
}

// TestServeListeners runs the binary on a Kafka-style server.properties with three
// listeners (two for clients, one for the metadata quorum): each client listener answers
// Metadata, DescribeCluster and FindCoordinator with its own advertised address, and the
// keys logd has no use for are logged as warnings.
func TestServeListeners(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	ctl := freePort(t)
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`# as Kafka's config/server.properties
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@%[1]s
listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0,CONTROLLER://%[1]s
advertised.listeners=EXTERNAL://ext.example.com:19092
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
num.network.threads=3
log.dirs=%[2]s
`, ctl, filepath.Join(dir, "data"))), 0o644)
	ready, bound, warnings, _ := serveConfig(t, bin, cfg)
	if len(warnings) != 2 || !strings.Contains(warnings[1], `line 10: unknown key \"num.network.threads\": ignored`) {
		t.Errorf("want warnings for process.roles and num.network.threads: %q", warnings)
	}
	if len(bound) != 2 || !strings.Contains(ready, "listen="+bound["INTERNAL"]) {
		t.Fatalf("ready line names listeners %v: %s", bound, ready)
	}
	want := map[string]string{"INTERNAL": bound["INTERNAL"], "EXTERNAL": "ext.example.com:19092"}
	for name, addr := range bound {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := kwire.Dial(ctx, addr, kwire.Options{})
		if err != nil {
			t.Fatal(err)
		}
		md := kmsg.NewPtrMetadataRequest()
		md.SetVersion(12)
		r, err := c.Request(ctx, md)
		if err != nil {
			t.Fatal(err)
		}
		mr := r.(*kmsg.MetadataResponse)
		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.SetVersion(0)
		r, err = c.Request(ctx, dc)
		if err != nil {
			t.Fatal(err)
		}
		dr := r.(*kmsg.DescribeClusterResponse)
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.SetVersion(4)
		fc.CoordinatorKeys = []string{"g"}
		var fr *kmsg.FindCoordinatorResponse
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r, err = c.Request(ctx, fc)
			if err != nil {
				t.Fatal(err)
			}
			fr = r.(*kmsg.FindCoordinatorResponse)
			if fr.Coordinators[0].ErrorCode == 0 || time.Now().After(deadline) {
				break
			}
		}
		c.Close()
		cancel()
		hp := func(h string, p int32) string { return net.JoinHostPort(h, fmt.Sprint(p)) }
		if len(mr.Brokers) != 1 || hp(mr.Brokers[0].Host, mr.Brokers[0].Port) != want[name] {
			t.Errorf("%s: Metadata brokers %+v, want %s", name, mr.Brokers, want[name])
		}
		if len(dr.Brokers) != 1 || hp(dr.Brokers[0].Host, dr.Brokers[0].Port) != want[name] {
			t.Errorf("%s: DescribeCluster brokers %+v, want %s", name, dr.Brokers, want[name])
		}
		if co := fr.Coordinators[0]; co.ErrorCode != 0 || hp(co.Host, co.Port) != want[name] {
			t.Errorf("%s: FindCoordinator %+v, want %s", name, co, want[name])
		}
	}
}

// serveConfig runs `logd serve --config cfg args...` until the test ends and returns its ready line,
// the address each listener bound (by name), the config file warnings it logged and its pid.
func serveConfig(t *testing.T, bin, cfg string, args ...string) (ready string, bound map[string]string, warnings []string, pid int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--config", cfg}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for ready == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("logd exited before ready")
			}
			if strings.Contains(l, "level=WARN msg=\"config: ") {
				warnings = append(warnings, l)
			}
			if strings.Contains(l, "logd ready") {
				ready = l
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no ready line")
		}
	}
	bound = map[string]string{}
	for _, m := range regexp.MustCompile(`([A-Z_]+)://(127\.0\.0\.1:\d+) \(`).FindAllStringSubmatch(ready, -1) {
		bound[m[1]] = m[2]
	}
	if len(bound) == 0 { // one listener: listen=
		if m := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(ready); m != nil {
			bound["PLAINTEXT"] = m[1]
		}
	}
	// Keep reading: a full pipe would block the node's logging. The lines are kept for
	// serveLog.
	kept := &servedLog{}
	serveLogs.Store(cmd.Process.Pid, kept)
	go func() {
		for l := range lines {
			kept.mu.Lock()
			kept.lines = append(kept.lines, l)
			kept.mu.Unlock()
		}
	}()
	return ready, bound, warnings, cmd.Process.Pid
}

// servedLog is what a node started by serveConfig logged after its ready line.
type servedLog struct {
	mu    sync.Mutex
	lines []string
}

// serveLogs holds each serveConfig node's servedLog by process id.
var serveLogs sync.Map

// serveLogHas reports whether the node of process pid logged a line containing all of subs
// after its ready line.
func serveLogHas(pid int, subs ...string) bool {
	v, ok := serveLogs.Load(pid)
	if !ok {
		return false
	}
	kept := v.(*servedLog)
	kept.mu.Lock()
	defer kept.mu.Unlock()
	for _, l := range kept.lines {
		if !slices.ContainsFunc(subs, func(s string) bool { return !strings.Contains(l, s) }) {
			return true
		}
	}
	return false
}

// TestClusterListeners: two nodes with INTERNAL (inter-broker) and EXTERNAL listeners; the
// one that is not the controller registers through BrokerRegistration over the wire. A
// client on either node's EXTERNAL listener sees both brokers at their EXTERNAL addresses,
// and on INTERNAL at their INTERNAL ones.
func TestClusterListeners(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	ctl := []string{freePort(t), freePort(t)}
	voters := fmt.Sprintf("1@%s,2@%s", ctl[0], ctl[1])
	bound := make([]map[string]string, 2)
	for i := range 2 {
		cfg := filepath.Join(dir, fmt.Sprintf("node%d.properties", i+1))
		os.WriteFile(cfg, []byte(fmt.Sprintf(`node.id=%d
controller.quorum.voters=%s
listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0,CONTROLLER://%s
advertised.listeners=EXTERNAL://ext%d.example.com:9092
listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs=%s
`, i+1, voters, ctl[i], i+1, filepath.Join(dir, fmt.Sprintf("data%d", i+1)))), 0o644)
		_, bound[i], _, _ = serveConfig(t, bin, cfg)
	}
	want := map[string]string{
		"EXTERNAL": "1=ext1.example.com:9092 2=ext2.example.com:9092",
		"INTERNAL": "1=" + bound[0]["INTERNAL"] + " 2=" + bound[1]["INTERNAL"],
	}
	for i := range 2 {
		for name, w := range want {
			var got string
			for deadline := time.Now().Add(30 * time.Second); got != w && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				c, err := kwire.Dial(ctx, bound[i][name], kwire.Options{})
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				r, err := c.Request(ctx, kmsg.NewPtrMetadataRequest())
				c.Close()
				cancel()
				if err != nil {
					continue
				}
				bs := r.(*kmsg.MetadataResponse).Brokers
				slices.SortFunc(bs, func(a, b kmsg.MetadataResponseBroker) int { return int(a.NodeID - b.NodeID) })
				var parts []string
				for _, b := range bs {
					parts = append(parts, fmt.Sprintf("%d=%s", b.NodeID, net.JoinHostPort(b.Host, fmt.Sprint(b.Port))))
				}
				got = strings.Join(parts, " ")
			}
			if got != w {
				t.Errorf("node %d, %s: brokers %s, want %s", i+1, name, got, w)
			}
		}
	}
}

// TestInterBrokerSecurity: the inter-broker listener's protocol decides how brokers dial
// each other, and a SASL one without the broker's own login is a usage error naming the
// setting to write.
func TestInterBrokerSecurity(t *testing.T) {
	plan := func(proto string) listenerPlan {
		return listenerPlan{clients: []listener{{Endpoint: metadata.Endpoint{Name: "INTERNAL", Protocol: proto}}}}
	}
	st := defaultServeSettings()
	if sec, err := interBrokerSecurity(st, plan("PLAINTEXT"), nil); err != nil || sec.Protocol() != "PLAINTEXT" {
		t.Fatalf("PLAINTEXT: %s %v", sec.Protocol(), err)
	}
	_, err := interBrokerSecurity(st, plan("SASL_PLAINTEXT"), nil)
	if want := "listener.name.internal.plain.sasl.jaas.config: the inter-broker listener INTERNAL is SASL_PLAINTEXT: set this broker's own username and password there (sasl.mechanism.inter.broker.protocol=PLAIN)"; err == nil || err.Error() != want {
		t.Fatalf("no login: %v\nwant %s", err, want)
	}
	st.PerListener = map[string]string{
		"listener.name.internal.scram-sha-512.sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="s";`,
		"listener.name.internal.plain.sasl.jaas.config":         `org.apache.kafka.common.security.plain.PlainLoginModule required user_broker="s";`,
	}
	st.InterBrokerMechanism = "SCRAM-SHA-512"
	if sec, err := interBrokerSecurity(st, plan("SASL_PLAINTEXT"), nil); err != nil || sec.Protocol() != "SASL_PLAINTEXT" || sec.SASL.Name() != "SCRAM-SHA-512" {
		t.Fatalf("SCRAM-SHA-512: %s %v", sec.Protocol(), err)
	}
	st.InterBrokerMechanism = "PLAIN"
	if _, err := interBrokerSecurity(st, plan("SASL_PLAINTEXT"), nil); err == nil || !strings.Contains(err.Error(), `needs username="..." and password="..."`) {
		t.Fatalf("PLAIN without username: %v", err)
	}
	st.InterBrokerMechanism = "GSSAPI"
	st.PerListener["listener.name.internal.gssapi.sasl.jaas.config"] = `com.sun.security.auth.module.Krb5LoginModule required username="b" password="p";`
	if _, err := interBrokerSecurity(st, plan("SASL_PLAINTEXT"), nil); err == nil || !strings.Contains(err.Error(), "sasl.mechanism.inter.broker.protocol=GSSAPI") {
		t.Fatalf("GSSAPI: %v", err)
	}
	// security.inter.broker.protocol names the listener of that name; with
	// inter.broker.listener.name too it is an error, as in Kafka.
	st = defaultServeSettings()
	st.Listen, st.InterBrokerProtocol = "PLAINTEXT://:1,SASL_SSL://:2", "sasl_ssl"
	if p, err := planListeners(st); err != nil || p.clients[0].Name != "SASL_SSL" {
		t.Fatalf("security.inter.broker.protocol=SASL_SSL: %+v %v", p.clients, err)
	}
	st.InterBrokerListener = "PLAINTEXT"
	if _, err := planListeners(st); err == nil || !strings.Contains(err.Error(), "set only one of it and inter.broker.listener.name") {
		t.Fatalf("both set: %v", err)
	}
}
