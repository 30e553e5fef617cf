package nft

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Conn talks nf_tables to one network namespace.
//
// It holds a duplicate of the namespace descriptor (so the caller may close
// its own) and one netlink socket inside the namespace for reading. Writes
// go through the library (github.com/google/nftables), which opens a
// socket for each batch, sized for that batch. A Conn is safe for
// concurrent use; its operations are serialised.
type Conn struct {
	mu   sync.Mutex
	nsFd int           // our duplicate of the namespace descriptor
	nl   *netlink.Conn // reads (dumps), inside the namespace
	rtnl *vnl.Handle   // interface listing, inside the namespace; made on first use

	// noEgress: the kernel refused an egress chain (no egress hook).
	noEgress bool

	dumps int // see Dumps
}

// Dumps returns how many times the table was read (table, chain and rule
// dumps) on this Conn so far, for tests and benchmarks: an Apply that only
// checked the generation (Result.Skipped) reads nothing.
func (c *Conn) Dumps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dumps
}

// writeTimeout bounds how long a batch may wait for the kernel's replies,
// so a lost acknowledgement never hangs a reconcile cycle.
const writeTimeout = 30 * time.Second

// readBufferSize is the receive buffer of the read socket: a dump arrives
// in parts as the buffer drains, so this only needs to hold a few parts.
const readBufferSize = 1 << 20

// Dial opens a netlink socket inside the network namespace nsFd refers to
// (e.g. netnsutil.NS.Fd()). nsFd is duplicated: the caller may close it.
func Dial(nsFd int) (*Conn, error) {
	fd, err := unix.FcntlInt(uintptr(nsFd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: duplicate namespace fd %d: %w", ErrDial, nsFd, err)
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: fd})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %w", ErrDial, err)
	}
	if err := setBuffers(nl, readBufferSize, 0); err != nil {
		nl.Close()
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %w", ErrDial, err)
	}
	return &Conn{nsFd: fd, nl: nl}, nil
}

// Close closes the socket and the namespace descriptor.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return nil
	}
	err := c.nl.Close()
	if c.rtnl != nil {
		c.rtnl.Close()
		c.rtnl = nil
	}
	if cerr := unix.Close(c.nsFd); err == nil {
		err = cerr
	}
	c.nl = nil
	return err
}

// batchConn returns a library connection for one batch. The library opens
// its socket at Flush; the socket options give it buffers for a batch of
// about batchBytes bytes in msgs messages and a deadline.
//
// Why the sizes: the kernel refuses a send larger than the send buffer
// ("message too long"), and answers every message of the batch with an
// acknowledgement, and every added rule with an echo of it (v0.3.0 asks
// for NLM_F_ECHO), all queued on the receive buffer before we read them;
// an overflow there loses replies (ENOBUFS). Buffers are only a limit:
// memory is used as messages arrive.
func (c *Conn) batchConn(batchBytes, msgs int) (*nftables.Conn, error) {
	send, recv := batchBuffers(batchBytes, msgs)
	return nftables.New(
		nftables.WithNetNSFd(c.nsFd),
		nftables.WithSockOptions(func(nl *netlink.Conn) error {
			if err := setBuffers(nl, recv, send); err != nil {
				return err
			}
			return nl.SetDeadline(time.Now().Add(writeTimeout))
		}),
	)
}

// batchBuffers returns the send and receive buffer sizes for a batch. A
// variable so a test can starve the receive buffer.
var batchBuffers = func(batchBytes, msgs int) (send, recv int) {
	return 2*batchBytes + 64<<10, 2*batchBytes + msgs*2048 + 64<<10
}

// setBuffers raises the socket's receive and send buffers (0 = leave as
// is). It uses SO_RCVBUFFORCE/SO_SNDBUFFORCE, which ignore the
// net.core.rmem_max/wmem_max limits and need CAP_NET_ADMIN (which writing
// nftables needs anyway), and falls back to the capped SO_RCVBUF/SO_SNDBUF.
func setBuffers(nl *netlink.Conn, recv, send int) error {
	rc, err := nl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		set := func(force, plain, size int) {
			if size <= 0 {
				return
			}
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, force, size) == nil {
				return
			}
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, plain, size); err != nil && serr == nil {
				serr = fmt.Errorf("set socket buffer: %w", err)
			}
		}
		set(unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, recv)
		set(unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, send)
	})
	if err != nil {
		return err
	}
	return serr
}
