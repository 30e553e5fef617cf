package harness

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/internal/testpeer"
)

// DefaultProbeTimeout is how long Connect and Ping wait. Between containers
// on one machine an answer takes a millisecond; two seconds tell "dropped"
// from "slow" even on a machine loaded by parallel builds and fuzzing (a
// second was seen to fall short there), and still keep tests that expect
// drops short.
const DefaultProbeTimeout = 2 * time.Second

// execSlack is added to an exec's own timeout for the engine round trips.
const execSlack = 30 * time.Second

// ExecResult is the outcome of a command run in a container.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// Exec runs cmd inside the container (as the container's user) and returns
// its exit code and output. A non-zero exit code is a result, not an
// error; only an engine failure fails the test.
func (c *Container) Exec(cmd ...string) ExecResult {
	c.h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), execSlack)
	defer cancel()
	r, err := c.TryExec(ctx, "", cmd...)
	if err != nil {
		c.h.t.Fatalf("exec %q in %s: %v", cmd, c.Name, err)
	}
	return r
}

// TryExec is Exec for any goroutine: it reports engine failures as an
// error. user overrides the container's user when not empty.
func (c *Container) TryExec(ctx context.Context, user string, cmd ...string) (ExecResult, error) {
	d := c.h.Docker()
	created, err := d.ExecCreate(ctx, c.ID, client.ExecCreateOptions{
		User: user, Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec create: %w", err)
	}
	att, err := d.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec attach: %w", err)
	}
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	att.Close()
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec output: %w", err)
	}
	// The output ends when the process exits, but the engine records the
	// exit code a moment later.
	for {
		insp, err := d.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return ExecResult{}, fmt.Errorf("exec inspect: %w", err)
		}
		if !insp.Running {
			return ExecResult{ExitCode: insp.ExitCode, Stdout: stdout.String(), Stderr: stderr.String()}, nil
		}
		select {
		case <-ctx.Done():
			return ExecResult{}, fmt.Errorf("exec still running: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Connect makes one connection attempt from inside the container to addr
// ("ip:port") over proto ("tcp" or "udp") with DefaultProbeTimeout, using
// the test peer, and returns the outcome. The test fails if the probe
// itself breaks (engine error, peer crash): that is never an outcome.
func (c *Container) Connect(proto, addr string) testpeer.Outcome {
	c.h.t.Helper()
	return c.ConnectWithin(proto, addr, DefaultProbeTimeout)
}

// ConnectWithin is Connect with another timeout.
func (c *Container) ConnectWithin(proto, addr string, timeout time.Duration) testpeer.Outcome {
	c.h.t.Helper()
	o, report, err := c.TryConnect(proto, addr, timeout)
	if err != nil {
		c.h.t.Fatalf("probe %s %s from %s: %v", proto, addr, c.Name, err)
	}
	c.h.t.Logf("%s: connect %s %s: %s", c.Name, proto, addr, report)
	return o
}

// TryConnect is Connect for any goroutine: it returns the outcome, the
// peer's report line, and an error when the probe itself broke.
func (c *Container) TryConnect(proto, addr string, timeout time.Duration) (testpeer.Outcome, string, error) {
	return c.probe(timeout, "connect", proto, addr, "--timeout", timeout.String())
}

// Ping sends ICMP echo requests from inside the container to ip for up to
// DefaultProbeTimeout: Answered, TimedOut, NotPermitted...
func (c *Container) Ping(ip string) testpeer.Outcome {
	c.h.t.Helper()
	o, report, err := c.probe(DefaultProbeTimeout, "ping", ip, "--timeout", DefaultProbeTimeout.String())
	if err != nil {
		c.h.t.Fatalf("ping %s from %s: %v", ip, c.Name, err)
	}
	c.h.t.Logf("%s: ping %s: %s", c.Name, ip, report)
	return o
}

func (c *Container) probe(timeout time.Duration, args ...string) (testpeer.Outcome, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+execSlack)
	defer cancel()
	r, err := c.TryExec(ctx, "", append([]string{TestPeerPath}, args...)...)
	if err != nil {
		return testpeer.Failed, "", err
	}
	report := strings.TrimSpace(r.Stdout)
	o, err := testpeer.ParseReport(report, r.ExitCode)
	if err != nil {
		return testpeer.Failed, report, fmt.Errorf("%w (stderr %q)", err, strings.TrimSpace(r.Stderr))
	}
	return o, report, nil
}
