package netnsutil

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f on a thread of its own that has entered the network namespace
// nsFd refers to (CAP_SYS_ADMIN), then returns the thread to where it was.
// Sockets f creates stay in the namespace for life; goroutines f starts do
// not run in it. A thread that cannot return is never unlocked, so the
// runtime ends it rather than run other code in the namespace.
func Do(nsFd int, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("current namespace: %w", err)
			return
		}
		defer back.Close()
		if err := unix.Setns(nsFd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter namespace: %w", os.NewSyscallError("setns", err))
			return
		}
		ferr := f()
		if err := unix.Setns(int(back.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		} else {
			ferr = errors.Join(ferr, fmt.Errorf("return from namespace: %w", os.NewSyscallError("setns", err)))
		}
		done <- ferr
	}()
	return <-done
}
