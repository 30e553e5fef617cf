package netnsutil_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
)

// A process's ProcNetID is the one of the namespace it runs in, read from
// the namespace's file, and differs between namespaces; reading it from a
// namespace file leaves the calling thread where it was.
func TestProcNetIdentifiesNamespaces(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	before := threadNS(t)
	hosts := []*testnet.Host{testnet.NewNS(t, "pn-a"), testnet.NewNS(t, "pn-b")}
	seen := map[netnsutil.ProcNetID]string{}
	for _, h := range hosts {
		pid := h.Process(t).Process.Pid
		ns, err := netnsutil.OpenPath(h.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		fromFile, err := netnsutil.ProcNetOf(ns)
		if err != nil {
			t.Fatalf("ProcNetOf(%s): %v", h, err)
		}
		fromPID, err := netnsutil.ProcNetOfPID("/proc", pid)
		if err != nil {
			t.Fatalf("ProcNetOfPID(%d): %v", pid, err)
		}
		if fromFile != fromPID {
			t.Errorf("%s: the file gives %s, its process %d gives %s", h, fromFile, pid, fromPID)
		}
		if other, dup := seen[fromFile]; dup {
			t.Errorf("%s and %s share %s", h, other, fromFile)
		}
		seen[fromFile] = h.Name()
	}
	// The test's own namespace is neither.
	self, err := netnsutil.ProcNetOfPID("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if h, dup := seen[self]; dup {
		t.Errorf("the test's namespace has the ProcNetID of %s", h)
	}
	if after := threadNS(t); after != before {
		t.Errorf("the calling thread moved from %s to %s", before, after)
	}
}

func TestProcNetOfPIDGone(t *testing.T) {
	_, err := netnsutil.ProcNetOfPID("/proc", deadPID(t))
	if !errors.Is(err, netnsutil.ErrNotFound) {
		t.Fatalf("ProcNetOfPID of a process that exited: %v, want ErrNotFound", err)
	}
}

// deadPID is the PID of a process that ran and was reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// What the sandbox mode relies on: without CAP_SYS_PTRACE a process may
// not open /proc/<pid>/ns/net of a root process with more capabilities
// (the control), but may read /proc/<pid>/net, whose inode is the
// ProcNetID.
func TestProcNetWithoutPtrace(t *testing.T) {
	testenv.RequireNetAdmin(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.SkipOrFail(t, "needs setpriv (util-linux): "+err.Error())
	}
	h := testnet.NewNS(t, "pn-noptrace")
	pid := strconv.Itoa(h.Process(t).Process.Pid)
	noPtrace := func(args ...string) (string, error) {
		cmd := exec.Command("setpriv", append([]string{"--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", "--"}, args...)...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// With every capability the same open works: the refusal below is the
	// missing capability's.
	if out, err := exec.Command("setpriv", "--", "stat", "-L", "-c", "%i", "/proc/"+pid+"/ns/net").CombinedOutput(); err != nil {
		t.Fatalf("control: with every capability /proc/%s/ns/net: %v: %s", pid, err, out)
	}
	if out, err := noPtrace("stat", "-L", "-c", "%i", "/proc/"+pid+"/ns/net"); err == nil {
		t.Fatalf("control: without CAP_SYS_PTRACE /proc/%s/ns/net opened (%s); the test proves nothing", pid, out)
	}
	out, err := noPtrace("stat", "-c", "%i", "/proc/"+pid+"/net/dev")
	if err != nil {
		t.Fatalf("without CAP_SYS_PTRACE /proc/%s/net/dev: %v: %s", pid, err, out)
	}
	ns, err := netnsutil.OpenPath(h.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	want, err := netnsutil.ProcNetOf(ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != strconv.FormatUint(uint64(want), 10) {
		t.Errorf("without CAP_SYS_PTRACE the process's net/dev is inode %s, the namespace's ProcNetID %s", out, want)
	}
}
