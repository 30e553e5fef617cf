package droplog

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/nflog"
)

// namespace is what a Reader needs from the namespace it watches: the
// records of its NFLOG group and the names of its interfaces.
type namespace interface {
	// Receive blocks until records arrive; after Close it returns an error.
	Receive() ([]nflog.Record, error)
	// InterfaceName names the interface with this index inside the
	// namespace, or returns "#<index>" when there is none.
	InterfaceName(index uint32) string
	// Close releases everything that refers to the namespace.
	Close() error
}

// netNamespace is a namespace of the kernel: an NFLOG socket and an
// rtnetlink socket, both opened inside it.
type netNamespace struct {
	conn  *nflog.Conn
	names *ifNames
}

// openNamespace opens the sockets of a namespace inside the namespace nsFd
// refers to. nsFd may be closed once it returns.
func openNamespace(nsFd int, group uint16, now func() time.Time) (namespace, error) {
	conn, err := nflog.Dial(nsFd, nflog.Config{Group: group})
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(nsFd), unix.NETLINK_ROUTE)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("droplog: rtnetlink socket in the namespace: %w", err)
	}
	return &netNamespace{conn: conn, names: &ifNames{h: h, now: now}}, nil
}

func (n *netNamespace) Receive() ([]nflog.Record, error) { return n.conn.Receive() }

func (n *netNamespace) InterfaceName(index uint32) string { return n.names.name(index) }

func (n *netNamespace) Close() error {
	err := n.conn.Close()
	n.names.close()
	return err
}

// namesMaxAge is how long a listing of the interfaces is trusted for
// indexes it has: interfaces move in under a temporary name and are renamed.
const namesMaxAge = time.Minute

// ifNames caches the namespace's interface names by index.
type ifNames struct {
	mu     sync.Mutex
	h      *netlink.Handle // nil once closed
	now    func() time.Time
	names  map[uint32]string
	listed time.Time
}

func (n *ifNames) name(index uint32) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	name, ok := n.names[index]
	if (!ok || now.Sub(n.listed) > namesMaxAge) && n.h != nil {
		if links, err := n.h.LinkList(); err == nil {
			n.names, n.listed = make(map[uint32]string, len(links)), now
			for _, l := range links {
				n.names[uint32(l.Attrs().Index)] = l.Attrs().Name
			}
			name, ok = n.names[index]
		}
	}
	if !ok {
		return "#" + strconv.FormatUint(uint64(index), 10)
	}
	return name
}

func (n *ifNames) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
}
