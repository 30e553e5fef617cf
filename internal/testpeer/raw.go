package testpeer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// RawFrame is a hand-built Ethernet frame carrying one UDP datagram over
// IPv4 or IPv6, sent through an AF_PACKET socket: what a container with
// CAP_NET_RAW can put on the wire without the IP stack (and so without the
// inet output hook) seeing it. The firewall tests use it as the attacker.
type RawFrame struct {
	Iface    string           // interface to send through
	DstMAC   net.HardwareAddr // destination MAC
	SrcMAC   net.HardwareAddr // nil: the interface's own
	Src, Dst netip.AddrPort   // both IPv4 or both IPv6
	Payload  []byte
	// VLAN, when non-zero, adds an 802.1Q tag with this VLAN ID.
	VLAN uint16
	// EtherType, when non-zero, replaces the ethertype of the frame
	// (after the VLAN tag, if any); the IP packet stays as payload.
	EtherType uint16
	// Mark and Priority, when set, are set on the socket (SO_MARK,
	// SO_PRIORITY): the skb mark and priority of the frame.
	Mark, Priority *uint32
	// QdiscBypass sends with PACKET_QDISC_BYPASS (straight to the driver).
	QdiscBypass bool
}

// Ethertypes used by BuildFrame.
const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
)

// BuildFrame returns the bytes of the frame (without FCS), with correct
// IPv4 header and UDP checksums. SrcMAC must be set.
func BuildFrame(f RawFrame) ([]byte, error) {
	if len(f.DstMAC) != 6 || len(f.SrcMAC) != 6 {
		return nil, errors.New("raw frame: source and destination MAC must be 6 bytes")
	}
	src, dst := f.Src.Addr().Unmap(), f.Dst.Addr().Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("raw frame: addresses %v and %v are not of one family", f.Src, f.Dst)
	}
	udp := make([]byte, 8, 8+len(f.Payload))
	binary.BigEndian.PutUint16(udp[0:], f.Src.Port())
	binary.BigEndian.PutUint16(udp[2:], f.Dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(f.Payload)))
	udp = append(udp, f.Payload...)

	var ip []byte
	etherType := uint16(etherIPv6)
	if src.Is4() {
		etherType = etherIPv4
		ip = make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		ip[8] = 64 // TTL
		ip[9] = unix.IPPROTO_UDP
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		binary.BigEndian.PutUint16(ip[10:], Checksum(ip, 0))
		pseudo := append(append(append([]byte{}, s4[:]...), d4[:]...), 0, unix.IPPROTO_UDP, byte(len(udp)>>8), byte(len(udp)))
		binary.BigEndian.PutUint16(udp[6:], udpChecksum(pseudo, udp))
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
		ip[6] = unix.IPPROTO_UDP
		ip[7] = 64 // hop limit
		s16, d16 := src.As16(), dst.As16()
		copy(ip[8:], s16[:])
		copy(ip[24:], d16[:])
		pseudo := append(append(append([]byte{}, s16[:]...), d16[:]...),
			byte(len(udp)>>24), byte(len(udp)>>16), byte(len(udp)>>8), byte(len(udp)), 0, 0, 0, unix.IPPROTO_UDP)
		binary.BigEndian.PutUint16(udp[6:], udpChecksum(pseudo, udp))
	}
	if f.EtherType != 0 {
		etherType = f.EtherType
	}
	frame := append(append([]byte{}, f.DstMAC...), f.SrcMAC...)
	if f.VLAN != 0 {
		frame = binary.BigEndian.AppendUint16(frame, etherVLAN)
		frame = binary.BigEndian.AppendUint16(frame, f.VLAN&0x0fff)
	}
	frame = binary.BigEndian.AppendUint16(frame, etherType)
	return append(append(frame, ip...), udp...), nil
}

// Checksum is the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial.
func Checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func udpChecksum(pseudo, udp []byte) uint16 {
	c := Checksum(append(append([]byte{}, pseudo...), udp...), 0)
	if c == 0 {
		return 0xffff // 0 means "no checksum" in UDP over IPv4
	}
	return c
}

// SendRaw sends the frame once through an AF_PACKET SOCK_RAW socket made
// in the caller's network namespace (needs CAP_NET_RAW).
func SendRaw(f RawFrame) error {
	ifi, err := net.InterfaceByName(f.Iface)
	if err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	if f.SrcMAC == nil {
		f.SrcMAC = ifi.HardwareAddr
	}
	frame, err := BuildFrame(f)
	if err != nil {
		return err
	}
	// Protocol 0: the socket receives nothing, it only sends.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("raw: packet socket: %w", err)
	}
	defer unix.Close(fd)
	for _, o := range []struct {
		name  string
		level int
		opt   int
		v     *uint32
	}{{"SO_MARK", unix.SOL_SOCKET, unix.SO_MARK, f.Mark}, {"SO_PRIORITY", unix.SOL_SOCKET, unix.SO_PRIORITY, f.Priority}} {
		if o.v == nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, o.level, o.opt, int(int32(*o.v))); err != nil {
			return fmt.Errorf("raw: %s: %w", o.name, err)
		}
	}
	if f.QdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fmt.Errorf("raw: PACKET_QDISC_BYPASS: %w", err)
		}
	}
	var addr unix.SockaddrLinklayer
	addr.Ifindex = ifi.Index
	addr.Halen = 6
	copy(addr.Addr[:], f.DstMAC)
	if err := unix.Sendto(fd, frame, 0, &addr); err != nil {
		return fmt.Errorf("raw: send: %w", err)
	}
	return nil
}
