package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/reconcile"
)

// runScriptTimeout bounds `bash scripts/run.sh`: a Go build, an image
// build and compose up, on a machine where the engine and the tools are
// already there (scripts/test.sh installed them).
const runScriptTimeout = 5 * time.Minute

// The README's first command: `bash scripts/run.sh` builds dcfw, starts it
// with deploy/docker-compose.yml and returns once it runs; the deployment
// it leaves protects a container that was already running and one started
// afterwards; `bash scripts/run.sh down` removes it. A user's deployment
// (container "dcfw", image dcfw:latest, project dcfw) may run beside the
// tests: this one has its own names (DCFW_PROJECT, DCFW_CONTAINER,
// DCFW_IMAGE, which the script and the compose file take) and leaves that
// one as it was. It is scoped (DCFW_ONLY_LABEL, which the compose file
// passes on) to this test's containers.
func TestDeployReadmeRunCommand(t *testing.T) {
	h := harness.Setup(t)
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	project := "dcfw-e2e-" + h.RunID()
	name := project + "-dcfw"
	image := project + ":latest"
	userDeployment := deploymentState(t, h, "dcfw")

	scope := "dcfw-e2e.readme-run"
	run := func(timeout time.Duration, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{"scripts/run.sh"}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "DCFW_ONLY_LABEL="+scope+"="+h.RunID(),
			"DCFW_PROJECT="+project, "DCFW_CONTAINER="+name, "DCFW_IMAGE="+image)
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if out, err := run(2*time.Minute, "down"); err != nil {
			t.Errorf("bash scripts/run.sh down: %v\n%s", err, harness.Indent(out))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := h.Docker().ImageRemove(ctx, image, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			t.Errorf("remove the image scripts/run.sh built: %v", err)
		}
		if got := deploymentState(t, h, "dcfw"); got != userDeployment {
			t.Errorf("a deployment named dcfw was %q before the test, %q after", userDeployment, got)
		}
	})

	n := h.Bridge()
	peer := h.RunContainer(harness.ContainerSpec{Name: "peer", Network: n, Cmd: harness.Serve(9000)})
	mine := map[string]string{scope: h.RunID()}
	webLabels := func() map[string]string {
		l := labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp from "+peer.IP(n).String()+" to any port 80")
		for k, v := range mine {
			l[k] = v
		}
		return l
	}
	before := h.RunContainer(harness.ContainerSpec{Name: "before", Network: n, User: "1000", Cmd: harness.Serve(80, 81), Labels: webLabels()})
	checkAllPass(t, []flow{{peer, "tcp", before.Addr(n, 81), true, "before dcfw"}})

	out, err := run(runScriptTimeout)
	if err != nil {
		t.Fatalf("bash scripts/run.sh: %v\n%s", err, harness.Indent(out))
	}
	if !strings.Contains(out, "dcfw runs") {
		t.Errorf("bash scripts/run.sh did not say dcfw runs:\n%s", harness.Indent(out))
	}
	dcfw := h.Adopt(name, name)
	// The start line names the commit run.sh built from.
	if want := checkoutVersion(t); !strings.Contains(dcfw.Logs(), want) {
		t.Errorf("dcfw's log does not name the checkout's version %q:\n%s", want, harness.Indent(dcfw.Logs()))
	}
	if info := dcfw.Inspect(); !info.State.Running || info.Config.Image != image ||
		!strings.HasPrefix(filepath.Base(info.Config.Entrypoint[0]), "dcfw") {
		t.Fatalf("after scripts/run.sh: container %s running=%v, image %q, entrypoint %v; want the compose deployment running",
			name, info.State.Running, info.Config.Image, info.Config.Entrypoint)
	}

	after := h.RunContainer(harness.ContainerSpec{Name: "after", Network: n, Cmd: harness.Serve(80, 81), Labels: webLabels()})
	for _, c := range []*harness.Container{before, after} {
		dcfw.WaitForLog(logLine("INFO", "protection applied", c), protectTimeout)
		expectTable(t, c)
	}
	checkFlows(t, []flow{
		{peer, "tcp", before.Addr(n, 80), true, "running before dcfw, allowed port"},
		{peer, "tcp", before.Addr(n, 81), false, "running before dcfw, other port"},
		{peer, "tcp", after.Addr(n, 80), true, "started after dcfw, allowed port"},
		{peer, "tcp", after.Addr(n, 81), false, "started after dcfw, other port"},
	})
	// Outside the scope: this run's peer, labelled by nobody, and nothing
	// else on the engine.
	expectNoTable(t, peer)

	// `docker exec <dcfw> /dcfw status --json` works in the deployment as
	// shipped (read-only root, a tmpfs for the socket) and agrees with the
	// live tables checked above.
	r := dcfw.Exec(dcfw.Inspect().Config.Entrypoint[0], "status", "--json")
	var st reconcile.Status
	if err := json.Unmarshal([]byte(r.Stdout), &st); r.ExitCode != 0 || err != nil {
		t.Fatalf("docker exec %s /dcfw status --json: exit %d, %v\n%s%s", name, r.ExitCode, err, harness.Indent(r.Stdout), harness.Indent(r.Stderr))
	}
	live := map[string]string{}
	for _, c := range st.Containers {
		live[c.Name] = c.Live
	}
	if len(st.Containers) != 2 || live[before.Name] != reconcile.LiveEqual || live[after.Name] != reconcile.LiveEqual {
		t.Errorf("dcfw status: %+v, want %s and %s with live tables equal to their labels", st, before.Name, after.Name)
	}
}

// deploymentState describes container name as a user sees it: its ID,
// image, state and start time ("absent" if there is none), so that a test
// can show it left a deployment untouched.
func deploymentState(t *testing.T, h *harness.Harness, name string) string {
	t.Helper()
	ctx, cancel := h.Ctx()
	defer cancel()
	res, err := h.Docker().ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return "absent"
	}
	c := res.Container
	return fmt.Sprintf("%.12s image %s (%s) %s since %s", c.ID, c.Config.Image, c.Image, c.State.Status, c.State.StartedAt)
}
