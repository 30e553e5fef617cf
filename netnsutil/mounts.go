package netnsutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Mount is the mount that holds a path, as this process's mount namespace
// has it.
type Mount struct {
	// Point is the mount point.
	Point string
	// Propagates tells whether mounts made below it in another mount
	// namespace appear here (propagation shared or slave). Docker binds
	// each sandbox namespace to a file under its sandbox directory; a dcfw
	// in a container sees the namespaces created after it started only
	// through a mount that propagates (compose: rslave).
	Propagates bool
}

// MountOf finds the mount that holds path (symlinks resolved) in
// /proc/self/mountinfo.
func MountOf(path string) (Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mount{}, err
	}
	defer f.Close()
	return mountOf(f, path)
}

// mountOf is MountOf reading the mount table from r.
func mountOf(r io.Reader, path string) (Mount, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Mount{}, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return Mount{}, err
	}
	mounts, err := mountinfo.GetMountsFromReader(r, mountinfo.ParentsFilter(real))
	if err != nil {
		return Mount{}, err
	}
	// The last of the longest mount points is the one on top: a later
	// mount over the same point hides the earlier ones.
	var best *mountinfo.Info
	for _, m := range mounts {
		if best == nil || len(m.Mountpoint) >= len(best.Mountpoint) {
			best = m
		}
	}
	if best == nil {
		return Mount{}, fmt.Errorf("no mount holds %s", real)
	}
	return Mount{Point: best.Mountpoint, Propagates: propagates(best.Optional)}, nil
}

// propagates reads mountinfo's optional fields: "shared:N" (peer group)
// or "master:N" (slave) mean that mounts from elsewhere reach this one.
func propagates(optional string) bool {
	for _, f := range strings.Fields(optional) {
		tag, _, _ := strings.Cut(f, ":")
		if tag == "shared" || tag == "master" {
			return true
		}
	}
	return false
}

// SameMountNS reports whether this process is in the mount namespace of
// procDir's PID 1 (the host's, when procDir shows the host's processes).
// Reading another process's namespace link needs the same access as
// opening its network namespace (CAP_SYS_PTRACE for the host's init).
func SameMountNS(procDir string) (bool, error) {
	self, err := os.Stat("/proc/self/ns/mnt")
	if err != nil {
		return false, err
	}
	init, err := os.Stat(filepath.Join(procDir, "1", "ns", "mnt"))
	if err != nil {
		return false, err
	}
	return os.SameFile(self, init), nil
}
