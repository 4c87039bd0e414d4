// Package redistest runs a throwaway redis-server for tests, on a random
// loopback port with nothing persisted, and breaks it on demand (Stop,
// Restart, Pause) for fault tests. Tests that use it skip where
// redis-server is not installed, unless LATCH_REQUIRE_REDIS=1 (as CI sets
// it), which makes them fail. It must never be imported by non-test code.
package redistest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server a test started; it is killed when the test ends.
type Server struct {
	t    testing.TB
	bin  string
	args []string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	resume *time.Timer   // the SIGCONT a Pause has pending
}

// Start runs redis-server on a free loopback port, with args added to its
// command line (such as "--requirepass", "secret"), and waits until it
// answers.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := find()
	if bin == "" {
		if os.Getenv("LATCH_REQUIRE_REDIS") == "1" {
			t.Fatal("LATCH_REQUIRE_REDIS=1 but redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server; LATCH_REQUIRE_REDIS=1 fails instead)")
	}
	s := &Server{t: t, bin: bin, args: args, dir: t.TempDir()}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(s.logPath()); err == nil {
				t.Logf("redis-server's log:\n%s", b)
			}
		}
	})
	// The port was free a moment ago; another process may take it before
	// redis-server binds it, so try a few.
	var err error
	for range 5 {
		s.port, err = freePort()
		if err != nil {
			t.Fatal(err)
		}
		if err = s.launch(); err == nil {
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", err)
	return nil
}

func find() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// launch starts the process on s.port and waits until it answers.
func (s *Server) launch() error {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no",
	}, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("redis-server exited (is port " + strconv.Itoa(s.port) + " taken?)")
		default:
		}
		if answers(s.Addr()) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	return errors.New("redis-server did not answer within 10 s")
}

// answers reports whether a Redis server replies to PING on addr (with
// PONG, or with an error when it wants a password first).
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is redis://127.0.0.1:port/0, without credentials.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server (Redis down; everything it held is lost). It does
// nothing if the server is stopped already.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resume != nil {
		s.resume.Stop()
		s.resume = nil
	}
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops the server if it runs and starts an empty one on the same
// port, as a Redis without persistence comes back after a crash.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		s.t.Fatalf("restart redis-server on port %d: %v", s.port, err)
	}
}

// Pause freezes the server (SIGSTOP) for d, returning at once: it keeps
// its connections and accepts new ones but answers nothing, as a Redis
// stuck in a slow command or a swap storm. A second Pause replaces the
// first's resumption; Stop resumes nothing but kills.
func (s *Server) Pause(d time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("Pause: redis-server is not running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("Pause: %v", err)
	}
	if s.resume != nil {
		s.resume.Stop()
	}
	p := s.cmd.Process
	s.resume = time.AfterFunc(d, func() { _ = p.Signal(syscall.SIGCONT) })
}
