package testnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// End is one end of a veth pair: the interface's name inside its host and
// its addresses, each with a prefix length, e.g.
//
//	testnet.End{Name: "eth0", IPv4: "10.99.1.1/24", IPv6: "fd00:99:1::1/64"}
//
// An empty IPv4 or IPv6 leaves that family without an address (IPv6 still
// has its link-local one).
type End struct {
	Name string
	IPv4 string
	IPv6 string
}

// linkUpTimeout bounds the wait for both ends of a new veth to be running.
// A veth is up within milliseconds; this is only a guard against hanging.
const linkUpTimeout = 10 * time.Second

// Link joins a and b with a veth pair, named ea.Name inside a and eb.Name
// inside b, both up, with their addresses (IPv6 with nodad, usable at once)
// and the connected routes the kernel adds for them. The pair is created
// directly inside the two namespaces, never in the host's, so names like
// eth0 are fine. A host may have several links (to different peers, each on
// its own subnet), e.g. for `on IFACE` rules. The pair is deleted at cleanup.
func Link(t testing.TB, a *Host, ea End, b *Host, eb End) {
	t.Helper()
	if a == b {
		t.Fatalf("testnet: Link %s to itself", a)
	}
	aAddrs := parseEnd(t, ea)
	bAddrs := parseEnd(t, eb)

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ea.Name},
		PeerName:      eb.Name,
		PeerNamespace: netlink.NsFd(b.Fd()),
	}
	if err := a.nl.LinkAdd(veth); err != nil {
		t.Fatalf("testnet: add veth %s@%s <-> %s@%s: %v", ea.Name, a, eb.Name, b, err)
	}
	t.Cleanup(func() {
		// Deleting one end deletes both. Gone already (a test deleted it,
		// or moved it) is fine.
		l, err := a.nl.LinkByName(ea.Name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if !errors.As(err, &nf) {
				t.Errorf("testnet: find veth %s in %s: %v", ea.Name, a, err)
			}
			return
		}
		if err := a.nl.LinkDel(l); err != nil {
			t.Errorf("testnet: delete veth %s in %s: %v", ea.Name, a, err)
		}
	})

	for _, side := range []struct {
		h     *Host
		name  string
		addrs []netip.Prefix
	}{{a, ea.Name, aAddrs}, {b, eb.Name, bAddrs}} {
		if err := configure(side.h, side.name, side.addrs); err != nil {
			t.Fatalf("testnet: configure %s in %s: %v", side.name, side.h, err)
		}
	}
	for _, side := range []struct {
		h    *Host
		name string
	}{{a, ea.Name}, {b, eb.Name}} {
		if err := waitRunning(side.h, side.name); err != nil {
			t.Fatalf("testnet: %s in %s: %v", side.name, side.h, err)
		}
	}
	if err := settle(a, ea.Name, aAddrs, b, eb.Name, bAddrs); err != nil {
		t.Fatalf("testnet: link %s@%s <-> %s@%s: %v", ea.Name, a, eb.Name, b, err)
	}
}

// settleAttempt bounds one readiness ping; settle retries until
// linkUpTimeout.
const settleAttempt = 200 * time.Millisecond

// settle makes sure a new link carries traffic in both directions and both
// families before the test's first packet, then forgets what that taught
// the neighbour tables, so the test starts with cold caches (a ruleset that
// broke neighbour discovery must not be hidden by entries learned here).
//
// Carrier is not enough: the kernel finishes bringing IPv6 up on an address
// in deferred work (joining its solicited-node multicast group, even with
// nodad), and until then a neighbour solicitation for it is dropped and
// only retried after a second. Under load that made the first IPv6 probe
// of a test time out about a third of the time.
func settle(a *Host, aIf string, aAddrs []netip.Prefix, b *Host, bIf string, bAddrs []netip.Prefix) error {
	deadline := time.Now().Add(linkUpTimeout)
	for _, dir := range []struct {
		from  *Host
		iface string
		to    []netip.Prefix
	}{{a, aIf, bAddrs}, {b, bIf, aAddrs}} {
		for _, p := range dir.to {
			for {
				var out Outcome
				var err error
				dir.from.Do(func() error {
					out, err = ping(p.Addr(), settleAttempt, source{iface: dir.iface})
					return nil
				})
				if out == Answered {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("ping %s from %s: %v (%v) after %v", p.Addr(), dir.from, out, err, linkUpTimeout)
				}
				// The solicitation was probably lost; the kernel would only
				// retry in a second. Forget the incomplete entry so the next
				// attempt solicits again at once.
				if err := flushNeighbours(dir.from, dir.iface); err != nil {
					return err
				}
			}
		}
	}
	for _, side := range []struct {
		h     *Host
		iface string
	}{{a, aIf}, {b, bIf}} {
		if err := flushNeighbours(side.h, side.iface); err != nil {
			return fmt.Errorf("flush neighbours of %s in %s: %w", side.iface, side.h, err)
		}
	}
	return nil
}

func flushNeighbours(h *Host, iface string) error {
	l, err := h.nl.LinkByName(iface)
	if err != nil {
		return err
	}
	neighs, err := h.nl.NeighList(l.Attrs().Index, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, n := range neighs {
		if n.State&(netlink.NUD_NOARP|netlink.NUD_PERMANENT) != 0 {
			continue
		}
		if err := h.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete %s: %w", n.IP, err)
		}
	}
	return nil
}

// AddAddr adds one more address (with prefix length, e.g. "10.99.1.3/24" or
// "fd00:99:1::5/64"; IPv6 with nodad) to interface iface of h.
func (h *Host) AddAddr(t testing.TB, iface, cidr string) {
	t.Helper()
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.Fatalf("testnet: AddAddr %q: %v", cidr, err)
	}
	if err := configureAddrs(h, iface, []netip.Prefix{p}); err != nil {
		t.Fatalf("testnet: AddAddr %s to %s in %s: %v", cidr, iface, h, err)
	}
}

func parseEnd(t testing.TB, e End) []netip.Prefix {
	t.Helper()
	if e.Name == "" || len(e.Name) > unix.IFNAMSIZ-1 {
		t.Fatalf("testnet: interface name %q: want 1 to %d characters", e.Name, unix.IFNAMSIZ-1)
	}
	var out []netip.Prefix
	for _, f := range []struct {
		s    string
		want func(netip.Addr) bool
		fam  string
	}{{e.IPv4, netip.Addr.Is4, "IPv4"}, {e.IPv6, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }, "IPv6"}} {
		if f.s == "" {
			continue
		}
		p, err := netip.ParsePrefix(f.s)
		if err != nil || !f.want(p.Addr()) {
			t.Fatalf("testnet: %s address %q of %s: want an %s address with prefix length, like %s",
				f.fam, f.s, e.Name, f.fam, map[string]string{"IPv4": "10.99.1.1/24", "IPv6": "fd00:99:1::1/64"}[f.fam])
		}
		out = append(out, p)
	}
	return out
}

func configure(h *Host, name string, addrs []netip.Prefix) error {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return configureAddrs(h, name, addrs)
}

func configureAddrs(h *Host, name string, addrs []netip.Prefix) error {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return err
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.nl.AddrAdd(l, a); err != nil {
			return fmt.Errorf("add address %s: %w", p, err)
		}
	}
	return nil
}

// waitRunning waits until the interface reports carrier (operstate up), so
// the first packet of a test is not sent into a link that is still coming
// up. Bounded; it does not assert anything about time.
func waitRunning(h *Host, name string) error {
	deadline := time.Now().Add(linkUpTimeout)
	for {
		l, err := h.nl.LinkByName(name)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not running after %v (operstate %v)", linkUpTimeout, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
