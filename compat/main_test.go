//go:build compat

// Package compat drives the real logd binary with real Kafka clients: franz-go, sarama and
// segmentio/kafka-go in Go; kcat, confluent-kafka-python, kafka-python, kafkajs and the Java
// client through small driver programs run with exec. `make compat` installs the clients
// (scripts/compat-deps.sh) and runs `go test -tags compat ./compat`.
//
// TestMain builds bin/logd, starts it on a free loopback port with a fresh data directory,
// runs every test against it and stops it with SIGTERM at the end (it must exit 0). Each
// scenario is recorded as PASS, FAIL or N/A per client; the matrix is printed at the end and
// written to compat/.results.txt.
package compat

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	repoRoot string // the module root (compat/..)
	logdBin  string // bin/logd
	bootAddr string // the shared broker's address
	shared   *brokerProc
)

// brokerProc is one running logd process.
type brokerProc struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	adv  string // --advertise, if given
	log  *os.File
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startBroker runs bin/logd on addr (a free port if empty) over dir and waits for "logd ready".
func startBroker(dir, addr, logName string) (*brokerProc, error) {
	return startBrokerArgs(dir, addr, logName)
}

func startBrokerArgs(dir, addr, logName string, extra ...string) (*brokerProc, error) {
	if addr == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	logDir := filepath.Join(repoRoot, "compat", ".logs")
	os.MkdirAll(logDir, 0o755)
	lf, err := os.OpenFile(filepath.Join(logDir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(logdBin, append([]string{"serve", "--data-dir", dir, "--listen", addr}, extra...)...)
	cmd.Stdout = lf
	stderr, err := cmd.StderrPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	b := &brokerProc{cmd: cmd, addr: addr, dir: dir, log: lf, done: make(chan struct{})}
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] == "--advertise" {
			b.adv = extra[i+1]
		}
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if strings.Contains(line, "logd ready") {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(lf, stderr)
		b.err = cmd.Wait()
		close(b.done)
	}()
	select {
	case <-ready:
		return b, nil
	case <-b.done:
		return nil, fmt.Errorf("logd exited before ready: %v (log: %s)", b.err, lf.Name())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-b.done
		return nil, fmt.Errorf("logd not ready after 20s (log: %s)", lf.Name())
	}
}

// stop sends SIGTERM and waits up to 30s for the exit; it returns the exit error.
func (b *brokerProc) stop() error {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
		return fmt.Errorf("logd did not exit within 30s of SIGTERM")
	}
	b.log.Close()
	return b.err
}

// kill9 kills the process with SIGKILL and waits for it.
func (b *brokerProc) kill9() {
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	b.log.Close()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	logdBin = filepath.Join(repoRoot, "bin", "logd")
	if ref := os.Getenv("COMPAT_BROKER"); ref != "" {
		// Drive another broker (say Apache Kafka) instead of logd, to check the suite itself.
		// Scenarios that start their own logd still do; the matrix is printed, not written.
		return runAgainst(m, ref)
	}
	if os.Getenv("COMPAT_NO_BUILD") == "" {
		build := exec.Command("go", "build", "-o", logdBin, "./cmd/logd")
		build.Dir = repoRoot
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "compat: building bin/logd:", err)
			return 1
		}
	}
	os.RemoveAll(filepath.Join(repoRoot, "compat", ".logs"))
	dir, err := os.MkdirTemp("", "logd-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, err = startBroker(filepath.Join(dir, "shared"), "", "broker-shared.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	bootAddr = shared.addr
	fmt.Fprintf(os.Stderr, "compat: logd on %s, data in %s\n", bootAddr, dir)
	tmpDir = dir

	code := m.Run()

	if err := shared.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "compat: shared broker did not exit cleanly on SIGTERM:", err)
		recordResult("broker", "sigterm-exit-0", "FAIL", err.Error())
		code = 1
	} else {
		recordResult("broker", "sigterm-exit-0", "PASS", "")
	}
	printMatrix()
	return code
}

var tmpDir string

func runAgainst(m *testing.M, addr string) int {
	dir, err := os.MkdirTemp("", "logd-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bootAddr, tmpDir = addr, dir
	fmt.Fprintf(os.Stderr, "compat: COMPAT_BROKER=%s: driving it instead of logd\n", addr)
	code := m.Run()
	printMatrixTo("")
	return code
}

// ---- results ----

type result struct {
	status string // PASS, FAIL, N/A
	detail string
	dur    time.Duration
}

var (
	resMu   sync.Mutex
	results = map[string]map[string]result{} // scenario → client → result
)

func recordResult(client, scenario, status, detail string) {
	recordResultDur(client, scenario, status, detail, 0)
}

func recordResultDur(client, scenario, status, detail string, d time.Duration) {
	resMu.Lock()
	defer resMu.Unlock()
	if results[scenario] == nil {
		results[scenario] = map[string]result{}
	}
	results[scenario][client] = result{status, detail, d}
}

var clientOrder = []string{"franz-go", "sarama", "kafka-go", "kcat", "confluent-py", "kafka-python", "kafkajs", "java", "broker"}

func printMatrix() { printMatrixTo(filepath.Join(repoRoot, "compat", ".results.txt")) }

// printMatrixTo prints the matrix and writes it to path (if not "").
func printMatrixTo(path string) {
	resMu.Lock()
	defer resMu.Unlock()
	var scen []string
	for s := range results {
		scen = append(scen, s)
	}
	sort.Strings(scen)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-28s", "scenario")
	for _, c := range clientOrder {
		fmt.Fprintf(&sb, " %-12s", c)
	}
	sb.WriteString("\n")
	var fails []string
	npass, nfail, nna := 0, 0, 0
	for _, s := range scen {
		fmt.Fprintf(&sb, "%-28s", s)
		for _, c := range clientOrder {
			r, ok := results[s][c]
			st := "-"
			if ok {
				st = r.status
				switch r.status {
				case "PASS":
					npass++
				case "FAIL":
					nfail++
					fails = append(fails, fmt.Sprintf("%s × %s: %s", s, c, r.detail))
				default:
					nna++
				}
			}
			fmt.Fprintf(&sb, " %-12s", st)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\nN/A reasons:\n")
	for _, s := range scen {
		for _, c := range clientOrder {
			if r, ok := results[s][c]; ok && r.status == "N/A" {
				fmt.Fprintf(&sb, "  %s × %s: %s\n", s, c, r.detail)
			}
		}
	}
	sb.WriteString("\nFailures:\n")
	for _, f := range fails {
		sb.WriteString("  " + f + "\n")
	}
	fmt.Fprintf(&sb, "\ncompat: %d passed, %d failed, %d not applicable\n", npass, nfail, nna)
	fmt.Print("\n" + sb.String())
	if path != "" {
		os.WriteFile(path, []byte(sb.String()), 0o644)
	}
}

// S is one scenario run for one client: it records the first failure message for the matrix.
type S struct {
	*testing.T
	client, scenario string
	first            string
	na               string
	looseHeaders     bool
	emptyIsNull      bool // the client maps empty keys/values to null (kafka-go)
	ctx              context.Context
}

func (s *S) note(msg string) {
	if s.first == "" {
		s.first = msg
	}
}

func (s *S) Errorf(format string, args ...any) {
	s.T.Helper()
	s.note(fmt.Sprintf(format, args...))
	s.T.Errorf(format, args...)
}

func (s *S) Fatalf(format string, args ...any) {
	s.T.Helper()
	s.note(fmt.Sprintf(format, args...))
	s.T.Fatalf(format, args...)
}

// NA marks the scenario not applicable to this client and ends it.
func (s *S) NA(reason string) {
	s.T.Helper()
	s.na = reason
	s.T.Skip("N/A: " + reason)
}

// scenario runs fn as subtest "scenario" of t with a deadline and records the outcome.
func scenario(t *testing.T, client, name string, timeout time.Duration, fn func(s *S)) {
	t.Run(name, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s := &S{T: t, client: client, scenario: name, ctx: ctx}
		start := time.Now()
		defer func() {
			d := time.Since(start)
			switch {
			case s.na != "":
				recordResultDur(client, name, "N/A", s.na, d)
			case t.Failed():
				msg := s.first
				if msg == "" {
					msg = "failed"
				}
				if ctx.Err() != nil {
					msg += " (scenario deadline " + timeout.String() + " reached)"
				}
				recordResultDur(client, name, "FAIL", oneLine(msg), d)
			default:
				recordResultDur(client, name, "PASS", "", d)
			}
		}()
		fn(s)
	})
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
