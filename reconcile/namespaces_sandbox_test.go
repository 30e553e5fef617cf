package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
)

// sandboxTree is a sandbox directory (links to namespace files) and a
// procfs for a ByProcNet view (each PID's net a link to a real process's
// /proc/<pid>/net, with a cgroup). PID 1, the "host's init", is this
// test's process, whose namespace the "default" file holds.
func sandboxTree(t testing.TB, files map[string]string, procs map[int]testnet.ProcEntry) (netnsDir, procDir string) {
	t.Helper()
	netnsDir = t.TempDir()
	for name, target := range files {
		if err := os.Symlink(target, filepath.Join(netnsDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	procs[1] = testnet.ProcEntry{Net: "/proc/self/net", Cgroup: "0::/init.scope"}
	return netnsDir, testnet.FakeProc(t, procs)
}

// swapLinks makes the symbolic links a and b point at each other's targets.
func swapLinks(t *testing.T, a, b string) {
	t.Helper()
	ta, err := os.Readlink(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := os.Readlink(b)
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{a: tb, b: ta} {
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
}

// procNetOf is the /proc/<pid>/net of a process that runs in h until the
// test ends.
func procNetOf(t *testing.T, h *testnet.Host) string {
	t.Helper()
	return "/proc/" + strconv.Itoa(h.Process(t).Process.Pid) + "/net"
}

// SandboxNamespaces on real namespace files: the host's namespace is
// refused by name, by nsfs identity and by ProcNetID; a container's opens,
// and its process is checked by ProcNetID and cgroup; OpenPID finds the
// file by ProcNetID.
func TestKernelSandboxNamespaces(t *testing.T) {
	testenv.RequireNetAdmin(t)
	ctr, peer := testnet.NewNS(t, "sbk"), testnet.NewNS(t, "sbkpeer")
	id, other := containerID("ctr"), containerID("peer")
	netnsDir, procDir := sandboxTree(t,
		map[string]string{"ctr": ctr.Path(), "peer": peer.Path(), "default": "/proc/self/ns/net", "hostalias": "/proc/self/ns/net"},
		map[int]testnet.ProcEntry{101: {Net: procNetOf(t, ctr), Cgroup: "0::/docker/" + id}, 102: {Net: procNetOf(t, peer), Cgroup: "0::/docker/" + other}})
	host, err := netnsutil.StatPath("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	for _, hostProcs := range []bool{true, false} {
		s := &SandboxNamespaces{ProcDir: procDir, NetnsDir: netnsDir, HostProcs: hostProcs}
		if got, err := s.HostID(); err != nil || got != host {
			t.Fatalf("HostProcs %v: HostID() = %s, %v; want %s", hostProcs, got, err, host)
		}
		for _, key := range []string{"/var/run/docker/netns/default", "/var/run/docker/netns/hostalias"} {
			if ns, err := s.OpenSandbox(key); !errors.Is(err, netnsutil.ErrHostNamespace) {
				if ns != nil {
					ns.Close()
				}
				t.Errorf("HostProcs %v: OpenSandbox(%s): %v, want ErrHostNamespace", hostProcs, key, err)
			}
		}
		ns, err := s.OpenSandbox("/var/run/docker/netns/ctr")
		if err != nil || ns.ID() != ctr.ID() {
			t.Fatalf("HostProcs %v: OpenSandbox(ctr): %v", hostProcs, err)
		}
		defer ns.Close()
		if !hostProcs {
			if err := s.CheckProcess(102, id, ns); err != nil {
				t.Errorf("without the host's processes nothing can be checked, got %v", err)
			}
			continue
		}
		for _, tc := range []struct {
			name string
			pid  int
			id   string
			want error
		}{
			{"the container's process", 101, id, nil},
			{"another container's, as this one", 101, other, errNotSandbox},
			{"in another namespace", 102, id, errNotSandbox},
			{"gone", 999, id, netnsutil.ErrNotFound},
		} {
			err := s.CheckProcess(tc.pid, tc.id, ns)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckProcess, %s: %v, want %v", tc.name, err, tc.want)
			}
		}
		// Twice each: the second call of each goes by the first scan's
		// hint, which must not answer for another process.
		for _, want := range []struct {
			pid int
			id  netnsutil.ID
		}{{102, peer.ID()}, {102, peer.ID()}, {101, ns.ID()}, {101, ns.ID()}} {
			byPID, err := s.OpenPID(want.pid)
			if err != nil || byPID.ID() != want.id {
				t.Fatalf("OpenPID(%d): %v, want namespace %s", want.pid, err, want.id)
			}
			byPID.Close()
		}
		// The files trade namespaces (as names are reused): the hints
		// now point at the wrong namespace and must not be taken.
		swapLinks(t, filepath.Join(netnsDir, "ctr"), filepath.Join(netnsDir, "peer"))
		byPID, err := s.OpenPID(101)
		if err != nil || byPID.ID() != ctr.ID() {
			t.Fatalf("OpenPID(101) after the files traded namespaces: %v, want ctr's namespace", err)
		}
		byPID.Close()
		// OpenSandbox remembers the numbers it read, by file and
		// namespace: the file that now holds peer's is read again.
		sw, err := s.OpenSandbox("ctr")
		if err != nil || sw.ID() != peer.ID() {
			t.Fatalf("OpenSandbox(ctr) after the files traded namespaces: %v, want peer's namespace", err)
		}
		if err := s.CheckProcess(102, other, sw); err != nil {
			t.Errorf("peer's process in the file that now holds peer's namespace: %v (a number remembered for the file's old namespace?)", err)
		}
		sw.Close()
		swapLinks(t, filepath.Join(netnsDir, "ctr"), filepath.Join(netnsDir, "peer"))
	}

	// No "default" file (the engine had no reason to make one): no nsfs
	// identity of the host, and the ProcNetID alone refuses it.
	if err := os.Remove(filepath.Join(netnsDir, "default")); err != nil {
		t.Fatal(err)
	}
	s := &SandboxNamespaces{ProcDir: procDir, NetnsDir: netnsDir, HostProcs: true}
	if got, err := s.HostID(); err != nil || !got.IsZero() {
		t.Fatalf("HostID() without a default file = %s, %v; want zero", got, err)
	}
	if ns, err := s.OpenSandbox("hostalias"); !errors.Is(err, netnsutil.ErrHostNamespace) {
		if ns != nil {
			ns.Close()
		}
		t.Errorf("OpenSandbox(hostalias) by ProcNetID: %v, want ErrHostNamespace", err)
	}
}

// A "default" file that is not the host's init's namespace means the
// directory is not what dcfw takes it for: HostID fails (dcfw does not
// start) rather than trust it.
func TestKernelSandboxNamespacesDefaultNotTheHosts(t *testing.T) {
	testenv.RequireNetAdmin(t)
	other := testnet.NewNS(t, "sbkdef")
	netnsDir, procDir := sandboxTree(t, map[string]string{"default": other.Path()}, map[int]testnet.ProcEntry{})
	s := &SandboxNamespaces{ProcDir: procDir, NetnsDir: netnsDir, HostProcs: true}
	if id, err := s.HostID(); err == nil {
		t.Errorf("HostID() = %s, want an error", id)
	}
	// Without the host's processes nothing can be compared: the file the
	// engine names the host's is taken as such, and refused.
	s = &SandboxNamespaces{ProcDir: procDir, NetnsDir: netnsDir}
	if id, err := s.HostID(); err != nil || id != other.ID() {
		t.Errorf("HostID() = %s, %v; want %s", id, err, other.ID())
	}
}

// BenchmarkSandboxOpen: what a steady cycle pays per container in sandbox
// mode, opening its file with the number remembered (remembered) and
// reading it again, which enters the namespace (first).
func BenchmarkSandboxOpen(b *testing.B) {
	testenv.RequireNetAdmin(b)
	ctr := testnet.NewNS(b, "sbopen")
	netnsDir, procDir := sandboxTree(b, map[string]string{"ctr": ctr.Path(), "default": "/proc/self/ns/net"},
		map[int]testnet.ProcEntry{})
	open := func(b *testing.B, s *SandboxNamespaces) {
		ns, err := s.OpenSandbox("ctr")
		if err != nil {
			b.Fatal(err)
		}
		ns.Close()
	}
	newNS := func(b *testing.B) *SandboxNamespaces {
		s := &SandboxNamespaces{ProcDir: procDir, NetnsDir: netnsDir, HostProcs: true}
		if _, err := s.HostID(); err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Run("first", func(b *testing.B) {
		s := newNS(b)
		for b.Loop() {
			s.procNets = nil
			open(b, s)
		}
	})
	b.Run("remembered", func(b *testing.B) {
		s := newNS(b)
		open(b, s)
		for b.Loop() {
			open(b, s)
		}
	})
}
