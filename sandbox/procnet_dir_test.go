package sandbox

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

// hostInit is PID 1 of the fake procfs trees: this test's process, in
// the host's namespace.
var hostInit = testnet.ProcEntry{Net: "/proc/self/net", Cgroup: "0::/init.scope"}

// A ProcNetDir finds a namespace's owners by ProcNetID (the container's
// process, not its peer's) and refuses the host's namespace by that number
// under any file name, and the engine's "default" file by name.
func TestKernelProcNetDirOwnersAndHost(t *testing.T) {
	testenv.RequireNetAdmin(t)
	ctr := testnet.NewNS(t, "pnd")
	peer := testnet.NewNS(t, "pndpeer")
	const id = "4bd7c4b16b2a3fd9c1a7cd4e7a7e0a51a27d64e2b4b1ed2bc81b2c1f1a5e0c33"
	const other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	proc := testnet.FakeProc(t, map[int]testnet.ProcEntry{
		1:   hostInit,
		100: {Net: "/proc/" + strconv.Itoa(peer.Process(t).Process.Pid) + "/net", Cgroup: "0::/system.slice/docker-" + other + ".scope"},
		101: {Net: "/proc/" + strconv.Itoa(ctr.Process(t).Process.Pid) + "/net", Cgroup: "0::/docker/" + id},
	})
	files := t.TempDir()
	for name, target := range map[string]string{
		"ctr": ctr.Path(), "peer": peer.Path(),
		"default": "/proc/self/ns/net", "hostalias": "/proc/self/ns/net",
	} {
		if err := os.Symlink(target, filepath.Join(files, name)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := NewProcNetDir(files, proc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "hostalias"} {
		if ns, err := d.Open(name); !errors.Is(err, netnsutil.ErrHostNamespace) {
			if ns != nil {
				ns.Close()
			}
			t.Errorf("Open(%s): %v, want ErrHostNamespace", name, err)
		}
	}
	var ids []netnsutil.ID
	for _, name := range []string{"ctr", "peer"} {
		ns, err := d.Open(name)
		if err != nil {
			t.Fatalf("Open(%s): %v", name, err)
		}
		defer ns.Close()
		ids = append(ids, ns.ID())
	}
	owners, err := d.Owners(ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := owners[ctr.ID()]; len(got) != 1 || got[0] != id {
		t.Errorf("owners of ctr = %v, want [%s]", got, id)
	}
	if got := owners[peer.ID()]; len(got) != 1 || got[0] != other {
		t.Errorf("owners of peer = %v, want [%s]", got, other)
	}
}

// Without the host's init in procDir there is no ProcNetDir: the host's
// namespace could not be told from a container's.
func TestProcNetDirNeedsTheHostsInit(t *testing.T) {
	if _, err := NewProcNetDir(t.TempDir(), t.TempDir()); !errors.Is(err, netnsutil.ErrNotFound) {
		t.Errorf("NewProcNetDir without PID 1: %v, want ErrNotFound", err)
	}
}
