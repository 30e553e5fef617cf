package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// ListenTCP listens on addr inside h (e.g. "10.99.1.2:8080"; ":8080" or
// "[::]:8080" listen on both families, Go's dual-stack behaviour; port 0
// picks a free port) and serves until t's cleanup: every connection gets
// "ok\n" and then an echo of whatever it sends. It returns the listening
// address.
func (h *Host) ListenTCP(t testing.TB, addr string) string {
	t.Helper()
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("testnet: listen tcp %s in %s: %v", addr, h, err)
	}
	s := &tcpServer{t: t, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return ln.Addr().String()
}

type tcpServer struct {
	t      testing.TB
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *tcpServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			// Closed at cleanup. Anything else (EMFILE...) would repeat
			// forever: stop, and say why later probes time out.
			if !errors.Is(err, net.ErrClosed) {
				s.t.Errorf("testnet: server on %s stopped: %v", s.ln.Addr(), err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			if _, err := io.WriteString(c, "ok\n"); err != nil {
				return
			}
			io.Copy(c, c)
		}()
	}
}

func (s *tcpServer) close() {
	s.mu.Lock()
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ListenUDP listens on addr inside h (as for ListenTCP) and, until t's
// cleanup, sends every datagram back to its sender, from the address it was
// sent to: a client's connected socket ignores answers from any other
// address, which is what routing would pick on a host with several
// addresses.
func (h *Host) ListenUDP(t testing.TB, addr string) string {
	t.Helper()
	var pc net.PacketConn
	err := h.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("testnet: listen udp %s in %s: %v", addr, h, err)
	}
	echo, err := newUDPEcho(pc.(*net.UDPConn))
	if err != nil {
		pc.Close()
		t.Fatalf("testnet: listen udp %s in %s: %v", addr, h, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			err := echo(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Other errors (an ICMP error left by an earlier reply) concern
			// one datagram only.
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// newUDPEcho returns a function that answers one datagram on c, replying
// from the datagram's destination address: the kernel reports it
// (IP_PKTINFO, IPV6_PKTINFO; on a dual-stack socket IPv4 ones come
// v4-mapped) and the reply asks for it as source. (x/net/ipv6 cannot be
// used for this: it drops v4-mapped source addresses.)
func newUDPEcho(c *net.UDPConn) (func(buf []byte) error, error) {
	domain, err := socketDomain(c)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if domain == unix.AF_INET {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("ask for packet info: %w", err)
	}
	oob := make([]byte, 256)
	return func(buf []byte) error {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return err
		}
		_, _, err = c.WriteMsgUDPAddrPort(buf[:n], replySource(oob[:oobn]), from)
		return err
	}, nil
}

// replySource turns the packet info of a received datagram into the control
// message that sends the reply from its destination address; nil (let the
// kernel choose) for multicast or broadcast destinations, or without info.
func replySource(oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			dst := netip.AddrFrom4([4]byte(m.Data[8:12]))
			if !dst.IsGlobalUnicast() && !dst.IsLoopback() {
				return nil
			}
			return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: dst.As4()})
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr addr; int ifindex; }
			dst := netip.AddrFrom16([16]byte(m.Data[0:16]))
			if u := dst.Unmap(); u.IsMulticast() || u == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				return nil
			}
			pi := unix.Inet6Pktinfo{Addr: dst.As16()}
			if dst.IsLinkLocalUnicast() {
				// A link-local source needs its link.
				pi.Ifindex = binary.NativeEndian.Uint32(m.Data[16:20])
			}
			return unix.PktInfo6(&pi)
		}
	}
	return nil
}

func socketDomain(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var domain int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil {
		return 0, err
	}
	return domain, serr
}
