package testnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Process starts a long sleep whose process lives in h's namespace (forked
// from a thread inside it), like a container's init, and kills it at
// cleanup.
func (h *Host) Process(t testing.TB) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	if err := h.Do(cmd.Start); err != nil {
		t.Fatalf("start process in %s: %v", h, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// ProcEntry is one process of a FakeProc tree: the targets of its ns/net
// and net links (none where empty) and its cgroup line.
type ProcEntry struct {
	NSNet, Net string
	Cgroup     string
}

// FakeProc writes a procfs-like tree of procs (by PID) into a fresh
// directory and returns it, for code that reads processes under a
// configurable proc directory.
func FakeProc(t testing.TB, procs map[int]ProcEntry) string {
	t.Helper()
	dir := t.TempDir()
	for pid, p := range procs {
		pd := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(pd, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		for link, target := range map[string]string{"ns/net": p.NSNet, "net": p.Net} {
			if target == "" {
				continue
			}
			if err := os.Symlink(target, filepath.Join(pd, link)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(pd, "cgroup"), []byte(p.Cgroup+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
