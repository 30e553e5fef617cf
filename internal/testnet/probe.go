package testnet

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Option changes where a probe (DialTCP, ExchangeUDP, Ping) sends from.
type Option func(*source)

type source struct {
	addr  netip.Addr // bind this local address
	port  uint16     // bind this local port (TCP, UDP)
	iface string     // SO_BINDTODEVICE: send out of, and receive on, this interface only
}

// From binds the probe's socket to local address ip (one of the sending
// host's addresses), e.g. to match a rule's `from` address. Like the rest
// of a test's setup it panics on a malformed address.
func From(ip string) Option {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		panic(fmt.Sprintf("testnet.From(%q): %v", ip, err))
	}
	return func(s *source) { s.addr = a.Unmap() }
}

// FromPort binds the probe's socket to a local port (TCP and UDP), e.g. to
// match a rule's `from ... port`. SO_REUSEADDR is set, and TCP probes close
// with a reset, so a port can be reused by the next probe at once.
func FromPort(port uint16) Option {
	return func(s *source) { s.port = port }
}

// Via binds the probe's socket to an interface of the sending host
// (SO_BINDTODEVICE): packets leave through it whatever the routes say, e.g.
// to match an `on IFACE` output rule.
func Via(iface string) Option {
	return func(s *source) { s.iface = iface }
}

func sourceOf(opts []Option) source {
	var s source
	for _, o := range opts {
		o(&s)
	}
	return s
}

func (s source) control(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if s.iface != "" {
			if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, s.iface); serr != nil {
				serr = fmt.Errorf("bind to device %s: %w", s.iface, serr)
				return
			}
		}
		if s.port != 0 {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// local is the address to bind, or nil for "let the kernel choose".
func (s source) local(udp bool) net.Addr {
	if !s.addr.IsValid() && s.port == 0 {
		return nil
	}
	var ip net.IP
	if s.addr.IsValid() {
		ip = s.addr.AsSlice()
	}
	if udp {
		return &net.UDPAddr{IP: ip, Port: int(s.port)}
	}
	return &net.TCPAddr{IP: ip, Port: int(s.port)}
}

// probePayload is what UDP probes send; the echo servers send it back.
var probePayload = []byte("dcfw-testnet-probe\n")

// DialTCP connects from h to addr ("10.99.1.2:80", "[fd00:99:1::2]:80")
// and reports the handshake's outcome: Connected, Refused (reset),
// TimedOut (no answer within timeout), Unreachable, NotPermitted or Failed.
// A connection that succeeds is closed with a reset at once.
func (h *Host) DialTCP(addr string, timeout time.Duration, opts ...Option) Outcome {
	src := sourceOf(opts)
	var out Outcome
	err := h.Do(func() error {
		d := net.Dialer{Timeout: timeout, Control: src.control, KeepAlive: -1}
		if l := src.local(false); l != nil {
			d.LocalAddr = l
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			out = classify(err)
			return maybeErr(out, err)
		}
		out = Connected
		// Linger 0: close with a reset, so no TIME_WAIT keeps the local
		// port (see FromPort) or conntrack entry around.
		c.(*net.TCPConn).SetLinger(0)
		return c.Close()
	})
	return h.report("DialTCP", addr, out, err)
}

// ExchangeUDP sends one datagram from h to addr over a connected UDP socket
// and waits up to timeout for any datagram back: Answered, Refused (ICMP
// port unreachable, reported by the kernel as ECONNREFUSED on the read),
// TimedOut, Unreachable, NotPermitted (e.g. dropped by h's own output
// hook) or Failed.
func (h *Host) ExchangeUDP(addr string, timeout time.Duration, opts ...Option) Outcome {
	src := sourceOf(opts)
	var out Outcome
	err := h.Do(func() error {
		d := net.Dialer{Timeout: timeout, Control: src.control}
		if l := src.local(true); l != nil {
			d.LocalAddr = l
		}
		c, err := d.Dial("udp", addr)
		if err != nil {
			out = classify(err)
			return maybeErr(out, err)
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			out = Failed
			return err
		}
		if _, err := c.Write(probePayload); err != nil {
			out = classify(err)
			return maybeErr(out, err)
		}
		buf := make([]byte, 2048)
		if _, err := c.Read(buf); err != nil {
			out = classify(err)
			return maybeErr(out, err)
		}
		out = Answered
		return nil
	})
	return h.report("ExchangeUDP", addr, out, err)
}

// maybeErr keeps the error only when it is not one of the classified
// outcomes, for report to log.
func maybeErr(o Outcome, err error) error {
	if o == Failed {
		return err
	}
	return nil
}

// report logs the error behind a Failed outcome (the outcome alone would
// hide it) and returns the outcome.
func (h *Host) report(what, addr string, out Outcome, err error) Outcome {
	if err != nil || out == 0 {
		h.t.Logf("testnet: %s %s from %s: %v", what, addr, h, err)
		return Failed
	}
	return out
}
