package nflog

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Headers for hand-made packets.
const (
	// IPv4, IHL 5, protocol (byte 9) and fragment offset (bytes 6-7) patched per case.
	ip4Hdr = "45000028000040004006" + "0000" + "0a000001" + "0a000002"
	// IPv6, next header (byte 6) patched per case.
	ip6Hdr = "6000000000140640" + "fd000000000000000000000000000001" + "fd000000000000000000000000000002"
)

func patch(b []byte, at int, v ...byte) []byte {
	copy(b[at:], v)
	return b
}

func TestDecodePacket(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	tcp4, _ := DecodeRecord(mustMessage(t, capturedTCP4))
	udp6, _ := DecodeRecord(mustMessage(t, capturedUDP6))
	tests := []struct {
		name    string
		b       []byte
		want    Packet
		wantErr bool
	}{{
		name: "captured tcp syn over ipv4",
		b:    tcp4.Payload,
		want: Packet{Version: 4, Protocol: ProtoTCP, Src: netip.MustParseAddr("10.99.71.2"), Dst: netip.MustParseAddr("10.99.71.1"), Ports: true, SrcPort: 0xea7a, DstPort: 81, TCPFlags: TCPSyn},
	}, {
		name: "captured udp over ipv6",
		b:    udp6.Payload,
		want: Packet{Version: 6, Protocol: ProtoUDP, Src: netip.MustParseAddr("fd00:99:71::2"), Dst: netip.MustParseAddr("fd00:99:71::1"), Ports: true, SrcPort: 0xd2ac, DstPort: 82},
	}, {
		name: "udp over ipv4",
		b:    append(patch(mustHex(t, ip4Hdr), 9, ProtoUDP), mustHex(t, "303900350008ffff")...),
		want: Packet{Version: 4, Protocol: ProtoUDP, Src: a4, Dst: b4, Ports: true, SrcPort: 12345, DstPort: 53},
	}, {
		name: "icmp echo",
		b:    append(patch(mustHex(t, ip4Hdr), 9, ProtoICMP), 8, 0, 0, 0),
		want: Packet{Version: 4, Protocol: ProtoICMP, Src: a4, Dst: b4, ICMP: true, ICMPType: 8},
	}, {
		name: "ipv4 header with options",
		b:    append(patch(mustHex(t, ip4Hdr+"01010101"), 0, 0x46), mustHex(t, "00500051")...),
		want: Packet{Version: 4, Protocol: ProtoTCP, Src: a4, Dst: b4, Ports: true, SrcPort: 80, DstPort: 81},
	}, {
		name: "ipv4 later fragment has no ports",
		b:    append(patch(mustHex(t, ip4Hdr), 6, 0x00, 0x10), mustHex(t, "00500051")...),
		want: Packet{Version: 4, Protocol: ProtoTCP, Src: a4, Dst: b4},
	}, {
		name: "copy range ends inside the ports",
		b:    append(patch(mustHex(t, ip4Hdr), 9, ProtoUDP), 0x30),
		want: Packet{Version: 4, Protocol: ProtoUDP, Src: a4, Dst: b4},
	}, {
		name: "icmpv6 echo",
		b:    append(patch(mustHex(t, ip6Hdr), 6, ProtoICMPv6), 128, 0, 0, 0),
		want: Packet{Version: 6, Protocol: ProtoICMPv6, Src: a6, Dst: b6, ICMP: true, ICMPType: 128},
	}, {
		name: "icmp inside ipv6 is not read as icmpv6",
		b:    append(patch(mustHex(t, ip6Hdr), 6, ProtoICMP), 8, 0, 0, 0),
		want: Packet{Version: 6, Protocol: ProtoICMP, Src: a6, Dst: b6},
	}, {
		name: "ipv6 hop-by-hop then destination options then tcp",
		b: append(patch(mustHex(t, ip6Hdr), 6, ip6HopByHop),
			mustHex(t, "3c00010400000000"+"0600010400000000"+"01bb0016")...),
		want: Packet{Version: 6, Protocol: ProtoTCP, Src: a6, Dst: b6, Ports: true, SrcPort: 443, DstPort: 22},
	}, {
		name: "ipv6 first fragment has ports",
		b:    append(patch(mustHex(t, ip6Hdr), 6, ip6Fragment), mustHex(t, "1100000100000001"+"00350035")...),
		want: Packet{Version: 6, Protocol: ProtoUDP, Src: a6, Dst: b6, Ports: true, SrcPort: 53, DstPort: 53},
	}, {
		name: "ipv6 later fragment has none",
		b:    append(patch(mustHex(t, ip6Hdr), 6, ip6Fragment), mustHex(t, "1100000900000001"+"00350035")...),
		want: Packet{Version: 6, Protocol: ProtoUDP, Src: a6, Dst: b6},
	}, {
		name: "ipv6 extension header cut short",
		b:    append(patch(mustHex(t, ip6Hdr), 6, ip6Routing), 6, 3, 0, 0),
		want: Packet{Version: 6, Protocol: ip6Routing, Src: a6, Dst: b6},
	}, {
		name: "ipv6 authentication header",
		b:    append(patch(mustHex(t, ip6Hdr), 6, ip6AH), mustHex(t, "1102000000000000"+"0000000000000000"+"0001"+"0002")...),
		want: Packet{Version: 6, Protocol: ProtoUDP, Src: a6, Dst: b6, Ports: true, SrcPort: 1, DstPort: 2},
	}, {
		name:    "empty",
		b:       nil,
		wantErr: true,
	}, {
		name:    "ipv4 header cut short",
		b:       mustHex(t, ip4Hdr)[:19],
		wantErr: true,
	}, {
		name:    "ipv4 header length beyond the bytes",
		b:       patch(mustHex(t, ip4Hdr), 0, 0x4f),
		wantErr: true,
	}, {
		name:    "ipv4 header length under 20",
		b:       patch(mustHex(t, ip4Hdr), 0, 0x44),
		wantErr: true,
	}, {
		name:    "ipv6 header cut short",
		b:       mustHex(t, ip6Hdr)[:39],
		wantErr: true,
	}, {
		name:    "not ip",
		b:       mustHex(t, "0800"),
		wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePacket(tt.b)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
