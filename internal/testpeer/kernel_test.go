package testpeer

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testenv"
)

// inFreshNetNS runs fn on a goroutine locked to a thread that has been
// moved into a new, empty network namespace. Sockets fn creates live there.
// The thread is never unlocked, so the runtime discards it afterwards.
// fn must report with t.Errorf (it does not run on the test goroutine).
func inFreshNetNS(t *testing.T, fn func(nl *netlink.Handle)) {
	t.Helper()
	testenv.RequireNetAdmin(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare network namespace: %v", err)
			return
		}
		nl, err := netlink.NewHandle()
		if err != nil {
			t.Errorf("netlink: %v", err)
			return
		}
		defer nl.Close()
		fn(nl)
	}()
	<-done
}

// TestOutcomesAgainstKernel produces every outcome with real packets in a
// fresh namespace, so Classify is checked against what the kernel really
// returns, not against errors made up in a unit test:
//   - 10.7.0.2 sits behind a veth with a permanent neighbour entry: packets
//     leave and nobody answers (TimedOut);
//   - 10.7.1.0/24 has an `unreachable` route (EHOSTUNREACH);
//   - 10.7.2.0/24 has a `prohibit` route (EACCES, like an output drop).
func TestOutcomesAgainstKernel(t *testing.T) {
	inFreshNetNS(t, func(nl *netlink.Handle) {
		if err := setupBlackhole(nl); err != nil {
			t.Errorf("setup: %v", err)
			return
		}
		// Ping sockets are allowed per namespace; the host's setting is
		// untouched. Docker sets the same range in every container.
		if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0o644); err != nil {
			t.Errorf("allow ping sockets in the test namespace: %v", err)
			return
		}
		srv, err := Listen([]uint16{0}, []uint16{0}, &syncBuffer{})
		if err != nil {
			t.Errorf("listen: %v", err)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go srv.Serve(ctx)
		tcpPort := srv.TCPAddrs()[0].(*net.TCPAddr).Port
		udpPort := srv.UDPAddrs()[0].(*net.UDPAddr).Port
		at := func(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

		const timeout = 500 * time.Millisecond
		tests := []struct {
			name  string
			probe func() Result
			want  Outcome
		}{
			{"tcp served", func() Result { return Connect(ctx, "tcp", at("127.0.0.1", tcpPort), timeout) }, Connected},
			{"tcp6 served", func() Result { return Connect(ctx, "tcp", at("::1", tcpPort), timeout) }, Connected},
			{"udp served", func() Result { return Connect(ctx, "udp", at("127.0.0.1", udpPort), timeout) }, Answered},
			{"ping loopback", func() Result { return Ping(ctx, "127.0.0.1", timeout) }, Answered},
			{"ping6 loopback", func() Result { return Ping(ctx, "::1", timeout) }, Answered},
			{"tcp dropped", func() Result { return Connect(ctx, "tcp", "10.7.0.2:80", timeout) }, TimedOut},
			{"udp dropped", func() Result { return Connect(ctx, "udp", "10.7.0.2:53", timeout) }, TimedOut},
			{"ping dropped", func() Result { return Ping(ctx, "10.7.0.2", timeout) }, TimedOut},
			{"tcp no route", func() Result { return Connect(ctx, "tcp", "10.7.1.1:80", timeout) }, Unreachable},
			{"udp no route", func() Result { return Connect(ctx, "udp", "10.7.1.1:53", timeout) }, Unreachable},
			{"tcp prohibited", func() Result { return Connect(ctx, "tcp", "10.7.2.1:80", timeout) }, NotPermitted},
			{"udp prohibited", func() Result { return Connect(ctx, "udp", "10.7.2.1:53", timeout) }, NotPermitted},
		}
		for _, tt := range tests {
			if r := tt.probe(); r.Outcome != tt.want {
				t.Errorf("%s: got %v, want %v", tt.name, r, tt.want)
			}
		}
	})
}

func setupBlackhole(nl *netlink.Handle) error {
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return err
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"}
	if err := nl.LinkAdd(veth); err != nil {
		return err
	}
	v0, err := nl.LinkByName("v0")
	if err != nil {
		return err
	}
	v1, err := nl.LinkByName("v1")
	if err != nil {
		return err
	}
	addr, _ := netlink.ParseAddr("10.7.0.1/24")
	if err := nl.AddrAdd(v0, addr); err != nil {
		return err
	}
	for _, l := range []netlink.Link{v0, v1} {
		if err := nl.LinkSetUp(l); err != nil {
			return err
		}
	}
	// A MAC that is not v1's: v1 drops the frames (PACKET_OTHERHOST), and
	// no ARP is needed, so nothing ever answers.
	mac, _ := net.ParseMAC("02:00:00:00:07:02")
	if err := nl.NeighAdd(&netlink.Neigh{
		LinkIndex: v0.Attrs().Index, IP: net.ParseIP("10.7.0.2"), HardwareAddr: mac,
		State: netlink.NUD_PERMANENT, Family: unix.AF_INET,
	}); err != nil {
		return err
	}
	for _, r := range []struct {
		dst string
		typ int
	}{{"10.7.1.0/24", unix.RTN_UNREACHABLE}, {"10.7.2.0/24", unix.RTN_PROHIBIT}} {
		_, dst, _ := net.ParseCIDR(r.dst)
		if err := nl.RouteAdd(&netlink.Route{Dst: dst, Type: r.typ}); err != nil {
			return err
		}
	}
	return nil
}
