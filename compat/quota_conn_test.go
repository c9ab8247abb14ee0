//go:build compat

package compat

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestQuotaEntities: Kafka's kafka-configs sets and describes the quotas of IP entities
// (connection_creation_rate for 127.0.0.2 and the default IP) and of users
// (request_percentage, controller_mutation_rate); logd, reading quota.window.num and
// max.connections.per.ip from a server.properties, then refuses 127.0.0.2's second
// connection within a window while 127.0.0.1 connects freely, and refuses 127.0.0.1's
// connection past max.connections.per.ip.
func TestQuotaEntities(t *testing.T) {
	dir := t.TempDir()
	props := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(props, []byte("quota.window.num=2\nquota.window.size.seconds=1\nmax.connections.per.ip=20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := startBrokerArgs(filepath.Join(dir, "data"), "", "quota-entities.log", "--config", props)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("logd exit: %v", err)
		}
	})
	addr := b.addr
	configs := func(s *S, args ...string) string {
		return javaTool(s, "", "kafka.admin.ConfigCommand", append([]string{"--bootstrap-server", addr}, args...)...)
	}
	scenario(t, "java", "quota-kafka-configs-ips", 120*time.Second, func(s *S) {
		configs(s, "--alter", "--entity-type", "ips", "--entity-name", "127.0.0.2", "--add-config", "connection_creation_rate=1")
		configs(s, "--alter", "--entity-type", "ips", "--entity-default", "--add-config", "connection_creation_rate=1000")
		if desc := configs(s, "--describe", "--entity-type", "ips", "--entity-name", "127.0.0.2"); !strings.Contains(desc, "connection_creation_rate=1.0") &&
			!strings.Contains(desc, "connection_creation_rate=1,") && !strings.Contains(desc, "connection_creation_rate=1}") {
			s.Fatalf("kafka-configs --describe --entity-type ips: %s", lastLines(desc, 5))
		}
		if desc := configs(s, "--describe", "--entity-type", "ips", "--entity-default"); !strings.Contains(desc, "connection_creation_rate=1000") {
			s.Fatalf("kafka-configs --describe --entity-type ips --entity-default: %s", lastLines(desc, 5))
		}
		// The IP quota is in force: a second connection from 127.0.0.2 within the window is
		// closed at accept; 127.0.0.1 (the default IP quota, 1000/s) is not held back.
		ok1 := answersFrom(s, addr, "127.0.0.2")
		if ok2 := answersFrom(s, addr, "127.0.0.2"); !ok1 || ok2 {
			s.Fatalf("connection_creation_rate=1 for 127.0.0.2: connections answered %v %v, want true false", ok1, ok2)
		}
		for i := range 5 {
			if !answersFrom(s, addr, "127.0.0.1") {
				s.Fatalf("127.0.0.1 refused at its connection %d", i+1)
			}
		}
		s.note("connection_creation_rate per IP and default set, described and enforced")
	})
	scenario(t, "java", "quota-kafka-configs-users-request-mutation", 120*time.Second, func(s *S) {
		configs(s, "--alter", "--entity-type", "users", "--entity-name", "alice",
			"--add-config", "request_percentage=50,controller_mutation_rate=10")
		desc := configs(s, "--describe", "--entity-type", "users", "--entity-name", "alice")
		if !strings.Contains(desc, "request_percentage=50") || !strings.Contains(desc, "controller_mutation_rate=10") {
			s.Fatalf("kafka-configs --describe --entity-type users: %s", lastLines(desc, 5))
		}
		configs(s, "--alter", "--entity-type", "users", "--entity-name", "alice", "--delete-config", "request_percentage")
		desc = configs(s, "--describe", "--entity-type", "users", "--entity-name", "alice")
		if strings.Contains(desc, "request_percentage") || !strings.Contains(desc, "controller_mutation_rate=10") {
			s.Fatalf("kafka-configs --describe after --delete-config request_percentage: %s", lastLines(desc, 5))
		}
		s.note("request_percentage and controller_mutation_rate set, described and deleted")
	})
	scenario(t, "go", "quota-max-connections-per-ip", 60*time.Second, func(s *S) {
		var open []net.Conn
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		for i := range 20 {
			c, ok := dialAnswered(s, addr, "127.0.0.3")
			if !ok {
				s.Fatalf("127.0.0.3 refused at its connection %d, below max.connections.per.ip=20", i+1)
			}
			open = append(open, c)
		}
		if c, ok := dialAnswered(s, addr, "127.0.0.3"); ok {
			c.Close()
			s.Fatalf("127.0.0.3's 21st connection answered, past max.connections.per.ip=20")
		}
		s.note("the 21st connection from one IP closed at accept")
	})
}

// answersFrom dials addr from the local IP from and reports whether logd answers an
// ApiVersions on it (false: closed at accept); it closes the connection.
func answersFrom(s *S, addr, from string) bool {
	c, ok := dialAnswered(s, addr, from)
	if c != nil {
		c.Close()
	}
	return ok
}

// dialAnswered dials addr from the local IP from and reports whether logd answers an
// ApiVersions v0 on the connection, which it returns open.
func dialAnswered(s *S, addr, from string) (net.Conn, bool) {
	s.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		s.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("quota-test")).AppendRequest(nil, req, 1)); err != nil {
		c.Close()
		return nil, false
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		c.Close()
		return nil, false
	}
	c.SetReadDeadline(time.Time{})
	return c, true
}
