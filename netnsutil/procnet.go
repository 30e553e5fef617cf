package netnsutil

import (
	"errors"
	"fmt"
	"os"
	"runtime"
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

// ProcNetOf is the ProcNetID of the namespace open as ns: a thread of its
// own enters it (CAP_SYS_ADMIN) and reads its own net entry there, then
// returns to where it was. A thread that cannot return is never unlocked,
// so the runtime ends it rather than run other code in the namespace.
func ProcNetOf(ns *NS) (ProcNetID, error) {
	type result struct {
		id  ProcNetID
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer back.Close()
		if err := unix.Setns(ns.Fd(), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter %s: %w", ns.Path(), os.NewSyscallError("setns", err))}
			return
		}
		var st unix.Stat_t
		serr := unix.Stat("/proc/thread-self/net/dev", &st)
		if berr := unix.Setns(int(back.Fd()), unix.CLONE_NEWNET); berr == nil {
			runtime.UnlockOSThread()
		} else {
			serr = errors.Join(serr, fmt.Errorf("return from %s: %w", ns.Path(), os.NewSyscallError("setns", berr)))
		}
		if serr != nil {
			done <- result{err: serr}
			return
		}
		done <- result{id: ProcNetID(st.Ino)}
	}()
	r := <-done
	return r.id, r.err
}
