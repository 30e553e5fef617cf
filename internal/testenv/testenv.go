// Package testenv decides whether privileged tests can run here. It probes
// for what a test needs (rather than checking the user ID alone) and skips
// with a clear message when that is missing, except under CI, where a test
// that cannot run is a failure: a green CI run must mean the kernel and
// Docker tests really ran.
package testenv

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// InCI reports whether the CI environment variable asks for strict mode.
func InCI() bool {
	v, ok := os.LookupEnv("CI")
	if !ok || v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b // any non-boolean value also counts as CI
}

// SkipOrFail skips t with reason, or fails it when running under CI.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("cannot run under CI: %s", reason)
	}
	t.Skip(reason)
}

var (
	probeOnce sync.Once
	probeErr  error
)

// probeNetNS checks that this process may create a network namespace:
// unshare(CLONE_NEWNET) on a locked thread, which then goes back to its
// namespace. It must go back rather than stay locked and be thrown away:
// when the goroutine runs on the main thread, which the runtime cannot end,
// that thread is parked for good in the new namespace, and
// /proc/self/ns/net of the test process then names it, not the host's.
func probeNetNS() error {
	probeOnce.Do(func() {
		done := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			back, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				done <- err
				return
			}
			defer back.Close()
			err = unix.Unshare(unix.CLONE_NEWNET)
			// If going back fails, stay locked: the runtime then ends the
			// thread (or parks the main thread) instead of reusing it.
			if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			done <- err
		}()
		probeErr = <-done
	})
	return probeErr
}

// RequireNetAdmin skips (or under CI fails) t unless the process can create
// network namespaces and manage nftables in them: root with CAP_SYS_ADMIN
// and CAP_NET_ADMIN.
func RequireNetAdmin(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces; run as root, e.g. sudo go test")
	}
	if err := probeNetNS(); err != nil {
		SkipOrFail(t, "cannot create a network namespace (unshare CLONE_NEWNET): "+err.Error())
	}
}
