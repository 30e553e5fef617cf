package testnet

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends one ICMP (IPv4) or ICMPv6 (IPv6) echo request from h to ip and
// waits up to timeout for its reply: Answered; Refused when an ICMP port
// unreachable for it comes back (what an nftables `reject` answers to
// anything but TCP); Unreachable for other destination-unreachable codes;
// TimedOut; NotPermitted when h's own output hook drops it; Failed.
//
// It uses a raw socket (the tests run as root), which sees every ICMP packet
// of h; replies are matched by identifier, sequence and payload. From and
// Via apply; FromPort does not.
func (h *Host) Ping(ip string, timeout time.Duration, opts ...Option) Outcome {
	dst, err := netip.ParseAddr(ip)
	if err != nil {
		h.t.Logf("testnet: Ping %q: %v", ip, err)
		return Failed
	}
	dst = dst.Unmap()
	src := sourceOf(opts)
	var out Outcome
	err = h.Do(func() error {
		out, err = ping(dst, timeout, src)
		return maybeErr(out, err)
	})
	return h.report("Ping", ip, out, err)
}

func ping(dst netip.Addr, timeout time.Duration, src source) (Outcome, error) {
	network, reqType, replyType, proto := "ip4:icmp", icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply), 1
	if dst.Is6() {
		network, reqType, replyType, proto = "ip6:ipv6-icmp", ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	laddr := ""
	if src.addr.IsValid() {
		laddr = src.addr.String()
	}
	lc := net.ListenConfig{Control: src.control}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return classify(err), err
	}
	defer pc.Close()

	id := int(binary.BigEndian.Uint16(randomBytes(2)))
	payload := []byte("dcfw-testnet-ping " + randomHex(8))
	req := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: 1, Data: payload}}
	// For ICMPv6 the kernel fills in the checksum of raw sockets.
	b, err := req.Marshal(nil)
	if err != nil {
		return Failed, err
	}
	deadline := time.Now().Add(timeout)
	if err := pc.SetDeadline(deadline); err != nil {
		return Failed, err
	}
	if _, err := pc.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return classify(err), err
	}

	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return classify(err), err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if m.Type == replyType && body.ID == id && body.Seq == 1 && string(body.Data) == string(payload) &&
				fromAddr(from) == dst {
				return Answered, nil
			}
		case *icmp.DstUnreach:
			if !quotesEcho(body.Data, dst.Is6(), id, payload) {
				continue
			}
			if isPortUnreachable(dst.Is6(), m.Code) {
				return Refused, nil
			}
			return Unreachable, fmt.Errorf("destination unreachable, code %d", m.Code)
		}
	}
}

func fromAddr(a net.Addr) netip.Addr {
	ipa, ok := a.(*net.IPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, _ := netip.AddrFromSlice(ipa.IP)
	return ip.Unmap()
}

func isPortUnreachable(v6 bool, code int) bool {
	if v6 {
		return code == 4 // ICMPv6 port unreachable (RFC 4443)
	}
	return code == 3 // ICMP port unreachable (RFC 792)
}

// quotesEcho reports whether the datagram quoted in an ICMP error is our
// echo request: its ICMP header carries our identifier and the start of
// our payload.
func quotesEcho(quoted []byte, v6 bool, id int, payload []byte) bool {
	var hdrLen int
	if v6 {
		hdrLen = ipv6.HeaderLen
	} else {
		if len(quoted) < ipv4.HeaderLen {
			return false
		}
		hdrLen = int(quoted[0]&0x0f) * 4
	}
	if len(quoted) < hdrLen+8 {
		return false
	}
	echo := quoted[hdrLen:]
	if int(binary.BigEndian.Uint16(echo[4:6])) != id {
		return false
	}
	rest := echo[8:]
	if len(rest) > len(payload) {
		rest = rest[:len(payload)]
	}
	return string(rest) == string(payload[:len(rest)])
}
