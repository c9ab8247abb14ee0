package bench

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/logd/logd/perf/loadgen"
)

// Brokers under comparison, each started fresh on loopback by Compare:
//
//	kafka         Apache Kafka in KRaft mode, combined broker+controller, its defaults
//	              (no fsync: flush.messages and flush.ms unset, acks=all waits for replication
//	              only, and with one broker that is the leader's append to the page cache)
//	logd-fsync    logd's defaults: acks=all answered after fsync (group commit)
//	logd-nofsync  logd with Kafka-like durability: logd.fsync.acks.all=false
//	              (LOGD_FSYNC_ACKS_ALL=false), no flush.messages/flush.ms
//	logd-rf3      three `logd serve` nodes on loopback, logd's defaults, every topic created
//	              with replication factor 3: acks=all waits for the ISR (cluster.go)
const (
	BrokerKafka       = "kafka"
	BrokerLogdFsync   = "logd-fsync"
	BrokerLogdNoFsync = "logd-nofsync"
	BrokerLogdRF3     = "logd-rf3"
)

// process is a broker child process.
type process struct {
	name   string
	addr   string
	pid    int
	dir    string   // data directory
	config []string // how it was configured, for the report
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done is closed
	log    *os.File

	// peers are the other nodes of a cluster this process is the first node of: they share
	// its lifetime (alive, stop) and its cost (pids).
	peers []*process
	// replication is the replication factor of the topics a run creates on this broker
	// (0: the workload's).
	replication int
	// metricsURL is the broker's Prometheus endpoint ("" : none), for the latency breakdown.
	metricsURL string
}

// alive reports whether the process, and every peer, still runs.
func (p *process) alive() bool {
	for _, q := range append([]*process{p}, p.peers...) {
		select {
		case <-q.done:
			return false
		default:
		}
	}
	return true
}

// pids are the process ids of the broker: this process and its peers.
func (p *process) pids() []int {
	pids := []int{p.pid}
	for _, q := range p.peers {
		pids = append(pids, q.pid)
	}
	return pids
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startLogd runs `logd serve` on a fresh directory.
func startLogd(bin, name, dir, logPath string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The metrics endpoint gives the latency breakdown of produce requests (stages.go);
	// logd records them only when it serves /metrics.
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", dir, "--listen", addr, "--http", httpAddr}
	env := os.Environ()
	config := []string{"logd " + strings.Join(args, " ")}
	switch name {
	case BrokerLogdFsync:
		config = append(config, "durability: acks=all answered after fsync of the batch (logd.fsync.acks.all=true, the default); acks=1 after the append")
	case BrokerLogdNoFsync:
		env = append(env, "LOGD_FSYNC_ACKS_ALL=false")
		config = append(config, "LOGD_FSYNC_ACKS_ALL=false", "durability: Kafka-like, no fsync before any ack (data reaches disk by the kernel's writeback)")
	default:
		return nil, fmt.Errorf("unknown logd variant %q", name)
	}
	config = append(config, "topic defaults: flush.messages and flush.ms unset (no periodic fsync), segment.bytes 1 GiB")
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p, err := launch(name, addr, dir, logPath, config, cmd, 30*time.Second)
	if err != nil {
		return nil, err
	}
	p.metricsURL = "http://" + httpAddr + "/metrics"
	return p, nil
}

// kafkaJVMOptions are kafka-run-class.sh's defaults for the broker (heap from
// kafka-server-start.sh).
var kafkaJVMOptions = []string{"-Xms1G", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"}

// startKafka formats a KRaft storage directory and runs kafka.Kafka, combined broker and
// controller, on loopback, with Kafka's defaults except what a single node needs.
func startKafka(lib, dir, logPath string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	caddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	props := []string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + caddr,
		"listeners=PLAINTEXT://" + addr + ",CONTROLLER://" + caddr,
		"advertised.listeners=PLAINTEXT://" + addr,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(dir, "log"),
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	propsPath := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsPath, []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	cp := filepath.Join(lib, "*")
	if _, err := os.Stat(filepath.Join(lib, "kafka-tools-"+kafkaVersionGlob(lib)+".jar")); err != nil {
		return nil, fmt.Errorf("no Apache Kafka jars in %s: run `bash scripts/kafka-tools.sh fetch` (or `make bench-compare`)", lib)
	}
	id := make([]byte, 16)
	rand.Read(id)
	clusterID := base64.RawURLEncoding.EncodeToString(id)
	// --cluster-id=ID, not "-t ID": a random id starting with '-' would read as an option.
	format := exec.Command("java", "-cp", cp, "kafka.tools.StorageTool", "format", "--cluster-id="+clusterID, "-c", propsPath)
	if out, err := format.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kafka-storage format: %v\n%s", err, out)
	}
	args := append(append([]string{}, kafkaJVMOptions...), "-cp", cp, "kafka.Kafka", propsPath)
	config := append([]string{fmt.Sprintf("Apache Kafka %s, KRaft combined broker+controller, storage formatted with kafka-storage format -t %s",
		kafkaVersionGlob(lib), clusterID), "java " + strings.Join(kafkaJVMOptions, " ") + " kafka.Kafka server.properties", "server.properties:"}, props...)
	config = append(config, "durability: Kafka's default, no fsync before any ack (log.flush.interval.messages/ms unset); acks=all waits for the ISR, here the leader alone")
	return launch(BrokerKafka, addr, dir, logPath, config, exec.Command("java", args...), 90*time.Second)
}

// kafkaVersionGlob finds the Kafka version of the jars in lib (kafka-tools-X.jar).
func kafkaVersionGlob(lib string) string {
	m, _ := filepath.Glob(filepath.Join(lib, "kafka-tools-[0-9]*.jar"))
	for _, p := range m {
		return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "kafka-tools-"), ".jar")
	}
	return "unknown"
}

// launch starts cmd and waits until addr answers ApiVersions and Metadata names a broker.
func launch(name, addr, dir, logPath string, config []string, cmd *exec.Cmd, timeout time.Duration) (*process, error) {
	p, err := spawn(name, addr, dir, logPath, config, cmd)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(timeout); err != nil {
		return nil, err
	}
	return p, nil
}

// spawn starts cmd, its output going to logPath.
func spawn(name, addr, dir, logPath string, config []string, cmd *exec.Cmd) (*process, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &process{name: name, addr: addr, pid: cmd.Process.Pid, dir: dir, config: config, cmd: cmd, done: make(chan struct{}), log: lf}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady waits until the process answers ApiVersions and Metadata names a broker; if it
// does not within timeout, or exits, it is stopped and the error says so.
func (p *process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := loadgen.Dial(p.addr, 200*time.Millisecond)
		if err == nil {
			_, err = c.Leaders("bench-ready", 1, true)
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-p.done:
			p.log.Close()
			return fmt.Errorf("%s exited before ready: %v (log: %s)", p.name, p.err, p.log.Name())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("%s not ready after %v: %v (log: %s)", p.name, timeout, err, p.log.Name())
		}
	}
}

// logs names the log files of the process and its peers.
func (p *process) logs() string {
	names := []string{p.log.Name()}
	for _, q := range p.peers {
		names = append(names, q.log.Name())
	}
	return strings.Join(names, ", ")
}

// stop sends SIGTERM to the process and its peers, waits up to a minute, then kills.
func (p *process) stop() {
	all := append([]*process{p}, p.peers...)
	for _, q := range all {
		q.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, q := range all {
		select {
		case <-q.done:
		case <-time.After(time.Minute):
			q.cmd.Process.Kill()
			<-q.done
		}
		q.log.Close()
	}
}
