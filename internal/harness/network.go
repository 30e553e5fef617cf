package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The address space of test networks: network i gets 10.231.i.0/24 and
// fd00:dcf:0:i::/64. Nothing outside the links the tests create uses them.
var (
	TestNet4 = netip.MustParsePrefix("10.231.0.0/16")
	testNet6 = netip.MustParsePrefix("fd00:dcf::/48")
)

// Host numbers inside a test subnet: .1 is the gateway; Network.Addr(i)
// with i in [2, 63] is for tests that choose addresses; the harness gives
// containers without an explicit address the next one from [64, 127]; the
// engine's own IPAM (containers connected without an address) uses the
// upper half, so the three never collide.
const (
	firstAutoHost = 64
	lastAutoHost  = 127
)

// Network is a Docker network created for one test.
type Network struct {
	h       *Harness
	ID      string
	Name    string
	Driver  string       // "bridge" or "macvlan"
	Subnet  netip.Prefix // IPv4 subnet (a /24)
	Subnet6 netip.Prefix // IPv6 subnet (a /64), invalid when IPv6 is off
	Parent  string       // macvlan: the parent link on the host

	nextHost atomic.Int32
}

// NetworkSpec says what network to create. The zero value is an IPv4
// bridge.
type NetworkSpec struct {
	// Label goes into the network's name, for people reading `docker
	// network ls` while a test runs.
	Label string
	// Driver is "bridge" (default) or "macvlan".
	Driver string
	// IPv6 adds an IPv6 subnet.
	IPv6 bool
	// Parent is the macvlan parent link; empty means a fresh isolated link
	// that the harness creates (a dummy, or a veth pair where the kernel
	// has no dummy) and deletes after the network.
	Parent string
}

// Bridge creates an IPv4 bridge network for the test.
func (h *Harness) Bridge() *Network { return h.CreateNetwork(NetworkSpec{Label: "br"}) }

// Macvlan creates an IPv4 macvlan network (bridge mode) on a fresh parent
// link for the test.
func (h *Harness) Macvlan() *Network {
	return h.CreateNetwork(NetworkSpec{Label: "mv", Driver: "macvlan"})
}

// CreateNetwork creates the network described by spec with a subnet no
// one else uses, and removes it when the test ends.
//
// Bridge networks are `internal`: no gateway to the outside world, so a
// test's packets cannot leave the machine. Macvlan networks cannot be
// internal (the engine would then make its own dummy parent), but their
// parent is an isolated link that leads nowhere.
func (h *Harness) CreateNetwork(spec NetworkSpec) *Network {
	h.t.Helper()
	driver := spec.Driver
	if driver == "" {
		driver = "bridge"
	}
	n := &Network{h: h, Name: h.UniqueName(spec.Label), Driver: driver}
	n.nextHost.Store(firstAutoHost)

	opts := client.NetworkCreateOptions{Driver: driver, Labels: h.Labels(nil)}
	switch driver {
	case "bridge":
		opts.Internal = true
	case "macvlan":
		n.Parent = spec.Parent
		if n.Parent == "" {
			n.Parent = h.createParentLink()
		}
		opts.Options = map[string]string{"parent": n.Parent, "macvlan_mode": "bridge"}
	case "overlay":
		// Attachable: service tasks and plain containers both join it.
		// Not internal: the tasks' second interface, on docker_gwbridge,
		// is part of what is tested (it needs RequireSwarm).
		opts.Attachable = true
	default:
		h.t.Fatalf("CreateNetwork: driver %q not supported by the harness", driver)
	}
	if spec.IPv6 {
		on := true
		opts.EnableIPv6 = &on
	}

	// Another test (or another test binary on this machine) may take a
	// subnet between our check and the create: then try the next one.
	for attempt := 0; ; attempt++ {
		idx, err := allocSubnet(h)
		if err != nil {
			h.t.Fatalf("CreateNetwork %s: %v", n.Name, err)
		}
		n.Subnet, n.Subnet6 = subnet4(idx), netip.Prefix{}
		opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{ipamConfig(n.Subnet)}}
		if spec.IPv6 {
			n.Subnet6 = subnet6(idx)
			opts.IPAM.Config = append(opts.IPAM.Config, ipamConfig(n.Subnet6))
		}
		ctx, cancel := h.Ctx()
		res, err := h.Docker().NetworkCreate(ctx, n.Name, opts)
		cancel()
		if err != nil && strings.Contains(err.Error(), "overlaps") && attempt < 16 {
			continue
		}
		if err != nil {
			h.t.Fatalf("create %s network %s (subnet %s %s): %v", driver, n.Name, n.Subnet, n.Subnet6, err)
		}
		n.ID = res.ID
		break
	}
	h.t.Cleanup(func() {
		if err := h.RemoveNetwork(n.ID); err != nil {
			h.t.Errorf("remove network %s: %v", n.Name, err)
		}
	})
	return n
}

// ipamConfig: gateway .1 (::1); the engine's own dynamic range is host
// numbers 128-255 (the upper half of the IPv4 /24, and the same numbers in
// the IPv6 /64, so that addresses read alike in both families).
func ipamConfig(p netip.Prefix) network.IPAMConfig {
	bits := 25
	if p.Addr().Is6() {
		bits = 121
	}
	return network.IPAMConfig{
		Subnet:  p,
		IPRange: netip.PrefixFrom(HostAddr(p, 128), bits),
		Gateway: HostAddr(p, 1),
	}
}

// Addr returns host number i of the network's IPv4 subnet (i in [2, 63]
// for addresses a test chooses itself; see the constants above).
func (n *Network) Addr(i int) netip.Addr { return HostAddr(n.Subnet, i) }

// Addr6 returns host number i of the network's IPv6 subnet.
func (n *Network) Addr6(i int) netip.Addr {
	if !n.Subnet6.IsValid() {
		n.h.t.Fatalf("network %s has no IPv6 subnet", n.Name)
	}
	return HostAddr(n.Subnet6, i)
}

// nextAuto returns the next host number for a container without an
// explicit address.
func (n *Network) nextAuto() int {
	i := int(n.nextHost.Add(1) - 1)
	if i > lastAutoHost {
		n.h.t.Fatalf("network %s: more than %d containers with automatic addresses", n.Name, lastAutoHost-firstAutoHost+1)
	}
	return i
}

func HostAddr(p netip.Prefix, i int) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for k := len(b) - 1; k >= 0 && i > 0; k-- {
		sum := int(b[k]) + i
		b[k] = byte(sum)
		i = sum >> 8
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func subnet4(idx int) netip.Prefix {
	b := TestNet4.Addr().As4()
	b[2] = byte(idx)
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

func subnet6(idx int) netip.Prefix {
	b := testNet6.Addr().As16()
	b[6], b[7] = 0, byte(idx)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// subnetCursor walks the 256 test subnets; it starts at a random one so
// that two test binaries running at once rarely try the same subnets.
var subnetCursor struct {
	mu   sync.Mutex
	next int
	init bool
}

// allocSubnet returns the index of a test subnet that no host route and no
// Docker network uses right now.
func allocSubnet(h *Harness) (int, error) {
	used, err := usedPrefixes(h)
	if err != nil {
		return 0, err
	}
	subnetCursor.mu.Lock()
	defer subnetCursor.mu.Unlock()
	if !subnetCursor.init {
		subnetCursor.next, subnetCursor.init = rand.IntN(256), true
	}
	for range 256 {
		idx := subnetCursor.next
		subnetCursor.next = (subnetCursor.next + 1) % 256
		if !overlapsAny(subnet4(idx), used) && !overlapsAny(subnet6(idx), used) {
			return idx, nil
		}
	}
	return 0, fmt.Errorf("all 256 test subnets in %s are in use", TestNet4)
}

// usedPrefixes lists the destinations of the host's routes (all tables)
// and the subnets of all Docker networks.
func usedPrefixes(h *Harness) ([]netip.Prefix, error) {
	var used []netip.Prefix
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		// Default routes (0.0.0.0/0, ::/0) "overlap" everything; what
		// matters is the subnets the host has on its links.
		if p, ok := prefixOf(r.Dst.String()); ok && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	ctx, cancel := h.Ctx()
	defer cancel()
	nets, err := h.Docker().NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list docker networks: %w", err)
	}
	for _, n := range nets.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				used = append(used, c.Subnet)
			}
		}
	}
	return used, nil
}

func prefixOf(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	return p, err == nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Addr().Is4() == p.Addr().Is4() && u.Overlaps(p) {
			return true
		}
	}
	return false
}

// RemoveNetwork removes a network; one already gone is no error.
func (h *Harness) RemoveNetwork(id string) error {
	ctx, cancel := h.Ctx()
	defer cancel()
	_, err := h.Docker().NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
	if err == nil || IsNotFound(err) {
		return nil
	}
	// Still in use: a container the test connected by hand, or one whose
	// removal failed. Disconnect everything and try once more.
	insp, ierr := h.Docker().NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	if ierr != nil {
		return errors.Join(err, ierr)
	}
	for cid := range insp.Network.Containers {
		_, _ = h.Docker().NetworkDisconnect(ctx, id, client.NetworkDisconnectOptions{Container: cid, Force: true})
	}
	_, err = h.Docker().NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// linkAlias marks the links the harness creates: the owner's PID lets the
// next run delete the links of a killed run, and only those.
func linkAlias(runID string) string {
	return "dcfw-e2e pid=" + strconv.Itoa(os.Getpid()) + " run=" + runID
}

var dummySupport struct {
	once sync.Once
	ok   bool
}

// createParentLink creates an isolated, addressless link to be a macvlan
// parent, up, and deletes it when the test ends (after the network, which
// is removed first because its cleanup is registered later).
//
// A dummy is the natural parent: always up, and what it transmits goes
// nowhere. Kernels built without CONFIG_DUMMY (this CI's) get a veth pair
// instead: both ends up and addressless, frames sent out of the parent end
// up on the peer, which drops them.
func (h *Harness) createParentLink() string {
	h.t.Helper()
	suffix := newRunID()[:6]
	name := "dcfwp" + suffix
	attrs := netlink.LinkAttrs{Name: name}

	var link netlink.Link = &netlink.Dummy{LinkAttrs: attrs}
	dummySupport.once.Do(func() {
		err := netlink.LinkAdd(link)
		dummySupport.ok = err == nil
		if err == nil {
			_ = netlink.LinkDel(link)
		}
	})
	peer := ""
	if !dummySupport.ok {
		peer = "dcfwq" + suffix
		link = &netlink.Veth{LinkAttrs: attrs, PeerName: peer}
	}
	if err := netlink.LinkAdd(link); err != nil {
		h.t.Fatalf("create macvlan parent %s (%T): %v", name, link, err)
	}
	h.t.Cleanup(func() {
		// Deleting a veth deletes its peer too.
		if l, err := netlink.LinkByName(name); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				h.t.Errorf("delete macvlan parent %s: %v", name, err)
			}
		}
	})
	for _, n := range []string{name, peer} {
		if n == "" {
			continue
		}
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetAlias(l, linkAlias(h.RunID()))
		}
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			h.t.Fatalf("set up macvlan parent %s: %v", n, err)
		}
	}
	if peer != "" {
		// The peer only swallows frames; no IPv6 link-local chatter from it.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+peer+"/disable_ipv6", []byte("1"), 0o644)
	}
	return name
}
