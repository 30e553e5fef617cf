package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/netnsutil"
)

// effectiveCaps reads the calling thread's effective capability set.
// Capabilities are per thread, but dcfw never changes them, so every thread
// has the set the process started with.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// kthreaddPID is the PID of kthreadd, the parent of all kernel threads, in
// the host's (initial) PID namespace. No other PID namespace shows kernel
// threads at all.
const kthreaddPID = 2

// hostPIDNamespace checks that procDir shows the host's PID namespace:
// PID 2 there is a kernel thread. In a container without pid: host, PID 2
// is another process of the container or does not exist.
func hostPIDNamespace(procDir string) error {
	kthread, comm, err := netnsutil.KernelThread(procDir, kthreaddPID)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist, so PID %d is not the kernel's kthreadd",
			filepath.Join(procDir, strconv.Itoa(kthreaddPID)), kthreaddPID)
	case err != nil:
		return err
	case !kthread:
		return fmt.Errorf("PID %d in %s is %s, not a kernel thread (kthreadd): this is not the host's PID namespace",
			kthreaddPID, procDir, comm)
	}
	return nil
}

// setnsSelf enters the calling thread's own network namespace: the check
// the kernel makes (CAP_SYS_ADMIN over the namespace, and seccomp's and any
// security module's say) is the one for entering a container's, but the
// thread ends up where it was, so nothing changes. It runs on a goroutine
// of its own, locked to its thread for the duration.
func setnsSelf() error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		done <- os.NewSyscallError("setns", unix.Setns(int(f.Fd()), unix.CLONE_NEWNET))
	}()
	return <-done
}

// listTables asks nf_tables for the tables of dcfw's own network namespace
// (its private one in a container with network_mode none): the kernel
// checks CAP_NET_ADMIN on every nf_tables request, reads included. Nothing
// is written.
func listTables() error {
	// Not a lasting connection: the request opens and closes its socket.
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables netlink socket: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return fmt.Errorf("list nftables tables: %w", err)
	}
	return nil
}
