package names

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialFunc opens a connection for a query: "udp" or "tcp" to address
// (host:port).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dialer creates query sockets inside one network namespace. A socket
// belongs to the namespace it was created in for life, so only its
// creation needs the namespace: one goroutine, locked to its OS thread,
// enters it once and creates every socket of the Dialer there, until
// Close takes it back. (Entering per socket cost two setns calls and a
// thread each: thousands per cycle with many names.) If going back fails
// the thread stays locked and the runtime ends it with the goroutine, so
// no other goroutine ever runs in the container's namespace.
type Dialer struct {
	reqs chan dialRequest
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the goroutine has left
}

type dialRequest struct {
	ctx              context.Context
	network, address string
	reply            chan dialResult
}

type dialResult struct {
	conn net.Conn
	err  error
}

// ErrDialerClosed is the error of Dial after Close.
var ErrDialerClosed = errors.New("dialer closed")

// NewDialer enters the namespace nsFd refers to (e.g. netnsutil.NS.Fd();
// it need only stay open until NewDialer returns). Close it when done.
func NewDialer(nsFd int) (*Dialer, error) {
	d := &Dialer{reqs: make(chan dialRequest), quit: make(chan struct{}), done: make(chan struct{})}
	entered := make(chan error, 1)
	go d.run(nsFd, entered)
	if err := <-entered; err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dialer) run(nsFd int, entered chan<- error) {
	defer close(d.done)
	runtime.LockOSThread()
	back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		entered <- fmt.Errorf("current namespace: %w", err)
		return
	}
	defer unix.Close(back)
	if err := unix.Setns(nsFd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		entered <- fmt.Errorf("enter namespace: %w", err)
		return
	}
	entered <- nil
	for {
		select {
		case r := <-d.reqs:
			var nd net.Dialer
			conn, err := nd.DialContext(r.ctx, r.network, r.address)
			r.reply <- dialResult{conn, err}
			continue
		case <-d.quit:
		}
		break
	}
	if unix.Setns(back, unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
}

// Dial is a DialFunc: a socket created inside the Dialer's namespace.
func (d *Dialer) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	reply := make(chan dialResult, 1)
	select {
	case d.reqs <- dialRequest{ctx, network, address, reply}:
	case <-d.done:
		return nil, ErrDialerClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-reply
	return r.conn, r.err
}

// Close leaves the namespace and ends the Dialer's goroutine; Dial then
// fails with ErrDialerClosed. Close must be called once.
func (d *Dialer) Close() {
	close(d.quit)
	<-d.done
}
