package nflog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
)

// Raw messages received in TestKernelRawRecordsDecode (go test -capture):
// a TCP SYN over IPv4 and a UDP datagram over IPv6, both dropped in the
// input hook of interface 2 (group 7).
const (
	capturedTCP4 = "b80000000004000000000000000000000200000708000100080001000c000a00646366772069310008000400000000021000080000060000fa6e268e4f37000006000f000001000006001100000e0000120010006661fe06c09afa6e268e4f370800000014000300000000006b0dc00d000000000008a981400009004500003cc53c40004006d2b60a6347020a634701ea7a00511a0e8c6b00000000a002faf0a2f70000020405b40402080a8eefdce0000000000103030a"
	capturedUDP6 = "c00000000004000000000000000000000a0000070800010086dd01000b000a00646366772070000008000400000000021000080000060000fa6e268e4f37000006000f000001000006001100000e0000120010006661fe06c09afa6e268e4f3786dd000014000300000000006b0dc00d00000000000d417e47000900600a2039001b1140fd000099007100000000000000000002fd000099007100000000000000000001d2ac0052001bfc44646366772d746573746e65742d70726f62650a00"
)

func mustMessage(t testing.TB, hexMsg string) netlink.Message {
	t.Helper()
	b, err := hex.DecodeString(hexMsg)
	if err != nil {
		t.Fatal(err)
	}
	var m netlink.Message
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return m
}

// attr encodes one netlink attribute (type, payload, padding).
func attr(typ uint16, data []byte) []byte {
	b := make([]byte, 4, 4+len(data)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ulogMessage builds an NFLOG message of the given type for group 5.
func ulogMessage(msgType uint8, attrs ...[]byte) netlink.Message {
	data := []byte{2, 0, 0, 5} // nfgenmsg: NFPROTO_IPV4, version 0, res_id 5
	for _, a := range attrs {
		data = append(data, a...)
	}
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysULOG<<8 | uint16(msgType))}, Data: data}
}

func TestDecodeRecord(t *testing.T) {
	tcp4, udp6 := mustMessage(t, capturedTCP4), mustMessage(t, capturedUDP6)
	tests := []struct {
		name    string
		msg     netlink.Message
		want    Record // Payload compared by length
		payload int
		wantErr error
	}{{
		name:    "captured tcp4",
		msg:     tcp4,
		want:    Record{Group: 7, Family: 2, Hook: HookInput, HWProtocol: 0x0800, Prefix: "dcfw i1", InDev: 2, Time: time.Unix(0x6b0dc00d, 0x8a981*1e3)},
		payload: 60,
	}, {
		name:    "captured udp6",
		msg:     udp6,
		want:    Record{Group: 7, Family: 10, Hook: HookInput, HWProtocol: 0x86dd, Prefix: "dcfw p", InDev: 2, Time: time.Unix(0x6b0dc00d, 0xd417e*1e3)},
		payload: 67,
	}, {
		name: "output hook with mark, no timestamp",
		msg: ulogMessage(msgPacket,
			attr(attrPacketHdr, []byte{0x08, 0x00, 3, 0}),
			attr(attrMark, []byte{0, 0, 0, 42}),
			attr(attrOutDev, []byte{0, 0, 0, 9}),
			attr(attrPrefix, []byte("dcfw o3\x00"))),
		want: Record{Group: 5, Family: 2, Hook: HookOutput, HWProtocol: 0x0800, Prefix: "dcfw o3", OutDev: 9, Mark: 42},
	}, {
		name: "prefix without its NUL",
		msg:  ulogMessage(msgPacket, attr(attrPrefix, []byte("abc"))),
		want: Record{Group: 5, Family: 2, Prefix: "abc"},
	}, {
		name:    "configuration message",
		msg:     ulogMessage(msgConfig),
		wantErr: ErrNotPacket,
	}, {
		name:    "another subsystem",
		msg:     netlink.Message{Header: netlink.Header{Type: 3 << 8}, Data: []byte{2, 0, 0, 0}},
		wantErr: ErrNotPacket,
	}, {
		name:    "no nfgenmsg",
		msg:     netlink.Message{Header: netlink.Header{Type: subsysULOG << 8}, Data: []byte{2, 0}},
		wantErr: ErrMalformed,
	}, {
		name:    "short packet header",
		msg:     ulogMessage(msgPacket, attr(attrPacketHdr, []byte{8, 0})),
		wantErr: ErrMalformed,
	}, {
		name:    "short interface index",
		msg:     ulogMessage(msgPacket, attr(attrInDev, []byte{0, 2})),
		wantErr: ErrMalformed,
	}, {
		name:    "timestamp with usec over a second",
		msg:     ulogMessage(msgPacket, attr(attrTimestamp, append(make([]byte, 8), 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40))),
		wantErr: ErrMalformed,
	}, {
		name:    "attribute longer than the message",
		msg:     netlink.Message{Header: netlink.Header{Type: subsysULOG << 8}, Data: []byte{2, 0, 0, 5, 40, 0, 9, 0, 1}},
		wantErr: ErrMalformed,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRecord(tt.msg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Payload) != tt.payload {
				t.Errorf("payload %d bytes, want %d", len(got.Payload), tt.payload)
			}
			got.Payload = nil
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if got.Group != tt.want.Group || got.Family != tt.want.Family || got.Hook != tt.want.Hook ||
				got.HWProtocol != tt.want.HWProtocol || got.Prefix != tt.want.Prefix ||
				got.InDev != tt.want.InDev || got.OutDev != tt.want.OutDev || got.Mark != tt.want.Mark {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRecordPayloadIsACopy(t *testing.T) {
	m := mustMessage(t, capturedTCP4)
	r, err := DecodeRecord(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Data {
		m.Data[i] = 0xff
	}
	if p, err := DecodePacket(r.Payload); err != nil || p.Src != netip.MustParseAddr("10.99.71.2") {
		t.Errorf("payload changed with the message buffer: %+v, %v", p, err)
	}
}

func TestConfigMessage(t *testing.T) {
	m, err := configMessage(Config{Group: 0x0102, CopyRange: 200, Threshold: 4, Flush: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Type != netlink.HeaderType(subsysULOG<<8|msgConfig) || m.Header.Flags != netlink.Request|netlink.Acknowledge {
		t.Errorf("header %+v", m.Header)
	}
	want := "00000102" + // nfgenmsg: AF_UNSPEC, v0, group 0x0102 big-endian
		hex.EncodeToString(attr(attrCfgCmd, []byte{cmdBind})) +
		hex.EncodeToString(attr(attrCfgMode, []byte{0, 0, 0, 200, copyPacket, 0})) +
		hex.EncodeToString(attr(attrCfgQThresh, []byte{0, 0, 0, 4})) +
		hex.EncodeToString(attr(attrCfgTimeout, []byte{0, 0, 0, 25}))
	if got := hex.EncodeToString(m.Data); got != want {
		t.Errorf("data\n got %s\nwant %s", got, want)
	}
	d, _ := configMessage(Config{})
	if want := "00000000" +
		hex.EncodeToString(attr(attrCfgCmd, []byte{cmdBind})) +
		hex.EncodeToString(attr(attrCfgMode, []byte{0, 0, 0, DefaultCopyRange, copyPacket, 0})) +
		hex.EncodeToString(attr(attrCfgQThresh, []byte{0, 0, 0, 1})); hex.EncodeToString(d.Data) != want {
		t.Errorf("zero Config:\n got %x\nwant %s (DefaultCopyRange, threshold 1)", d.Data, want)
	}
}
