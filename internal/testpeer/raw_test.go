package testpeer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// TestBuildFrame checks the frame layout and that the checksums verify the
// way a receiver checks them (the sum over header, or pseudo-header and
// datagram, including the checksum, is 0xffff), without root.
func TestBuildFrame(t *testing.T) {
	dst, _ := net.ParseMAC("02:00:00:00:00:02")
	src, _ := net.ParseMAC("02:00:00:00:00:01")
	for _, tt := range []struct {
		name      string
		src, dst  string
		vlan      uint16
		etherType uint16
		wantType  uint16
		ipOff     int
	}{
		{"ipv4", "10.99.1.1:4000", "10.99.1.2:9", 0, 0, 0x0800, 14},
		{"ipv6", "[fd00:99:1::1]:4000", "[fd00:99:1::2]:9", 0, 0, 0x86dd, 14},
		{"vlan", "10.99.1.1:4000", "10.99.1.2:9", 7, 0, 0x0800, 18},
		{"other ethertype", "10.99.1.1:4000", "10.99.1.2:9", 0, 0x88b5, 0x88b5, 14},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := RawFrame{DstMAC: dst, SrcMAC: src, Src: netip.MustParseAddrPort(tt.src), Dst: netip.MustParseAddrPort(tt.dst),
				Payload: []byte("odd"), VLAN: tt.vlan, EtherType: tt.etherType}
			b, err := BuildFrame(f)
			if err != nil {
				t.Fatal(err)
			}
			if tt.vlan != 0 && (binary.BigEndian.Uint16(b[12:]) != 0x8100 || binary.BigEndian.Uint16(b[14:])&0xfff != tt.vlan) {
				t.Errorf("no VLAN tag: % x", b[:18])
			}
			if got := binary.BigEndian.Uint16(b[tt.ipOff-2:]); got != tt.wantType {
				t.Errorf("ethertype %#04x, want %#04x", got, tt.wantType)
			}
			ip := b[tt.ipOff:]
			var pseudo, udp []byte
			if f.Src.Addr().Is4() {
				if Checksum(ip[:20], 0) != 0 {
					t.Errorf("IPv4 header checksum does not verify")
				}
				udp = ip[20:]
				pseudo = append(append(append([]byte{}, ip[12:20]...), 0, 17), byte(len(udp)>>8), byte(len(udp)))
			} else {
				udp = ip[40:]
				pseudo = append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(udp)>>8), byte(len(udp)), 0, 0, 0, 17)
			}
			if len(udp) != 8+3 || binary.BigEndian.Uint16(udp[4:]) != 11 {
				t.Fatalf("UDP datagram % x", udp)
			}
			if Checksum(append(pseudo, udp...), 0) != 0 {
				t.Errorf("UDP checksum does not verify")
			}
		})
	}
	if _, err := BuildFrame(RawFrame{DstMAC: dst, SrcMAC: src, Src: netip.MustParseAddrPort("10.0.0.1:1"), Dst: netip.MustParseAddrPort("[::1]:1")}); err == nil {
		t.Errorf("mixed families accepted")
	}
}
