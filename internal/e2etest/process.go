package e2etest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Command is a server for Start to run.
type Command struct {
	Name string   // for messages, such as "nginx"
	Path string   // the binary
	Args []string // its arguments
	Env  []string // its whole environment; nil for os.Environ()

	// Ready, if not "", is the start of the stdout line the server prints
	// once it listens ("latch listening on "): Start waits for it.
	Ready string

	// CleanExit makes Stop report as a test error an exit other than 0
	// after SIGTERM.
	CleanExit bool
}

// Process is a server a test started. It is stopped (SIGTERM, then KILL)
// at the end of the test that started it, unless it exited before.
type Process struct {
	t         testing.TB
	name      string
	cleanExit bool
	cmd       *exec.Cmd
	stdout    *syncBuffer
	stderr    *syncBuffer
	done      chan struct{}
	err       error
}

// Start runs c. With c.Ready, it waits (up to a minute) for the stdout line
// starting with it and returns the rest of that line, trimmed; without, it
// returns at once with "". A server that exits or does not get ready fails
// the test.
func Start(t testing.TB, c Command) (*Process, string) {
	t.Helper()
	p := &Process{t: t, name: c.Name, cleanExit: c.CleanExit, cmd: exec.Command(c.Path, c.Args...),
		stdout: newSyncBuffer(c.Ready), stderr: newSyncBuffer(""), done: make(chan struct{})}
	p.cmd.Env = c.Env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", c.Name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	if c.Ready == "" {
		return p, ""
	}
	select {
	case line := <-p.stdout.found:
		return p, line
	case <-p.done:
		t.Fatalf("%s exited: %v\n%s%s", c.Name, p.err, p.stdout, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start\n%s%s", c.Name, p.stdout, p.stderr)
	}
	return p, ""
}

// Stdout is what the process wrote to its stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr is what the process wrote to its stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err waits for the process to exit and returns how it exited (nil for
// status 0), as exec.Cmd.Wait does.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the process to exit; one that is still
// there 20 seconds later is killed and fails the test. It does nothing if
// the process has exited already.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil && p.cleanExit {
			p.t.Errorf("%s exited with %v after SIGTERM\n%s", p.name, p.err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s ignored SIGTERM\n%s", p.name, p.stderr)
	}
}

// WaitListening waits (up to 20 seconds, or the test fails) until
// something accepts connections on addr. It returns false if the process
// exits first.
func (p *Process) WaitListening(t testing.TB, addr string) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return false
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s does not listen on %s\n%s", p.name, addr, p.stderr)
	return false
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of os/exec and
// the test reading it; it signals the first line with a given prefix.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	prefix string
	found  chan string
	sent   bool
}

func newSyncBuffer(prefix string) *syncBuffer {
	return &syncBuffer{prefix: prefix, found: make(chan string, 1)}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.prefix != "" && !b.sent {
		for line := range strings.Lines(b.buf.String()) {
			if rest, ok := strings.CutPrefix(line, b.prefix); ok && strings.HasSuffix(line, "\n") {
				b.found <- strings.TrimSpace(rest)
				b.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
