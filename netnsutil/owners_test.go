package netnsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const cgID = "4bd7c4b16b2a3fd9c1a7cd4e7a7e0a51a27d64e2b4b1ed2bc81b2c1f1a5e0c33"

func TestContainerIDFromCgroup(t *testing.T) {
	for _, c := range []struct {
		name, content, want string
	}{
		{"cgroup v2, cgroupfs driver", "0::/docker/" + cgID + "\n", cgID},
		{"cgroup v2, systemd driver", "0::/system.slice/docker-" + cgID + ".scope\n", cgID},
		{"cgroup namespace", "0::/../docker-" + cgID + ".scope\n", cgID},
		{"custom cgroup parent", "0::/my.slice/" + cgID + "\n", cgID},
		{"cgroup v1", "12:pids:/docker/" + cgID + "\n11:memory:/docker/" + cgID + "\n0::/docker/" + cgID + "\n", cgID},
		{"v1 named hierarchy first", "1:name=systemd:/docker/" + cgID + "\n", cgID},
		{"a host process", "0::/system.slice/ssh.service\n", ""},
		{"the root", "0::/\n", ""},
		{"upper-case hex is not Docker's", "0::/docker/" + strings.ToUpper(cgID) + "\n", ""},
		{"too short", "0::/docker/" + cgID[:63] + "\n", ""},
		{"an ID in the middle of the path, not last", "0::/docker/" + cgID + "/init\n", ""},
		{"empty", "", ""},
	} {
		if got := ContainerIDFromCgroup([]byte(c.content)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func FuzzContainerIDFromCgroup(f *testing.F) {
	f.Add([]byte("0::/docker/" + cgID + "\n"))
	f.Add([]byte("0::/system.slice/docker-" + cgID + ".scope"))
	f.Add([]byte("1:name=systemd:/\n0::"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id := ContainerIDFromCgroup(b)
		if id != "" && (!isContainerID([]byte(id)) || !strings.Contains(string(b), id)) {
			t.Fatalf("%q from %q", id, b)
		}
	})
}

// TestProcTableContainersIn builds a procfs-like directory whose
// processes' namespaces are this process's own (no root needed) and
// another file that is no namespace.
func TestProcTableContainersIn(t *testing.T) {
	dir := t.TempDir()
	self, err := StatPath("/proc/self/ns/net")
	if err != nil {
		t.Skipf("cannot read this process's namespace: %v", err)
	}
	notNS := filepath.Join(dir, "plain")
	if err := os.WriteFile(notNS, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	add := func(pid int, ns, cgroup string) {
		pd := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(pd, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ns, filepath.Join(pd, "ns", "net")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pd, "cgroup"), []byte(cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	add(10, "/proc/self/ns/net", "0::/docker/"+cgID+"\n")
	add(11, "/proc/self/ns/net", "0::/docker/"+cgID+"\n") // a second process: one ID
	add(12, notNS, "0::/docker/"+other+"\n")
	add(13, "/proc/self/ns/net", "0::/user.slice\n")

	pt := NewProcTable(dir)
	if err := pt.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := pt.ContainersIn(self); len(got) != 1 || got[0] != cgID {
		t.Errorf("ContainersIn(self) = %v, want [%s]", got, cgID)
	}
	if got := pt.ContainersIn(ID{}); len(got) != 0 {
		t.Errorf("ContainersIn(zero) = %v", got)
	}
	// A process that enters the namespace later is seen while young.
	add(14, "/proc/self/ns/net", "0::/docker/"+other+"\n")
	if err := pt.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := pt.ContainersIn(self); len(got) != 2 {
		t.Errorf("after a new process: %v", got)
	}
	// Processes that exit are forgotten.
	for _, pid := range []string{"10", "11", "14"} {
		if err := os.RemoveAll(filepath.Join(dir, pid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pt.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := pt.ContainersIn(self); len(got) != 0 {
		t.Errorf("after the processes exited: %v", got)
	}
}

// ByProcNet, the table reads /proc/PID/net (here: links to this process's
// own), the only way without ptrace access, and answers by ProcNetID.
func TestProcTableByProcNet(t *testing.T) {
	dir := t.TempDir()
	self, err := ProcNetOfPID("/proc", os.Getpid())
	if err != nil {
		t.Skipf("cannot read this process's /proc/PID/net: %v", err)
	}
	add := func(pid int, cgroup string) {
		pd := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(pd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/proc/self/net", filepath.Join(pd, "net")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pd, "cgroup"), []byte(cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	add(20, "0::/docker/"+cgID+"\n")
	add(21, "0::/user.slice\n")
	if err := os.MkdirAll(filepath.Join(dir, "22"), 0o755); err != nil { // no net: unreadable
		t.Fatal(err)
	}

	pt := &ProcTable{ProcDir: dir, ByProcNet: true}
	if err := pt.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := pt.ContainersInProcNet(self); len(got) != 1 || got[0] != cgID {
		t.Errorf("ContainersInProcNet(self) = %v, want [%s]", got, cgID)
	}
	if got := pt.ContainersInProcNet(0); len(got) != 0 {
		t.Errorf("ContainersInProcNet(0) = %v", got)
	}
	// Not asked by namespace file identity: nothing was read that way.
	if nsID, err := StatPath("/proc/self/ns/net"); err == nil {
		if got := pt.ContainersIn(nsID); len(got) != 0 {
			t.Errorf("ContainersIn on a ByProcNet table = %v", got)
		}
	}
}

// ContainerOfPID names the container in a process's cgroup file, "" for
// a process of no container, and ErrNotFound for a process that is gone.
func TestContainerOfPID(t *testing.T) {
	dir := t.TempDir()
	write := func(pid int, cgroup string) {
		pd := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(pd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pd, "cgroup"), []byte(cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(30, "0::/../../system.slice/docker-"+cgID+".scope\n")
	write(31, "0::/user.slice/user-1000.slice\n")
	for _, tc := range []struct {
		pid     int
		want    string
		wantErr error
	}{
		{30, cgID, nil},
		{31, "", nil},
		{32, "", ErrNotFound},
	} {
		got, err := ContainerOfPID(dir, tc.pid)
		if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("ContainerOfPID(%d) = %q, %v; want %q, %v", tc.pid, got, err, tc.want, tc.wantErr)
		}
	}
}
