package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
)

func bornNames(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	slices.Sort(out)
	return out
}

// watchDir starts watching dir until the test ends.
func watchDir(t *testing.T, dir string) *WatchedDir {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := NewWatchedDir(dir, "/proc")
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

func TestWatchedDirNotesNewFiles(t *testing.T) {
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

func TestWatchedDirPollsUntilTheDirectoryExists(t *testing.T) {
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

func TestWatchedDirSurvivesTheDirectoryBeingReplaced(t *testing.T) {
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

// TestKernelSandboxFinderFindsANamespaceByItsOwner runs the finder on a
// real directory of namespace files (testnet's, like Docker's, bind
// mounts of nsfs) and a procfs whose processes are in real namespaces:
// the namespace created after the request that holds a process in the
// container's cgroup is the answer, never its peer, whose process is
// another container's.
func TestKernelSandboxFinderFindsANamespaceByItsOwner(t *testing.T) {
	testenv.RequireNetAdmin(t)
	if err := os.MkdirAll(testnet.NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostID, err := netnsutil.HostID("/proc")
	if err != nil {
		t.Fatal(err)
	}
	d := NewWatchedDir(testnet.NetnsDir, "/proc")
	d.PollInterval = 2 * time.Millisecond
	f := NewFinder(d, 2*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx, hostID, time.Now); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		f.Wait()
	}()
	since := time.Now()
	ctr := testnet.NewNS(t, "sbx")
	peer := testnet.NewNS(t, "sbxpeer")
	const id = "4bd7c4b16b2a3fd9c1a7cd4e7a7e0a51a27d64e2b4b1ed2bc81b2c1f1a5e0c33"
	const other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	d.Procs = netnsutil.NewProcTable(testnet.FakeProc(t, map[int]testnet.ProcEntry{
		100: {NSNet: filepath.Join(testnet.NetnsDir, peer.Name()), Cgroup: "0::/system.slice/docker-" + other + ".scope"},
		101: {NSNet: filepath.Join(testnet.NetnsDir, ctr.Name()), Cgroup: "0::/docker/" + id},
		102: {NSNet: "/proc/self/ns/net", Cgroup: "0::/docker/" + id}, // runc before it enters
	}))

	results := make(chan Result, 1)
	f.Submit(ctx, Request{Container: id, Since: since, Deadline: time.Now().Add(10 * time.Second),
		Answer: func(r Result) { results <- r }})
	r := <-results
	if r.Err != nil {
		t.Fatalf("not found: %v", r.Err)
	}
	defer r.Close()
	if r.NS.ID() != ctr.ID() || r.File != ctr.Name() {
		t.Errorf("found %s (%s), want %s (%s)", r.NS.ID(), r.File, ctr.ID(), ctr.Name())
	}
}

// eventually polls cond until it holds or a generous bound passes. The
// bound only protects the test run from hanging; nothing is asserted about
// how long it took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
