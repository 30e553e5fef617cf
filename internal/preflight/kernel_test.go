package preflight

// Kernel tests: the real probes, in this process (root, every capability)
// and in a copy of the test binary started without one capability
// (setpriv --bounding-set), or in a PID namespace of its own (unshare).
// The helper prints the checks that failed, one per line, and the parent
// asserts on them.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// helperEnv selects what the re-executed test binary does instead of
// running tests; helperNetNS passes it a namespace file to work on.
const (
	helperEnv   = "DCFW_PREFLIGHT_HELPER"
	helperNetNS = "DCFW_PREFLIGHT_NETNS"
	helperDir   = "DCFW_PREFLIGHT_NETNS_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "run":
		helperRun()
	case "firewall":
		helperFirewall()
	case "run-sandbox":
		helperRunSandbox()
	default:
		fmt.Fprintf(os.Stderr, "unknown %s\n", helperEnv)
		os.Exit(2)
	}
	os.Exit(0)
}

// helperRun runs the checks (no engine) and prints "problem <check>: <text>".
func helperRun() {
	problems, _ := Run(context.Background(), Config{ProcDir: "/proc"})
	for _, p := range problems {
		fmt.Printf("problem %s: %v\n", p.Check, p)
	}
	fmt.Println("done")
}

// helperRunSandbox runs the checks of the sandbox mode, with the sandbox
// directory at $DCFW_PREFLIGHT_NETNS_DIR, and prints problems and warnings.
func helperRunSandbox() {
	problems, warnings := Run(context.Background(), Config{ProcDir: "/proc", NetnsDir: os.Getenv(helperDir), Mode: ModeSandbox})
	for _, p := range problems {
		fmt.Printf("problem %s: %v\n", p.Check, p)
	}
	for _, w := range warnings {
		fmt.Printf("warning: %s\n", w)
	}
	fmt.Println("done")
}

// helperFirewall reads dcfw's table (dry-run Remove: nothing is written) in
// the namespace at $DCFW_PREFLIGHT_NETNS as dcfw's firewall does (nft.Dial,
// then a read), and prints the error through ExplainError.
func helperFirewall() {
	ns, err := netnsutil.OpenPath(os.Getenv(helperNetNS))
	if err != nil {
		fmt.Printf("open: %v\n", err)
		os.Exit(1)
	}
	defer ns.Close()
	conn, err := nft.Dial(ns.Fd())
	if err == nil {
		_, err = conn.Remove(true)
		conn.Close()
	}
	fmt.Printf("firewall error: %v\n", ExplainError(err))
}

// runHelper runs the test binary as helper mode under the wrapper command
// (e.g. setpriv ...) and returns its output.
func runHelper(t *testing.T, mode string, env []string, wrapper ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(wrapper[0]); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs %s (util-linux): %v", wrapper[0], err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrapper[0], append(wrapper[1:], self)...)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}

// withoutCap is setpriv dropping one capability (setpriv's lower-case name
// without cap_) from the bounding and inheritable sets: a root process
// started so has every capability but that one.
func withoutCap(capability int) []string {
	name := strings.ToLower(strings.TrimPrefix(capNames[capability], "CAP_"))
	return []string{"setpriv", "--bounding-set", "-" + name, "--inh-caps", "-" + name, "--"}
}

func problemChecks(out string) []string {
	var checks []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "problem "); ok {
			check, _, _ := strings.Cut(rest, ":")
			checks = append(checks, check)
		}
	}
	return checks
}

func TestRealProbesPassAsRoot(t *testing.T) {
	testenv.RequireNetAdmin(t)
	problems, _ := Run(context.Background(), Config{ProcDir: "/proc"})
	if len(problems) > 0 {
		t.Fatalf("problems as root: %v", problems)
	}
}

// Without each capability, exactly its check fails, with its name.
func TestRealProbesWithoutOneCapability(t *testing.T) {
	testenv.RequireNetAdmin(t)
	// Control: through setpriv without dropping anything, nothing fails.
	if out := runHelper(t, "run", nil, "setpriv", "--"); len(problemChecks(out)) > 0 || !strings.Contains(out, "done") {
		t.Fatalf("control run reports problems:\n%s", out)
	}
	for _, c := range []int{capNetAdmin, capSysAdmin, capSysPtrace} {
		t.Run(capNames[c], func(t *testing.T) {
			out := runHelper(t, "run", nil, withoutCap(c)...)
			checks := problemChecks(out)
			if len(checks) != 1 || checks[0] != capNames[c] {
				t.Fatalf("checks that failed: %v, want only %s; output:\n%s", checks, capNames[c], out)
			}
			if !strings.Contains(out, "missing capability "+capNames[c]) {
				t.Errorf("message does not say the capability is missing:\n%s", out)
			}
		})
	}
}

// In a PID namespace of its own (as in a container without pid: host) the
// host's processes are not visible, and the checks say so.
func TestRealProbesOutsideHostPIDNamespace(t *testing.T) {
	testenv.RequireNetAdmin(t)
	out := runHelper(t, "run", nil, "unshare", "--pid", "--fork", "--mount-proc", "--")
	if checks := problemChecks(out); len(checks) != 1 || checks[0] != "pid" {
		t.Fatalf("checks that failed: %v, want only pid; output:\n%s", checks, out)
	}
	if !strings.Contains(out, "pid: host") {
		t.Errorf("message lacks the fix (pid: host):\n%s", out)
	}
}

// Per-container errors name the capability, on the real firewall path: a
// process without CAP_SYS_ADMIN cannot enter the namespace, one without
// CAP_NET_ADMIN cannot read nftables in it.
func TestExplainFirewallWithoutCapability(t *testing.T) {
	testenv.RequireNetAdmin(t)
	ns := testnet.NewNS(t, "preflight")
	for _, c := range []int{capSysAdmin, capNetAdmin} {
		t.Run(capNames[c], func(t *testing.T) {
			out := runHelper(t, "firewall", []string{helperNetNS + "=" + ns.Path()}, withoutCap(c)...)
			if !strings.Contains(out, "operation not permitted") || !strings.Contains(out, capNames[c]) {
				t.Fatalf("error does not name %s:\n%s", capNames[c], out)
			}
		})
	}
	// Control: with every capability the same read succeeds.
	if out := runHelper(t, "firewall", []string{helperNetNS + "=" + ns.Path()}, "setpriv", "--"); !strings.Contains(out, "firewall error: <nil>") {
		t.Fatalf("control read failed:\n%s", out)
	}
}

// In a PID namespace and a mount namespace of its own (a Swarm task), the
// sandbox mode asks for neither the host's PID namespace nor
// CAP_SYS_PTRACE, warns that the first packet is not covered, and fails on
// a sandbox directory whose mount does not propagate (unshare makes every
// mount private).
func TestRealProbesSandboxModeOutsideHostPIDNamespace(t *testing.T) {
	testenv.RequireNetAdmin(t)
	dir := t.TempDir()
	out := runHelper(t, "run-sandbox", []string{helperDir + "=" + dir},
		"unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--")
	if checks := problemChecks(out); len(checks) != 1 || checks[0] != "netns-dir" || !strings.Contains(out, "propagation is private") {
		t.Fatalf("checks that failed: %v, want only netns-dir (private propagation); output:\n%s", checks, out)
	}
	if !strings.Contains(out, "warning: sandbox mode without the host's processes") {
		t.Errorf("no warning about the host's processes:\n%s", out)
	}
	// Without CAP_SYS_PTRACE too: the sandbox mode does not need it.
	out = runHelper(t, "run-sandbox", []string{helperDir + "=" + dir}, append(withoutCap(capSysPtrace),
		"unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--")...)
	if checks := problemChecks(out); len(checks) != 1 || checks[0] != "netns-dir" {
		t.Fatalf("without CAP_SYS_PTRACE, checks that failed: %v, want only netns-dir; output:\n%s", checks, out)
	}
}
