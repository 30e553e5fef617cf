package names

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialFunc opens a connection for a query: "udp" or "tcp" to address
// (host:port).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialIn returns a DialFunc whose sockets are created inside the network
// namespace nsFd refers to (e.g. netnsutil.NS.Fd(); it must stay open
// while the DialFunc is used). A socket belongs to the namespace it was
// created in for life, so only its creation needs the namespace: a
// goroutine locked to its OS thread enters it, dials and goes back. If
// going back fails the thread stays locked and the runtime ends it with
// the goroutine, so no other goroutine ever runs in the container's
// namespace.
func DialIn(nsFd int) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				done <- result{err: fmt.Errorf("current namespace: %w", err)}
				return
			}
			defer unix.Close(back)
			if err := unix.Setns(nsFd, unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				done <- result{err: fmt.Errorf("enter namespace: %w", err)}
				return
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, address)
			if unix.Setns(back, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			done <- result{conn, err}
		}()
		r := <-done
		return r.conn, r.err
	}
}
