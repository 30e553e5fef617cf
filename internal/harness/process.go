package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dcfwPackage is dcfw's main package, relative to the module root.
const dcfwPackage = "."

// stopTimeout is how long Stop (and cleanup) wait after SIGTERM before
// killing a process.
const stopTimeout = 15 * time.Second

// DcfwBinary returns the path of dcfw built from this module (static, so it
// can also be copied into an image), building it on first use.
func (h *Harness) DcfwBinary() string {
	h.t.Helper()
	return h.BuildBinary(dcfwPackage)
}

// StartDcfw starts dcfw with args as a subprocess of the test, its output
// captured (see Process). It inherits the test's environment, so it talks
// to the same engine (DOCKER_HOST). It is stopped with SIGTERM when the
// test ends, and its output is printed if the test failed.
func (h *Harness) StartDcfw(args ...string) *Process {
	h.t.Helper()
	return h.StartProcess(nil, h.DcfwBinary(), args...)
}

// ScopedDcfwArgs are the flags of a dcfw copy a test starts, then args: it
// manages only this run's containers (the engine is shared with other
// runs, and people) and opens no status socket (copies run at once, beside
// a deployed dcfw whose socket is not theirs to take).
func (h *Harness) ScopedDcfwArgs(args ...string) []string {
	return append([]string{"--only-label", LabelRun + "=" + h.RunID(), "--status-socket", ""}, args...)
}

// StartDcfwEnv is StartDcfw with extra environment variables
// ("DCFW_INTERVAL=1s"), e.g. to test configuration by environment.
func (h *Harness) StartDcfwEnv(env []string, args ...string) *Process {
	h.t.Helper()
	return h.StartProcess(env, h.DcfwBinary(), args...)
}

// Process is a program started by a test. Its stdout and stderr are
// captured together, in order, into a log the test can search.
type Process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // from Wait, valid after done
}

// StartProcess starts path with args and extra environment variables
// (added to the test's own), and stops it when the test ends.
func (h *Harness) StartProcess(env []string, path string, args ...string) *Process {
	h.t.Helper()
	p := &Process{t: h.t, name: path, log: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// Its own process group: a ^C to the test does not reach it first, and
	// cleanup decides how it ends.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		h.t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	h.t.Cleanup(func() {
		if !p.Exited() {
			p.terminate()
		}
		if h.t.Failed() {
			h.t.Logf("output of %s %s (exit: %v):\n%s", path, strings.Join(args, " "), p.err, Indent(p.log.String()))
		}
	})
	return p
}

// PID of the process.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Log returns everything the process printed so far.
func (p *Process) Log() string { return p.log.String() }

// Mark returns the current end of the log, for WaitForLogSince and
// LogSince: "what did it print after this point".
func (p *Process) Mark() int { return p.log.Len() }

// LogSince returns what the process printed after mark.
func (p *Process) LogSince(mark int) string { return p.log.StringFrom(mark) }

// WaitForLog waits until the log matches the regular expression pattern
// (multi-line mode: ^ and $ match at line boundaries) and returns the
// first line that matches; the test fails after timeout, or
// when the process exits without printing it.
func (p *Process) WaitForLog(pattern string, timeout time.Duration) string {
	p.t.Helper()
	return p.WaitForLogSince(0, pattern, timeout)
}

// WaitForLogSince is WaitForLog for what was printed after mark.
func (p *Process) WaitForLogSince(mark int, pattern string, timeout time.Duration) string {
	p.t.Helper()
	line, err := p.TryWaitForLog(mark, pattern, timeout)
	if err != nil {
		p.t.Fatalf("%v; output after mark %d:\n%s", err, mark, Indent(p.LogSince(mark)))
	}
	return line
}

// TryWaitForLog is WaitForLogSince for any goroutine.
func (p *Process) TryWaitForLog(mark int, pattern string, timeout time.Duration) (string, error) {
	re, err := regexp.Compile("(?m)" + pattern)
	if err != nil {
		return "", err
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := p.log.changed()
		if line, ok := firstMatchingLine(re, p.LogSince(mark)); ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-p.done:
			// One last look: the final output and the exit race.
			if line, ok := firstMatchingLine(re, p.LogSince(mark)); ok {
				return line, nil
			}
			return "", fmt.Errorf("%s exited (%v) without logging %q", p.name, p.err, pattern)
		case <-deadline.C:
			return "", fmt.Errorf("%s logged nothing matching %q within %s", p.name, pattern, timeout)
		}
	}
}

func firstMatchingLine(re *regexp.Regexp, s string) (string, bool) {
	loc := re.FindStringIndex(s)
	if loc == nil {
		return "", false
	}
	start := strings.LastIndexByte(s[:loc[0]], '\n') + 1
	end := len(s)
	if i := strings.IndexByte(s[loc[1]:], '\n'); i >= 0 {
		end = loc[1] + i
	}
	if loc[1] > loc[0] && s[loc[1]-1] == '\n' {
		end = loc[1] - 1
	}
	return s[start:end], true
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// Stop sends SIGTERM and waits for the exit (killing the process after
// stopTimeout, which fails the test). It returns the exit code.
func (p *Process) Stop() int {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.terminate()
		p.t.Fatalf("%s did not exit within %s of SIGTERM", p.name, stopTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits for the process to exit by itself and returns its exit code;
// the test fails after timeout.
func (p *Process) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %s", p.name, timeout)
		return -1
	}
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

// terminate: SIGTERM, then SIGKILL after stopTimeout.
func (p *Process) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// logBuffer is an append-only buffer, safe for the process's writers and
// the test's readers, that signals every change.
type logBuffer struct {
	mu     sync.Mutex
	b      []byte
	notify chan struct{} // closed and replaced on every write
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
	return len(p), nil
}

// changed returns a channel closed at the next write.
func (l *logBuffer) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.notify == nil {
		l.notify = make(chan struct{})
	}
	return l.notify
}

func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.b)
}

func (l *logBuffer) String() string { return l.StringFrom(0) }

func (l *logBuffer) StringFrom(off int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off > len(l.b) {
		off = len(l.b)
	}
	return string(l.b[off:])
}
