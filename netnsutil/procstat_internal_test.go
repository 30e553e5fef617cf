package netnsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestStatFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stat  string
		flags uint64
		ok    bool
	}{
		{"kthreadd", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0", 2129984, true},
		{"process", "1 (init) S 0 1 1 0 -1 4194560 26206 792020", 4194560, true},
		// A process may name itself anything, including a fake stat tail.
		{"comm with parens and spaces", "77 (a) S 0 0 0 0 -1 2129984 (x) S 1 1 1 0 -1 64 0", 64, true},
		{"truncated", "2 (kthreadd) S 0 0", 0, false},
		{"no comm", "2 kthreadd S 0 0 0 0 -1 2129984", 0, false},
		{"flags not a number", "2 (k) S 0 0 0 0 -1 0x20 0", 0, false},
		{"empty", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags, ok := statFlags([]byte(tc.stat))
			if flags != tc.flags || ok != tc.ok {
				t.Errorf("statFlags(%q) = %d, %v; want %d, %v", tc.stat, flags, ok, tc.flags, tc.ok)
			}
		})
	}
}

func FuzzStatFlags(f *testing.F) {
	f.Add([]byte("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0"))
	f.Add([]byte("1 (a) b) S 0 1 1 0 -1 4194560"))
	f.Fuzz(func(t *testing.T, b []byte) {
		statFlags(b) // must not panic on anything procfs (or a fake procDir) holds
	})
}

// isKernelThread reads procDir/PID/stat; a procDir that is not procfs (a
// container's wrong mount, a test directory) is handled, not trusted blindly.
func TestIsKernelThread(t *testing.T) {
	dir := t.TempDir()
	write := func(pid, stat string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pid, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0")
	write("3", "3 (kthreadd) S 0 0 0 0 -1 4194560 0 0") // named like one, is not
	for pid, want := range map[int]bool{2: true, 3: false, 4: false} {
		if got := isKernelThread(dir, pid); got != want {
			t.Errorf("isKernelThread(%d) = %v, want %v", pid, got, want)
		}
	}
	// On the real /proc of the host's PID namespace, PID 2 is kthreadd.
	if b, err := os.ReadFile("/proc/2/comm"); err == nil && string(b) == "kthreadd\n" && !isKernelThread("/proc", 2) {
		t.Error("kthreadd in /proc not recognised as a kernel thread")
	}
	if isKernelThread("/proc", os.Getpid()) {
		t.Error("this test process taken for a kernel thread")
	}
}

// KernelThread's errors say which case it was, for preflight's messages.
func TestKernelThreadErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "5"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "5", "stat"), []byte("nonsense"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := KernelThread(dir, 5); !errors.Is(err, ErrStatFormat) {
		t.Errorf("unreadable stat: error %v, want ErrStatFormat", err)
	}
	if _, _, err := KernelThread(dir, 6); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing PID: error %v, want fs.ErrNotExist", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7", "stat"), []byte("7 (a) b) S 1 2 2 0 -1 4194560 0 0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k, comm, err := KernelThread(dir, 7); err != nil || k || comm != `"a) b"` {
		t.Errorf("KernelThread = %v, %s, %v; want false, \"a) b\", nil", k, comm, err)
	}
}
