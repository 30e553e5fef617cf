package nflog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// Protocol numbers of uapi/linux/netfilter/nfnetlink_log.h.
const (
	subsysULOG = 4 // NFNL_SUBSYS_ULOG

	msgPacket = 0 // NFULNL_MSG_PACKET
	msgConfig = 1 // NFULNL_MSG_CONFIG

	attrPacketHdr = 1  // NFULA_PACKET_HDR
	attrMark      = 2  // NFULA_MARK
	attrTimestamp = 3  // NFULA_TIMESTAMP
	attrInDev     = 4  // NFULA_IFINDEX_INDEV
	attrOutDev    = 5  // NFULA_IFINDEX_OUTDEV
	attrPayload   = 9  // NFULA_PAYLOAD
	attrPrefix    = 10 // NFULA_PREFIX
)

// Hook is the netfilter hook a packet was logged in (NF_INET_*).
type Hook uint8

// The hooks of the inet family.
const (
	HookPrerouting  Hook = 0
	HookInput       Hook = 1
	HookForward     Hook = 2
	HookOutput      Hook = 3
	HookPostrouting Hook = 4
)

func (h Hook) String() string {
	switch h {
	case HookPrerouting:
		return "prerouting"
	case HookInput:
		return "input"
	case HookForward:
		return "forward"
	case HookOutput:
		return "output"
	case HookPostrouting:
		return "postrouting"
	}
	return fmt.Sprintf("hook%d", uint8(h))
}

// Record is one logged packet.
type Record struct {
	Group  uint16
	Family uint8 // NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10) for inet tables
	Hook   Hook
	// HWProtocol is the packet's ethertype (0x0800, 0x86dd), as the kernel
	// knows it (0 when it does not).
	HWProtocol uint16
	// Prefix is the log statement's prefix, without the terminating NUL.
	Prefix string
	// InDev and OutDev are interface indexes inside the namespace (0: none).
	InDev, OutDev uint32
	Mark          uint32
	// Time is when the packet was stamped, or zero when the kernel sent no
	// timestamp (usual for the output hook).
	Time time.Time
	// Payload is the first bytes of the packet from its network header on
	// (as many as the copy range allowed); it is a copy, safe to keep.
	Payload []byte
}

// DecodeRecord decodes one netlink message of an NFLOG socket. A message
// of another kind (a configuration echo, another subsystem) is an error
// wrapping ErrNotPacket; bytes that do not decode wrap ErrMalformed.
func DecodeRecord(m netlink.Message) (Record, error) {
	h, ad, err := netfilter.DecodeNetlink(m)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if h.SubsystemID != subsysULOG || h.MessageType != msgPacket {
		return Record{}, fmt.Errorf("%w: subsystem %d, type %d", ErrNotPacket, h.SubsystemID, h.MessageType)
	}
	r := Record{Group: h.ResourceID, Family: uint8(h.Family)}
	for ad.Next() {
		b := ad.Bytes()
		switch ad.Type() {
		case attrPacketHdr:
			// struct nfulnl_msg_packet_hdr { __be16 hw_protocol; __u8 hook; __u8 _pad; }
			if len(b) < 3 {
				return Record{}, fmt.Errorf("%w: packet header of %d bytes", ErrMalformed, len(b))
			}
			r.HWProtocol, r.Hook = binary.BigEndian.Uint16(b), Hook(b[2])
		case attrMark:
			r.Mark, err = be32(b, "mark")
		case attrInDev:
			r.InDev, err = be32(b, "input interface")
		case attrOutDev:
			r.OutDev, err = be32(b, "output interface")
		case attrTimestamp:
			// struct nfulnl_msg_packet_timestamp { __be64 sec; __be64 usec; }
			if len(b) < 16 {
				return Record{}, fmt.Errorf("%w: timestamp of %d bytes", ErrMalformed, len(b))
			}
			sec, usec := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
			if sec > 1<<40 || usec >= 1e6 {
				return Record{}, fmt.Errorf("%w: timestamp %d.%06d", ErrMalformed, sec, usec)
			}
			r.Time = time.Unix(int64(sec), int64(usec)*1e3)
		case attrPayload:
			r.Payload = bytes.Clone(b)
		case attrPrefix:
			// NUL-terminated; a prefix without its NUL is taken whole.
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			r.Prefix = string(b)
		}
		if err != nil {
			return Record{}, err
		}
	}
	if err := ad.Err(); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return r, nil
}

func be32(b []byte, what string) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: %s of %d bytes", ErrMalformed, what, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}
