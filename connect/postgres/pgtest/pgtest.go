// Package pgtest runs a throwaway PostgreSQL server for tests: a fresh cluster (initdb) in a
// temporary directory, listening on a free port of 127.0.0.1 only, with logical replication
// on (wal_level=logical, replication slots and WAL senders) and trust authentication.
//
//	s, err := pgtest.Start(ctx)
//	if errors.Is(err, pgtest.ErrNoBinaries) { skip }
//	defer s.Close()
//	dsn := s.URL("postgres")
//	s.Kill() / s.Stop() then s.Restart(ctx)  // same data directory, same port
//
// PostgreSQL refuses to run as root: when the test runs as root, initdb and postgres run as
// the user "postgres" (Debian's package creates it) or else "nobody", through the process
// credentials of os/exec (what su, runuser or setpriv would do), and the data directory is
// handed to that user. Every wait is bounded; the server gets a parent-death signal, so a
// test binary that dies leaves no server behind.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned by Start when initdb and postgres cannot be found.
var ErrNoBinaries = errors.New("pgtest: PostgreSQL binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin; install the postgresql package")

// Bounds of the waits.
const (
	initWait  = time.Minute
	readyWait = 30 * time.Second
	stopWait  = 20 * time.Second
)

// Superuser is the name of the cluster's superuser (no password: trust authentication).
const Superuser = "postgres"

// Server is a running (or stopped) throwaway PostgreSQL server.
type Server struct {
	Port int    // the TCP port on 127.0.0.1
	Dir  string // the temporary directory holding the data directory

	bin  string // the directory of initdb and postgres
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu; nil when stopped
	done chan struct{} // guarded by mu; closed when cmd exited
	log  bytes.Buffer  // the server's output, guarded by mu
}

// Start creates a cluster in a new temporary directory and starts its server.
func Start(ctx context.Context) (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		if s.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	if s.Dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	// The unprivileged user must reach the data directory inside.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		s.Close()
		return nil, err
	}
	data := s.dataDir()
	if err := os.Mkdir(data, 0o700); err != nil {
		s.Close()
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(data, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.Close()
			return nil, err
		}
	}
	ictx, cancel := context.WithTimeout(ctx, initWait)
	defer cancel()
	initdb := exec.CommandContext(ictx, filepath.Join(bin, "initdb"), "-D", data, "-U", Superuser,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		s.Close()
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	if s.Port, err = freePort(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Restart(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// URL returns a connection URL for database db as the superuser.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.Port, db)
}

// Restart starts the server on its data directory and port and waits until it accepts
// connections. The server must not be running.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("pgtest: server already running")
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=16",
		"-c", "max_wal_senders=16",
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=50")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Stdout = &lockedWriter{s}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() {
		cmd.Wait()
		close(done)
	}()

	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("pgtest: postgres exited at start:\n%s", s.Log())
		case <-ctx.Done():
			s.Kill()
			return fmt.Errorf("pgtest: postgres not ready within %v: %v\n%s", readyWait, err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (fast shutdown: open transactions are rolled back, everything
// committed is kept), killing it if it does not stop in time.
func (s *Server) Stop() error { return s.stop(syscall.SIGINT) }

// Kill kills the server's process group with SIGKILL, as a crash would.
func (s *Server) Kill() error { return s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	if sig == syscall.SIGKILL {
		syscall.Kill(-pgid, syscall.SIGKILL)
	} else {
		cmd.Process.Signal(sig)
	}
	select {
	case <-done:
	case <-time.After(stopWait):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	if sig == syscall.SIGKILL {
		// The children (backends, WAL writer) are in the same process group; wait until the
		// postmaster.pid lock is gone from their view by waiting for the port to be free.
		return waitPortFree(s.Port, stopWait)
	}
	return nil
}

// Log returns what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if s.Dir != "" {
		if rerr := os.RemoveAll(s.Dir); err == nil {
			err = rerr
		}
	}
	return err
}

type lockedWriter struct{ s *Server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

// findBinaries returns the directory holding initdb and postgres: PATH first, then the newest
// of Debian's /usr/lib/postgresql/<version>/bin.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		_, e1 := os.Stat(filepath.Join(d, "initdb"))
		_, e2 := os.Stat(filepath.Join(d, "postgres"))
		if e1 == nil && e2 == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

// unprivileged returns the credentials of the user the server runs as under root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pgtest: running as root and neither user postgres nor nobody exists; PostgreSQL refuses to run as root")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPortFree(port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: port %d still in use %v after kill", port, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
