package nflog

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP protocol numbers DecodePacket looks into.
const (
	ProtoICMP    uint8 = 1
	ProtoTCP     uint8 = 6
	ProtoUDP     uint8 = 17
	ProtoICMPv6  uint8 = 58
	ProtoSCTP    uint8 = 132
	ProtoUDPLite uint8 = 136
	ProtoDCCP    uint8 = 33
)

// Packet is what DecodePacket reads from the headers of a logged packet.
type Packet struct {
	Version  uint8 // 4 or 6
	Protocol uint8 // the transport protocol (after IPv6 extension headers)
	Src, Dst netip.Addr
	// Ports is set when the transport header's ports were read (TCP, UDP,
	// UDP-Lite, SCTP, DCCP; a first fragment or an unfragmented packet).
	Ports            bool
	SrcPort, DstPort uint16
	// ICMP is set when the ICMP or ICMPv6 type and code were read.
	ICMP               bool
	ICMPType, ICMPCode uint8
	// TCPFlags are the flags byte of a TCP header (Ports set, TCP).
	TCPFlags uint8
}

// TCP flag bits of Packet.TCPFlags.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPAck uint8 = 0x10
)

// IPv6 extension headers DecodePacket walks over to reach the transport
// header.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DestOpts = 60
)

// maxExtHeaders bounds the walk over IPv6 extension headers (a chain of
// them fits in a few hundred bytes; the copy range is smaller anyway).
const maxExtHeaders = 8

// DecodePacket reads the network and transport headers at the start of a
// logged packet. A payload cut short inside the transport header (a small
// copy range) still gives the addresses, with Ports and ICMP unset; one
// too short for its IP header, or not IPv4 or IPv6, is an error wrapping
// ErrMalformed.
func DecodePacket(b []byte) (Packet, error) {
	if len(b) < 1 {
		return Packet{}, fmt.Errorf("%w: empty packet", ErrMalformed)
	}
	var (
		p       Packet
		l4      []byte
		trailer bool // not the first fragment: no transport header here
	)
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return Packet{}, fmt.Errorf("%w: IPv4 header cut at %d bytes", ErrMalformed, len(b))
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || ihl > len(b) {
			return Packet{}, fmt.Errorf("%w: IPv4 header length %d of %d bytes", ErrMalformed, ihl, len(b))
		}
		p.Version, p.Protocol = 4, b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		trailer = binary.BigEndian.Uint16(b[6:8])&0x1fff != 0
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return Packet{}, fmt.Errorf("%w: IPv6 header cut at %d bytes", ErrMalformed, len(b))
		}
		p.Version = 6
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.Protocol, l4, trailer = walkIPv6(b[6], b[40:])
	default:
		return Packet{}, fmt.Errorf("%w: IP version %d", ErrMalformed, b[0]>>4)
	}
	if trailer {
		return p, nil
	}
	switch p.Protocol {
	case ProtoTCP, ProtoUDP, ProtoUDPLite, ProtoSCTP, ProtoDCCP:
		if len(l4) >= 4 {
			p.Ports = true
			p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
		if p.Protocol == ProtoTCP && len(l4) >= 14 {
			p.TCPFlags = l4[13]
		}
	case ProtoICMP, ProtoICMPv6:
		if (p.Protocol == ProtoICMP) == (p.Version == 4) && len(l4) >= 2 {
			p.ICMP, p.ICMPType, p.ICMPCode = true, l4[0], l4[1]
		}
	}
	return p, nil
}

// walkIPv6 follows the extension headers from next (the IPv6 header's
// next-header field) over rest, and returns the transport protocol, its
// header (possibly cut short), and whether the packet is a fragment other
// than the first. A chain cut short ends the walk at the header it reached.
func walkIPv6(next uint8, rest []byte) (proto uint8, l4 []byte, trailer bool) {
	for range maxExtHeaders {
		var n int
		switch next {
		case ip6HopByHop, ip6Routing, ip6DestOpts:
			if len(rest) < 2 {
				return next, nil, false
			}
			n = (int(rest[1]) + 1) * 8
		case ip6Fragment:
			if len(rest) < 8 {
				return next, nil, false
			}
			n = 8
			trailer = binary.BigEndian.Uint16(rest[2:4])&0xfff8 != 0
		case ip6AH:
			if len(rest) < 2 {
				return next, nil, false
			}
			n = (int(rest[1]) + 2) * 4
		default:
			return next, rest, trailer
		}
		if n > len(rest) {
			return next, nil, trailer
		}
		next, rest = rest[0], rest[n:]
	}
	return next, nil, trailer
}
