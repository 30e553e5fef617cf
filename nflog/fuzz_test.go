package nflog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/mdlayher/netlink"
)

// FuzzDecodeRecord feeds DecodeRecord whole netlink messages, seeded with
// records the kernel sent (testdata/fuzz/FuzzDecodeRecord holds more). It
// must never panic, and what it returns must hold together.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{capturedTCP4, capturedUDP6} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m netlink.Message
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		r, err := DecodeRecord(m)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotPacket) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrNotPacket: %v", err)
			}
			return
		}
		if len(r.Payload) > len(m.Data) {
			t.Fatalf("payload of %d bytes from a message of %d", len(r.Payload), len(m.Data))
		}
		if bytes.IndexByte([]byte(r.Prefix), 0) >= 0 {
			t.Fatalf("prefix %q holds a NUL", r.Prefix)
		}
		if len(r.Payload) > 0 {
			DecodePacket(r.Payload) // must not panic either
		}
	})
}

// FuzzDecodePacket feeds DecodePacket arbitrary bytes, seeded with the
// payloads of captured records.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{capturedTCP4, capturedUDP6} {
		b, _ := hex.DecodeString(s)
		var m netlink.Message
		if m.UnmarshalBinary(b) == nil {
			if r, err := DecodeRecord(m); err == nil {
				f.Add(r.Payload)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePacket(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		switch {
		case p.Version == 4 && (!p.Src.Is4() || !p.Dst.Is4()),
			p.Version == 6 && (!p.Src.Is6() || !p.Dst.Is6()),
			p.Version != 4 && p.Version != 6:
			t.Fatalf("version %d with addresses %v, %v", p.Version, p.Src, p.Dst)
		case p.Ports && p.ICMP:
			t.Fatalf("both ports and ICMP type: %+v", p)
		case !p.Ports && (p.SrcPort != 0 || p.DstPort != 0 || p.TCPFlags != 0):
			t.Fatalf("ports without Ports: %+v", p)
		case p.ICMP && p.Protocol != ProtoICMP && p.Protocol != ProtoICMPv6:
			t.Fatalf("ICMP type for protocol %d", p.Protocol)
		}
	})
}
