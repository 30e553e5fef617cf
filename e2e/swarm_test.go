package e2e

// dcfw as a Swarm global service (deploy/dcfw-stack.yml) on a single-node
// swarm: the task runs without the host's PID namespace (Swarm has no
// pid: host) and protects service tasks on an attachable overlay network,
// on both of their interfaces (eth0 on the overlay, eth1 on
// docker_gwbridge), before their first packet too.
//
//	go test ./e2e -run TestSwarm -v -count=1

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/internal/harness"

	"github.com/dcfw/dcfw/internal/testpeer"
)

// swarmScope is the label that scopes the stack's dcfw to this test's
// containers (DCFW_ONLY_LABEL), so a run never touches anyone else's.
const swarmScope = "dcfw-e2e.swarm"

// TestSwarmStack: `docker stack deploy` runs dcfw in sandbox mode; a
// labelled service's task that ran before it gets its rules; a task that
// starts after it has its first connect blocked; `docker service update
// --force` reschedules the task, and the new one is protected before its
// first packet again; `docker stack rm` stops dcfw and leaves the rules in
// place. The flows from inside a task go to a peer on the overlay (eth0)
// and to listeners of the test on the host's docker_gwbridge address
// (eth1); before dcfw runs all of them pass.
func TestSwarmStack(t *testing.T) {
	h := harness.Setup(t)
	requireSharedNetnsMount(t, loadCompose(t))
	requireDockerCLI(t)
	h.RequireSwarm()
	ov := h.Overlay()
	peer := h.RunContainer(harness.ContainerSpec{Name: "peer", Network: ov, Cmd: harness.Serve(9000, 9001)})
	allowedOv, forbiddenOv := peer.Addr(ov, 9000), peer.Addr(ov, 9001)

	policy := func(gw string, gwPorts []int) map[string]string {
		return labels("dcfw.enable=true", "dcfw.output.policy=deny",
			"dcfw.output.rule.1=allow proto tcp to "+peer.IP(ov).String()+" port 9000",
			"dcfw.output.rule.2=allow proto tcp to "+gw+" port "+strconv.Itoa(gwPorts[0]),
			swarmScope+"="+h.RunID())
	}
	// The service started before dcfw is the control: its labels are
	// those of the others, but nothing enforces them yet.
	before := h.CreateService(harness.ServiceSpec{Name: "before", Network: ov,
		Cmd:             harness.FirstConnect("tcp", forbiddenOv, firstConnectTimeout),
		ContainerLabels: labels(swarmScope+"="+h.RunID(), "dcfw.enable=true", "dcfw.output.policy=deny")})
	beforeTask := before.RunningTask()
	if o := firstOutcome(t, beforeTask); !o.Passed() {
		t.Fatalf("control: %s's first connect to %s: %v before dcfw runs; the test network is broken", beforeTask.Name, forbiddenOv, o)
	}
	// The engine makes docker_gwbridge for the first overlay task: its
	// gateway is known once the control task runs.
	gw := h.GatewayBridge().String()
	gwPorts := listenOn(t, gw, 2)
	allowedGw, forbiddenGw := net.JoinHostPort(gw, strconv.Itoa(gwPorts[0])), net.JoinHostPort(gw, strconv.Itoa(gwPorts[1]))
	flows := func(c *harness.Container, when string) []flow {
		return []flow{
			{c, "tcp", allowedOv, true, when + ", allowed on the overlay (eth0)"},
			{c, "tcp", forbiddenOv, false, when + ", forbidden on the overlay (eth0)"},
			{c, "tcp", allowedGw, true, when + ", allowed through docker_gwbridge (eth1)"},
			{c, "tcp", forbiddenGw, false, when + ", forbidden through docker_gwbridge (eth1)"},
		}
	}
	checkAllPass(t, flows(beforeTask, "before dcfw"))

	stack, dcfw := deployStack(h, swarmScope)
	dcfw.WaitForLog(`INFO\s+dcfw starting\s+\{.*"namespaces": "sandbox"`, protectTimeout)
	dcfw.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)

	// The task that ran before dcfw: its labels as they were (deny
	// everything out) are applied.
	// Its namespace through its SandboxKey: no PID is opened in this mode.
	expectPath(t, dcfw.WaitForLog(logLine("INFO", "protection applied", beforeTask)+".*$", protectTimeout), "sandbox-key")
	expectTable(t, beforeTask)
	checkFlows(t, []flow{{beforeTask, "tcp", allowedOv, false, "running before dcfw, deny everything out"}})

	// A service started after dcfw: blocked from its first packet on.
	after := h.CreateService(harness.ServiceSpec{Name: "after", Network: ov,
		Cmd: harness.FirstConnect("tcp", forbiddenOv, firstConnectTimeout), ContainerLabels: policy(gw, gwPorts)})
	first := after.RunningTask()
	expectFirstBlocked(t, first)
	expectPath(t, dcfw.WaitForLog(logLine("INFO", "protection applied", first)+".*$", protectTimeout), "sandbox")
	expectTable(t, first)
	checkFlows(t, flows(first, "task started after dcfw"))

	// Rescheduled: a new container, protected before its first packet.
	after.ForceUpdate()
	second := after.RunningTask(first)
	expectFirstBlocked(t, second)
	expectPath(t, dcfw.WaitForLog(logLine("INFO", "protection applied", second)+".*$", protectTimeout), "sandbox")
	expectTable(t, second)
	checkFlows(t, flows(second, "task rescheduled by update --force"))

	// docker stack rm stops dcfw; the rules stay.
	stack.Remove()
	table := expectTable(t, second)
	if !strings.Contains(table, "policy drop") {
		t.Errorf("after docker stack rm, %s's table lost its drop policy:\n%s", second.Name, table)
	}
	checkFlows(t, flows(second, "after docker stack rm"))
}

// firstOutcome is the outcome of a harness.FirstConnect task's first connect; a
// report that says the setup is broken fails the test.
func firstOutcome(t *testing.T, c *harness.Container) testpeer.Outcome {
	t.Helper()
	report := c.FirstConnectOutcome(outcomeTimeout)
	word, _, _ := strings.Cut(report, " ")
	o, err := testpeer.ParseOutcome(word)
	if err != nil || o == testpeer.Failed || o == testpeer.Unreachable {
		t.Fatalf("%s: first connect %q: the test setup is broken", c.Name, report)
	}
	return o
}

// expectFirstBlocked checks that a task's first connect, to a peer its
// labels forbid, was blocked.
func expectFirstBlocked(t *testing.T, c *harness.Container) {
	t.Helper()
	if o := firstOutcome(t, c); !o.Blocked() {
		t.Errorf("%s: first connect %v; want it blocked (protection before the first packet)", c.Name, o)
	}
}

// expectPath checks the path a "protection applied" line names: "sandbox"
// before the process ran (the finder, by ProcNetID in this mode),
// "sandbox-key" through a running container's SandboxKey.
func expectPath(t *testing.T, line, want string) {
	t.Helper()
	if !strings.Contains(line, `"path": "`+want+`"`) {
		t.Errorf("protection applied with another path than %q: %s", want, line)
	}
}
