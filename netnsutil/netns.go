// Package netnsutil opens and identifies network namespaces: a container's,
// by the PID of its process or by Docker's sandbox file, and the host's.
//
// A namespace is identified by the device and inode of its nsfs file, which
// is what the kernel compares too: two paths (or two PIDs) name the same
// namespace exactly when their identities are equal.
//
// Be aware:
//   - Opening /proc/<pid>/ns/net of a process that runs as another user, or
//     that holds capabilities the caller lacks, needs CAP_SYS_PTRACE
//     (ptrace_may_access in the kernel). Without it the open fails with
//     ErrPermission.
//   - A PID can be reused once its process exits. Callers that cache PIDs
//     should compare the identity of what they opened with what they expect.
//   - A sandbox file is a bind mount of the namespace onto a file. A process
//     in another mount namespace (dcfw in a container) sees the namespaces
//     bound after its start only through a mount that propagates (MountOf);
//     otherwise it finds an empty file, and OpenPath says ErrNotNetNS.
package netnsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotFound: the process or sandbox file does not exist (any more).
	// A container that stops between listing and opening ends up here.
	ErrNotFound = errors.New("network namespace not found")
	// ErrPermission: the kernel refused to open the namespace; usually a
	// missing CAP_SYS_PTRACE (process of another user) or CAP_SYS_ADMIN.
	ErrPermission = errors.New("permission denied opening network namespace")
	// ErrNotNetNS: the path exists but is not a network namespace.
	ErrNotNetNS = errors.New("not a network namespace")
	// ErrHostNamespace: the namespace is the host's. dcfw never writes there.
	ErrHostNamespace = errors.New("namespace is the host's network namespace")
)

// ID identifies a network namespace: the device and inode of its nsfs file.
type ID struct {
	Dev uint64
	Ino uint64
}

// String prints the ID as net:[inode]@dev: the inode the way
// `readlink /proc/PID/ns/net` and lsns show it, then the nsfs device.
func (id ID) String() string {
	return fmt.Sprintf("net:[%d]@%d", id.Ino, id.Dev)
}

// IsZero reports whether id is the zero ID (no namespace).
func (id ID) IsZero() bool { return id == ID{} }

// NS is an open network namespace. The file descriptor keeps the namespace
// alive until Close, even if every process in it exits.
type NS struct {
	f    *os.File
	id   ID
	path string
}

// OpenPath opens the namespace file at path, e.g. Docker's sandbox file
// /var/run/docker/netns/<sandbox> or /proc/<pid>/ns/net.
func OpenPath(path string) (*NS, error) {
	// O_RDONLY is enough for setns(2) and for netlink sockets bound to it.
	// O_NONBLOCK and O_NOCTTY: a wrong path naming a FIFO or a terminal
	// must fail as ErrNotNetNS, not block or become our controlling tty.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, classify(path, err)
	}
	id, err := identify(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &NS{f: f, id: id, path: path}, nil
}

// OpenPID opens the network namespace of process pid, using procDir as the
// mount point of procfs (normally /proc; the host's when dcfw runs in a
// container with `pid: host`).
func OpenPID(procDir string, pid int) (*NS, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNotFound)
	}
	return OpenPath(PIDPath(procDir, pid))
}

// PIDPath is the path of the network namespace file of process pid.
func PIDPath(procDir string, pid int) string {
	return filepath.Join(procDir, strconv.Itoa(pid), "ns", "net")
}

// StatPath returns the identity of the namespace at path without keeping it
// open.
func StatPath(path string) (ID, error) {
	ns, err := OpenPath(path)
	if err != nil {
		return ID{}, err
	}
	defer ns.Close()
	return ns.ID(), nil
}

// HostID returns the identity of the host's network namespace: the one of
// PID 1 in procDir. With `pid: host` that is the host's init, whatever
// namespace dcfw itself runs in.
//
// When PID 1 cannot be opened for lack of permission (it holds a capability
// the caller lacks, see the package doc), HostID falls back to kthreadd,
// PID 2 of the host's PID namespace: kernel threads always live in the
// initial network namespace. It is used only if procDir shows PID 2 as a
// kernel thread (PF_KTHREAD, which no process can fake); otherwise the
// permission error stands.
func HostID(procDir string) (ID, error) {
	id, err := StatPath(PIDPath(procDir, 1))
	if !errors.Is(err, ErrPermission) {
		return id, err
	}
	if !isKernelThread(procDir, 2) {
		return ID{}, err
	}
	kid, kerr := StatPath(PIDPath(procDir, 2))
	if kerr != nil {
		return ID{}, err
	}
	return kid, nil
}

// ID returns the namespace's identity.
func (n *NS) ID() ID { return n.id }

// Fd returns the file descriptor, valid until Close.
func (n *NS) Fd() int { return int(n.f.Fd()) }

// Path returns the path the namespace was opened from.
func (n *NS) Path() string { return n.path }

// Close releases the file descriptor.
func (n *NS) Close() error { return n.f.Close() }

func identify(f *os.File) (ID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ID{}, err
	}
	// Make sure this is a network namespace and not any file: NS_GET_NSTYPE
	// answers CLONE_NEWNET for network namespaces only. Every other file
	// answers ENOTTY, and so do namespace files on kernels before 4.11,
	// which lack the ioctl: there, accept any nsfs file (the type cannot be
	// told). Not procfs: every /proc file answers ENOTTY too, and only
	// kernels before 3.19 (no nsfs) had namespace files there.
	t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	switch {
	case err == nil && t == unix.CLONE_NEWNET:
	case err == nil:
		return ID{}, ErrNotNetNS
	case errors.Is(err, unix.ENOTTY):
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
			return ID{}, err
		}
		if sfs.Type != unix.NSFS_MAGIC {
			return ID{}, ErrNotNetNS
		}
	default:
		return ID{}, ErrNotNetNS
	}
	return ID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

func classify(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ESRCH):
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: %w (%v)", path, ErrPermission, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}
