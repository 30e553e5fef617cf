package reconcile

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
)

func bornNames(files []SandboxFile) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	slices.Sort(out)
	return out
}

// watchDir starts watching dir until the test ends.
func watchDir(t *testing.T, dir string) *WatchedSandboxDir {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := NewSandboxDir(dir)
	d.PollInterval = 2 * time.Millisecond
	if err := d.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchedSandboxDirNotesNewFiles(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "old"))
	d := watchDir(t, dir)
	if d.poll {
		t.Log("inotify unavailable here: polling")
	}
	t0 := time.Now()
	if got := d.Born(time.Time{}); len(got) != 0 {
		t.Fatalf("files present before watching count as new: %v", got)
	}
	touch(t, filepath.Join(dir, "new"))
	eventually(t, "the new file noted", func() bool { return slices.Equal(bornNames(d.Born(t0)), []string{"new"}) })
	if f := d.Born(t0)[0]; f.Born.Before(t0) {
		t.Errorf("born %v before its creation (after %v)", f.Born, t0)
	}
	if got := d.Born(time.Now()); len(got) != 0 {
		t.Errorf("Born(now) = %v", got)
	}
	// A plain file is what Docker creates before binding the namespace.
	if _, err := d.Open("new"); !errors.Is(err, netnsutil.ErrNotNetNS) {
		t.Errorf("Open of a plain file: %v, want ErrNotNetNS", err)
	}
	for _, bad := range []string{"", "..", "../old", "a/b"} {
		if _, err := d.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if err := os.Remove(filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed file forgotten", func() bool { return len(d.Born(t0)) == 0 })
}

func TestWatchedSandboxDirPollsUntilTheDirectoryExists(t *testing.T) {
	// No container ever ran on a fresh engine: the directory is missing,
	// inotify cannot watch it, and the directory is polled instead.
	dir := filepath.Join(t.TempDir(), "netns")
	d := watchDir(t, dir)
	if !d.poll {
		t.Fatal("watching a missing directory, yet not polling")
	}
	t0 := time.Now()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(dir, "first"))
	eventually(t, "the first sandbox noted", func() bool { return slices.Equal(bornNames(d.Born(t0)), []string{"first"}) })
}

func TestWatchedSandboxDirSurvivesTheDirectoryBeingReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(dir, "old"))
	d := watchDir(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "polling after the watch ended", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.poll
	})
	t0 := time.Now()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(dir, "again"))
	eventually(t, "a file in the new directory noted", func() bool { return slices.Equal(bornNames(d.Born(t0)), []string{"again"}) })
}

// TestKernelSandboxFinderFindsANamespaceByItsInterface runs the finder on
// a real directory of namespace files (testnet's, like Docker's, bind
// mounts of nsfs): a namespace created after the "connect" gets a veth
// with an address; the finder answers with that namespace, and never with
// its peer, which has another MAC and address.
func TestKernelSandboxFinderFindsANamespaceByItsInterface(t *testing.T) {
	testenv.RequireNetAdmin(t)
	if err := os.MkdirAll(testnet.NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := watchDir(t, testnet.NetnsDir)
	hostID, err := netnsutil.HostID("/proc")
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	ctr := testnet.NewNS(t, "sbx")
	peer := testnet.NewNS(t, "sbxpeer")
	testnet.Link(t, ctr, testnet.End{Name: "eth0", IPv4: "10.250.17.2/24"}, peer, testnet.End{Name: "eth0", IPv4: "10.250.17.1/24"})
	l, err := ctr.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	mac := l.Attrs().HardwareAddr

	results := make(chan sandboxResult, 1)
	f := newSandboxFinder(d, hostID, 2*time.Millisecond, func(r sandboxResult) { results <- r })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	f.submit(ctx, sandboxRequest{ctx: ctx, id: "ctr", mac: mac, ip: netip.MustParseAddr("10.250.17.2"),
		since: since, deadline: time.Now().Add(10 * time.Second)})
	r := <-results
	if r.err != nil {
		t.Fatalf("not found: %v", r.err)
	}
	defer r.close()
	if r.ns.ID() != ctr.ID() || r.file != ctr.Name() || r.iface != "eth0" {
		t.Errorf("found %s (%s, %s), want %s (%s)", r.ns.ID(), r.file, r.iface, ctr.ID(), ctr.Name())
	}
	ifaces, err := r.ns.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ifaces, func(x Interface) bool { return x.Name == "eth0" })
	if i < 0 || ifaces[i].MAC.String() != mac.String() || !slices.Contains(ifaces[i].Addrs, netip.MustParseAddr("10.250.17.2")) {
		t.Errorf("interfaces %+v", ifaces)
	}
}
