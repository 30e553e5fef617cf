package testnet

import (
	"encoding/binary"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// These need no root: they pin down how errors and ICMP quotes are read.

// received builds the control message the kernel attaches to a datagram.
func received4(dst [4]byte) []byte {
	return unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 7, Spec_dst: [4]byte{10, 0, 0, 9}, Addr: dst})
}

func received6(dst [16]byte, ifindex uint32) []byte {
	return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: dst, Ifindex: ifindex})
}

func TestReplySource(t *testing.T) {
	mapped := func(a, b, c, d byte) [16]byte {
		return [16]byte{10: 0xff, 11: 0xff, 12: a, 13: b, 14: c, 15: d}
	}
	v6 := func(s string) [16]byte { return [16]byte(net.ParseIP(s).To16()) }
	for _, tc := range []struct {
		name string
		oob  []byte
		want []byte
	}{
		{"ipv4 unicast", received4([4]byte{10, 99, 1, 3}),
			unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: [4]byte{10, 99, 1, 3}})},
		{"ipv4 loopback", received4([4]byte{127, 0, 0, 1}),
			unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: [4]byte{127, 0, 0, 1}})},
		{"ipv4 multicast", received4([4]byte{224, 0, 0, 1}), nil},
		{"ipv4 broadcast", received4([4]byte{255, 255, 255, 255}), nil},
		{"v4-mapped on a dual-stack socket", received6(mapped(10, 99, 1, 3), 7),
			unix.PktInfo6(&unix.Inet6Pktinfo{Addr: mapped(10, 99, 1, 3)})},
		{"ipv6 global: no interface forced", received6(v6("fd00:99:1::5"), 7),
			unix.PktInfo6(&unix.Inet6Pktinfo{Addr: v6("fd00:99:1::5")})},
		{"ipv6 link-local keeps its link", received6(v6("fe80::1"), 7),
			unix.PktInfo6(&unix.Inet6Pktinfo{Addr: v6("fe80::1"), Ifindex: 7})},
		{"ipv6 multicast", received6(v6("ff02::1"), 7), nil},
		{"nothing", nil, nil},
		{"garbage", []byte{1, 2, 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replySource(tc.oob); string(got) != string(tc.want) {
				t.Errorf("replySource = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestQuotesEcho(t *testing.T) {
	payload := []byte("dcfw-testnet-ping 0123456789abcdef")
	echo := func(id uint16, data []byte) []byte {
		b := []byte{8, 0, 0, 0, 0, 0, 0, 1}
		binary.BigEndian.PutUint16(b[4:], id)
		return append(b, data...)
	}
	ip4 := func(ihl int, rest []byte) []byte {
		h := make([]byte, ihl*4)
		h[0] = 0x40 | byte(ihl)
		return append(h, rest...)
	}
	ip6 := func(rest []byte) []byte { return append(make([]byte, 40), rest...) }
	for _, tc := range []struct {
		name   string
		quoted []byte
		v6     bool
		want   bool
	}{
		{"ipv4 whole", ip4(5, echo(0x1234, payload)), false, true},
		{"ipv4 with options", ip4(6, echo(0x1234, payload)), false, true},
		{"ipv4 header and 8 bytes only (RFC 792 minimum)", ip4(5, echo(0x1234, nil)), false, true},
		{"ipv4 part of the payload", ip4(5, echo(0x1234, payload[:5])), false, true},
		{"ipv4 other id", ip4(5, echo(0x4321, payload)), false, false},
		{"ipv4 other payload", ip4(5, echo(0x1234, []byte("someone else's ping"))), false, false},
		{"ipv4 truncated", ip4(5, echo(0x1234, nil))[:25], false, false},
		{"ipv4 empty", nil, false, false},
		{"ipv6 whole", ip6(echo(0x1234, payload)), true, true},
		{"ipv6 other id", ip6(echo(0x1, payload)), true, false},
		{"ipv6 truncated", ip6(nil), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quotesEcho(tc.quoted, tc.v6, 0x1234, payload); got != tc.want {
				t.Errorf("quotesEcho = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzQuotesEcho(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 0}, false)
	f.Add(make([]byte, 48), true)
	f.Fuzz(func(t *testing.T, quoted []byte, v6 bool) {
		quotesEcho(quoted, v6, 1, []byte("payload")) // ICMP errors come off the wire: never panic
	})
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"srv":                                   "srv",
		"":                                      "ns",
		"a/b c":                                 "a_b_c",
		"TestThing/sub-test#01":                 "TestThing_sub-test_01",
		"a-very-long-label-that-goes-on-and-on": "a-very-long-label-that-g",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
