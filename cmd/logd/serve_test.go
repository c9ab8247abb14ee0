package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildLogd builds the binary once per test run.
func buildLogd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "logd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestServeContract runs the binary as an operator would: bad input exits non-zero with one
// line naming the problem; a good start logs one ready line; SIGTERM exits 0 and leaves the
// clean-shutdown marker.
func TestServeContract(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--bogus"}, 2, "unknown flag"},
		{[]string{"serve", "--listen", "nonsense"}, 2, "--listen"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--advertise", "0.0.0.0:9092"}, 2, "--advertise"},
		{[]string{"serve", "--data-dir", filepath.Join(blocker, "sub"), "--listen", "127.0.0.1:0"}, 1, "--data-dir"},
		{[]string{"serve", "--data-dir", dir, "--listen", "203.0.113.1:9092"}, 1, "cannot listen"},
	} {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if !ok || ee.ExitCode() != c.code || !strings.Contains(lines[len(lines)-1], c.want) || !strings.HasPrefix(lines[len(lines)-1], "logd: ") {
			t.Errorf("%v: exit %v, output %q; want exit %d and a line naming %q", c.args, err, out, c.code, c.want)
		}
	}

	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "--data-dir", data, "--listen", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "listen=127.0.0.1:") {
			t.Fatalf("ready line: %s", line)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no ready line")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, ".kafka_cleanshutdown")); err != nil {
		t.Fatalf("no clean-shutdown marker: %v", err)
	}
}

// TestDataDirLock: a data directory in use is refused with a message naming the holder, and
// is free again once the holder lets go (a process's exit does the same, kill -9 included).
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	held, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	want := fmt.Sprintf("in use by another logd (pid %d holds", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want an error containing %q", err, want)
	}
	held.Close()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}
