package e2e

// TestControllerSurvivesEngineRestart restarts the Docker engine. The
// engine is shared by every test (and, on a developer machine, by other
// runs), so scripts/test.sh runs it in a go test of its own, after the
// rest of the e2e suite on each engine (which skips it): no test of the
// same run is using the engine when it stops. It waits until no other
// live test run uses the engine, and it puts the engine back as it found
// it: running, started the same way, with the containers that ran before
// running again. Run by hand, alone:
//
//	go test ./e2e/ -run '^TestControllerSurvivesEngineRestart$' -count=1

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testenv"
)

const (
	// engineTimeout bounds the engine's stop and start.
	engineTimeout = 2 * time.Minute
	// quietTimeout bounds the wait for other test runs to finish (a full
	// run of this package takes a few minutes).
	quietTimeout = 15 * time.Minute
)

// The engine restarts while dcfw runs; dcfw keeps running, reconnects, and
// protects a container started afterwards.
func TestControllerSurvivesEngineRestart(t *testing.T) {
	h := harness.Setup(t)
	waitForQuietEngine(t, h)

	n := h.Bridge() // networks survive an engine restart
	before := h.RunContainer(harness.ContainerSpec{Name: "before", Network: n,
		Labels: labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp to any port 80")})
	p := startDcfw(h)
	waitProtected(p, 0, before)
	p.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)

	mark := p.Mark()
	restartEngine(t, h)

	p.WaitForLogSince(mark, `WARN\s+docker event stream lost; reconnecting`, protectTimeout)
	p.WaitForLogSince(mark, `INFO\s+docker event stream reconnected; reconciling everything`, engineTimeout)
	p.WaitForLogSince(mark, `INFO\s+reconcile after reconnect`, protectTimeout)
	if p.Exited() {
		t.Fatalf("dcfw exited during the engine restart:\n%s", p.Log())
	}

	mark = p.Mark()
	web := h.RunContainer(harness.ContainerSpec{Name: "after", Network: n, Cmd: harness.Serve(80, 81),
		Labels: labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp to any port 80")})
	cli := h.RunContainer(harness.ContainerSpec{Name: "client", Network: n})
	waitProtected(p, mark, web)
	expectTable(t, web)
	checkFlows(t, []flow{
		{cli, "tcp", web.Addr(n, 80), true, "allowed port, container started after the engine restart"},
		{cli, "tcp", web.Addr(n, 81), false, "other port, container started after the engine restart"},
	})
	if p.Exited() {
		t.Error("dcfw exited")
	}
}

// restartQueueDir holds one file per test run (named by its PID) that is
// waiting to restart the engine; see waitForQuietEngine.
const restartQueueDir = "/tmp/dcfw-e2e-engine-restart"

// waitForQuietEngine waits until no other live test run uses the engine:
// stopping it would break that run's tests. A run is seen by its labelled
// image, networks and containers (the image exists from its first test to
// its teardown, so the gaps between its tests count too).
//
// Two runs that both reach this test would wait for each other; so a run
// that waits announces it with a file in restartQueueDir, and waiting runs
// go in PID order: a run ignores waiting runs with a higher PID (they are
// idle, and wait for it to finish entirely).
func waitForQuietEngine(t *testing.T, h *harness.Harness) {
	t.Helper()
	me := os.Getpid()
	if err := os.MkdirAll(restartQueueDir, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(restartQueueDir, strconv.Itoa(me))
	if err := os.WriteFile(marker, []byte(h.RunID()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(marker) })

	deadline := time.Now().Add(quietTimeout)
	for {
		busy := otherLiveRuns(t, h, me)
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			testenv.SkipOrFail(t, fmt.Sprintf("other test runs kept using the engine for %s; not restarting it under them: %v", quietTimeout, busy))
		}
		t.Logf("waiting for other test runs to finish before restarting the engine: %v", busy)
		time.Sleep(5 * time.Second)
	}
}

// otherLiveRuns lists the other live runs this one must wait for.
func otherLiveRuns(t *testing.T, h *harness.Harness, me int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.APITimeout)
	defer cancel()
	filter := make(client.Filters).Add("label", harness.LabelRun)
	owners := map[string]string{} // pid → run
	is, err := h.Docker().ImageList(ctx, client.ImageListOptions{Filters: filter})
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	for _, img := range is.Items {
		owners[img.Labels[harness.LabelPID]] = img.Labels[harness.LabelRun]
	}
	ns, err := h.Docker().NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range ns.Items {
		owners[n.Labels[harness.LabelPID]] = n.Labels[harness.LabelRun]
	}
	cs, err := h.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range cs.Items {
		owners[c.Labels[harness.LabelPID]] = c.Labels[harness.LabelRun]
	}
	var busy []string
	for pid, run := range owners {
		if run == h.RunID() || !harness.OwnerAlive(pid) {
			continue
		}
		n, _ := strconv.Atoi(pid)
		if _, err := os.Stat(filepath.Join(restartQueueDir, pid)); err == nil && n > me {
			continue // waiting behind us
		}
		busy = append(busy, fmt.Sprintf("run %s (pid %s)", run, pid))
	}
	return busy
}

// engineProcess is how the running engine was started, to start it the
// same way again.
type engineProcess struct {
	pid  int
	path string
	args []string
	env  []string
	dir  string
	log  string // the file its output went to, or ""
}

// restartEngine stops the engine and starts it again as it was started
// (systemd's unit, or the same command line, environment, directory and
// log file when it was started by hand), then waits until it answers and
// starts the containers of other owners that ran before (the engine here
// runs without live-restore, so a restart stops every container).
func restartEngine(t *testing.T, h *harness.Harness) {
	t.Helper()
	running := runningContainers(t, h)

	if systemdManagesDocker() {
		t.Log("restarting the engine with systemctl restart docker")
		if out, err := exec.Command("systemctl", "restart", "docker").CombinedOutput(); err != nil {
			t.Fatalf("systemctl restart docker: %v: %s", err, out)
		}
	} else {
		ep, err := findEngine()
		if err != nil {
			testenv.SkipOrFail(t, "cannot restart the engine: "+err.Error())
		}
		// Whatever happens below, the engine must run again afterwards.
		t.Cleanup(func() {
			if pingEngine(h, 5*time.Second) != nil {
				if err := ep.start(); err != nil {
					t.Errorf("restore the engine: %v", err)
				} else if err := pingEngine(h, engineTimeout); err != nil {
					t.Errorf("restored engine does not answer: %v", err)
				}
			}
		})
		t.Logf("restarting the engine: SIGTERM to pid %d, then %s %v (dir %s, log %s)", ep.pid, ep.path, ep.args[1:], ep.dir, ep.log)
		if err := ep.stop(); err != nil {
			t.Fatal(err)
		}
		if err := ep.start(); err != nil {
			t.Fatalf("start the engine again: %v", err)
		}
	}
	if err := pingEngine(h, engineTimeout); err != nil {
		t.Fatalf("the engine does not answer after the restart: %v", err)
	}
	restartContainers(t, h, running)
}

func systemdManagesDocker() bool {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return false
	}
	return exec.Command("systemctl", "is-active", "--quiet", "docker").Run() == nil
}

func findEngine() (*engineProcess, error) {
	pid := 0
	if b, err := os.ReadFile("/var/run/docker.pid"); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid <= 0 {
		return nil, errors.New("no /var/run/docker.pid")
	}
	proc := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("engine pid %d: %w", pid, err)
	}
	ep := &engineProcess{pid: pid, args: splitNUL(cmdline)}
	if len(ep.args) == 0 || filepath.Base(ep.args[0]) != "dockerd" {
		return nil, fmt.Errorf("pid %d is not dockerd: %q", pid, ep.args)
	}
	if environ, err := os.ReadFile(proc + "/environ"); err == nil {
		ep.env = splitNUL(environ)
	}
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		return nil, err
	}
	ep.path = strings.TrimSuffix(exe, " (deleted)")
	// Its working directory, unless that is gone meanwhile (the kernel
	// then shows it with " (deleted)"; e.g. the checkout of the run that
	// started the engine was removed): "/" then, or it would not start.
	if ep.dir, err = os.Readlink(proc + "/cwd"); err != nil {
		ep.dir = "/"
	} else if st, err := os.Stat(ep.dir); err != nil || !st.IsDir() {
		ep.dir = "/"
	}
	if out, err := os.Readlink(proc + "/fd/2"); err == nil && strings.HasPrefix(out, "/") {
		if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
			ep.log = out
		}
	}
	return ep, nil
}

func splitNUL(b []byte) []string {
	var out []string
	for _, s := range strings.Split(string(b), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// stop sends SIGTERM and waits until the process is gone.
func (ep *engineProcess) stop() error {
	if err := syscall.Kill(ep.pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM to the engine (pid %d): %w", ep.pid, err)
	}
	deadline := time.Now().Add(engineTimeout)
	for syscall.Kill(ep.pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("the engine (pid %d) did not stop within %s", ep.pid, engineTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// start starts the engine detached (its own session, output appended to
// its old log file), so it outlives the test binary.
func (ep *engineProcess) start() error {
	cmd := exec.Command(ep.path, ep.args[1:]...)
	cmd.Args[0] = ep.args[0] // the same command line as before, to the byte
	cmd.Env = ep.env
	cmd.Dir = ep.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if ep.log != "" {
		f, err := os.OpenFile(ep.log, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func pingEngine(h *harness.Harness, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.Docker().Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runningContainers are the running containers that are not this run's.
func runningContainers(t *testing.T, h *harness.Harness) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.APITimeout)
	defer cancel()
	res, err := h.Docker().ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	var ids []string
	for _, c := range res.Items {
		if c.Labels[harness.LabelRun] != h.RunID() {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// restartContainers starts again those of ids that exist but do not run.
func restartContainers(t *testing.T, h *harness.Harness, ids []string) {
	t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), harness.APITimeout)
		res, err := h.Docker().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err == nil && res.Container.State != nil && !res.Container.State.Running {
			_, err = h.Docker().ContainerStart(ctx, id, client.ContainerStartOptions{})
			t.Logf("started %.12s again after the engine restart (err %v)", id, err)
		}
		cancel()
	}
}
