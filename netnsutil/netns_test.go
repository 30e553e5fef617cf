package netnsutil_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
)

// threadNS is the namespace of the calling goroutine's thread, probed on a
// locked thread. Not /proc/self/ns/net: that is the main thread's, which
// may be parked in another namespace by code that left a thread behind.
func threadNS(t *testing.T) netnsutil.ID {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	id, err := netnsutil.StatPath(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every way of naming one namespace gives one identity, and it is the one
// of the file descriptor that is actually open.
func TestOneNamespaceOneID(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	h := testnet.NewNS(t, "nsu-same")
	pid := h.Process(t).Process.Pid

	byPath, err := netnsutil.OpenPath(h.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer byPath.Close()
	byPID, err := netnsutil.OpenPID("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	defer byPID.Close()
	if byPID.Path() != netnsutil.PIDPath("/proc", pid) || byPath.Path() != h.Path() {
		t.Errorf("Path() = %q, %q", byPath.Path(), byPID.Path())
	}

	ids := map[string]netnsutil.ID{
		"OpenPath(bind mount)": byPath.ID(),
		"OpenPID":              byPID.ID(),
	}
	for _, p := range []string{
		h.Path(),
		netnsutil.PIDPath("/proc", pid),
		fmt.Sprintf("/proc/%d/task/%d/ns/net", pid, pid),
	} {
		id, err := netnsutil.StatPath(p)
		if err != nil {
			t.Fatal(err)
		}
		ids["StatPath("+p+")"] = id
	}
	for _, ns := range []*netnsutil.NS{byPath, byPID} {
		var st unix.Stat_t
		if err := unix.Fstat(ns.Fd(), &st); err != nil {
			t.Fatal(err)
		}
		ids["fstat(Fd) of "+ns.Path()] = netnsutil.ID{Dev: st.Dev, Ino: st.Ino}
	}
	want := h.ID()
	if want.IsZero() {
		t.Fatal("zero ID")
	}
	for how, id := range ids {
		if id != want {
			t.Errorf("%s = %v, want %v", how, id, want)
		}
	}
}

func TestDifferentNamespacesDiffer(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	a, b := testnet.NewNS(t, "nsu-a"), testnet.NewNS(t, "nsu-b")
	ida, err := netnsutil.StatPath(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	idb, err := netnsutil.StatPath(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	host, err := netnsutil.HostID("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if ida == idb || ida == host || idb == host {
		t.Errorf("identities not distinct: a %v, b %v, host %v", ida, idb, host)
	}
}

// initNetID is the identity of the kernel's initial network namespace, read
// from kthreadd (PID 2), a kernel thread, which always lives there. ok is
// false when /proc is not the host's PID namespace (no kthreadd).
func initNetID(t *testing.T) (id netnsutil.ID, ok bool) {
	t.Helper()
	comm, err := os.ReadFile("/proc/2/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "kthreadd" {
		return netnsutil.ID{}, false
	}
	id, err = netnsutil.StatPath("/proc/2/ns/net")
	if err != nil {
		t.Fatalf("kthreadd's namespace: %v", err)
	}
	return id, true
}

// HostID names the host's namespace: where PID 1 and the kernel's own
// threads are. Probed rather than assumed: when this test process is not in
// the host's namespace, there is nothing to compare with.
func TestHostID(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	host, err := netnsutil.HostID("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if host.IsZero() {
		t.Fatal("HostID is zero")
	}
	initNet, ok := initNetID(t)
	if !ok {
		testenv.SkipOrFail(t, "/proc is not the host's PID namespace (no kthreadd): cannot tell the host's network namespace")
	}
	if host != initNet {
		t.Errorf("HostID = %v, kernel threads are in %v", host, initNet)
	}
	if own := threadNS(t); own != initNet {
		testenv.SkipOrFail(t, fmt.Sprintf("this test runs in %v, not the host's network namespace %v", own, initNet))
	} else if own != host {
		t.Errorf("HostID = %v, this process (in the host's namespace) is in %v", host, own)
	}
	h := testnet.NewNS(t, "nsu-host")
	if h.ID() == host {
		t.Errorf("a new namespace has the host's ID %v", host)
	}
}

// Needs no privilege: every process it opens is its own.
func TestNotFound(t *testing.T) {
	t.Parallel()
	pidMax := 4194304 // PID_MAX_LIMIT; pid_max can never exceed it
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		pidMax, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	// A process that has exited, whether reaped or not (a zombie has no
	// namespaces any more): what a container stopping under us looks like.
	zombie := exec.Command("sleep", "3600")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	zombie.Process.Kill()
	waitZombie(t, zombie.Process.Pid)

	reaped := exec.Command("true")
	if err := reaped.Run(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		open func() (*netnsutil.NS, error)
	}{
		{"pid 0", func() (*netnsutil.NS, error) { return netnsutil.OpenPID("/proc", 0) }},
		{"negative pid", func() (*netnsutil.NS, error) { return netnsutil.OpenPID("/proc", -1) }},
		{"pid above pid_max", func() (*netnsutil.NS, error) { return netnsutil.OpenPID("/proc", pidMax+1) }},
		{"zombie", func() (*netnsutil.NS, error) { return netnsutil.OpenPID("/proc", zombie.Process.Pid) }},
		{"reaped", func() (*netnsutil.NS, error) { return netnsutil.OpenPID("/proc", reaped.Process.Pid) }},
		{"no such procfs", func() (*netnsutil.NS, error) { return netnsutil.OpenPID(t.TempDir(), 1) }},
		{"missing path", func() (*netnsutil.NS, error) {
			return netnsutil.OpenPath(filepath.Join(t.TempDir(), "gone"))
		}},
		{"missing directory", func() (*netnsutil.NS, error) {
			return netnsutil.OpenPath(filepath.Join(t.TempDir(), "netns", "0123456789ab"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := tc.open()
			if err == nil {
				ns.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, netnsutil.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
	if _, err := netnsutil.StatPath("/nonexistent"); !errors.Is(err, netnsutil.ErrNotFound) {
		t.Errorf("StatPath: %v, want ErrNotFound", err)
	}
	if _, err := netnsutil.HostID(t.TempDir()); !errors.Is(err, netnsutil.ErrNotFound) {
		t.Errorf("HostID of an empty procDir: %v, want ErrNotFound", err)
	}
}

// waitZombie waits until pid has exited but is not reaped (state Z).
// Bounded: a killed sleep is a zombie within microseconds.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	for range 5000 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ...
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		syscall.Nanosleep(&syscall.Timespec{Nsec: 1e6}, nil)
	}
	t.Fatalf("pid %d did not become a zombie", pid)
}

// Needs no privilege: the namespace files are this process's own.
func TestNotNetNS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("not a namespace"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		regular,
		dir,
		fifo,              // must not block waiting for a writer
		"/dev/null",       // a device
		"/proc/self/stat", // procfs, where namespace files live, but not one
		"/proc/self/ns/uts",
		"/proc/self/ns/mnt",
		"/proc/self/ns/pid",
		"/proc/self/ns/ipc",
		"/proc/self/ns/user",
		"/proc/self/ns/cgroup",
	} {
		t.Run(p, func(t *testing.T) {
			ns, err := netnsutil.OpenPath(p)
			if err == nil {
				ns.Close()
				t.Fatalf("opened as a network namespace: %v", ns.ID())
			}
			if !errors.Is(err, netnsutil.ErrNotNetNS) {
				t.Fatalf("err = %v, want ErrNotNetNS", err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

// newBareNS makes a namespace bind-mounted at a file in a temporary
// directory, with no other reference to it (unlike a testnet.Host, which
// keeps its own descriptor open).
func newBareNS(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ns")
	if err := os.WriteFile(p, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer back.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), p, "", unix.MS_BIND, "")
		if netns.Set(back) == nil {
			runtime.UnlockOSThread()
		} // else the runtime discards this thread
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create namespace at %s: %v", p, err)
	}
	t.Cleanup(func() { unix.Unmount(p, unix.MNT_DETACH) })
	return p
}

// An open NS keeps its namespace alive and usable after the file it was
// opened from is unmounted (as when Docker removes a sandbox).
func TestOpenNSOutlivesBindMount(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	p := newBareNS(t)
	ns, err := netnsutil.OpenPath(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := netnsutil.StatPath(p); !errors.Is(err, netnsutil.ErrNotFound) {
		t.Fatalf("StatPath after removal: %v, want ErrNotFound", err)
	}

	// Still a working namespace: make a link in it and find it there, and
	// nowhere else.
	nl, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in the namespace: %v", err)
	}
	defer nl.Close()
	name := "dtkeep" + strconv.Itoa(os.Getpid()%100000)
	if err := nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	if _, err := nl.LinkByName(name); err != nil {
		t.Fatalf("link not found in the namespace: %v", err)
	}
	if _, err := netlink.LinkByName(name); err == nil {
		t.Fatalf("link %s appeared in the test's own namespace", name)
	}
	// And its identity did not change.
	var st unix.Stat_t
	if err := unix.Fstat(ns.Fd(), &st); err != nil {
		t.Fatal(err)
	}
	if (netnsutil.ID{Dev: st.Dev, Ino: st.Ino}) != ns.ID() {
		t.Errorf("fstat = %d/%d, ID() = %v", st.Dev, st.Ino, ns.ID())
	}
}

func TestIDString(t *testing.T) {
	for _, tc := range []struct {
		id   netnsutil.ID
		want string
		zero bool
	}{
		{netnsutil.ID{}, "net:[0]@0", true},
		{netnsutil.ID{Dev: 4, Ino: 4026531833}, "net:[4026531833]@4", false},
		{netnsutil.ID{Ino: 1}, "net:[1]@0", false},
	} {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.id, got, tc.want)
		}
		if got := tc.id.IsZero(); got != tc.zero {
			t.Errorf("%#v.IsZero() = %v", tc.id, got)
		}
	}
}

func TestPIDPath(t *testing.T) {
	if got, want := netnsutil.PIDPath("/host/proc", 42), "/host/proc/42/ns/net"; got != want {
		t.Errorf("PIDPath = %q, want %q", got, want)
	}
}
