package netnsutil

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ProcNetID identifies a network namespace by what procfs shows of it to
// anyone: the inode number of net/dev in /proc/<pid>/net. Each namespace
// has its own procfs entries, numbered uniquely among live ones and alike
// in every procfs mount, so two live namespaces never share one. Unlike
// /proc/<pid>/ns/net it needs no ptrace access to the process, so a dcfw
// without CAP_SYS_PTRACE can still tell which namespace a process is in
// (the sandbox mode's owners of new namespaces).
type ProcNetID uint64

func (p ProcNetID) String() string { return "procnet:" + strconv.FormatUint(uint64(p), 10) }

// ProcNetOfPID is the namespace of process pid under procDir, as
// /proc/<pid>/net shows it: that of the thread-group leader (a process
// whose main thread sits in another namespace than the rest is seen
// there). A process that is gone yields an error matching ErrNotFound.
func ProcNetOfPID(procDir string, pid int) (ProcNetID, error) {
	path := procDir + "/" + strconv.Itoa(pid) + "/net/dev"
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, classify(path, os.NewSyscallError("stat", err))
	}
	return ProcNetID(st.Ino), nil
}

// ProcNetOf is the ProcNetID of the namespace open as ns: a thread that
// entered it (Do) reads its own net entry there.
func ProcNetOf(ns *NS) (ProcNetID, error) {
	var st unix.Stat_t
	err := Do(ns.Fd(), func() error { return unix.Stat("/proc/thread-self/net/dev", &st) })
	if err != nil {
		return 0, fmt.Errorf("%s: %w", ns.Path(), err)
	}
	return ProcNetID(st.Ino), nil
}
