package testpeer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
)

// Server answers on TCP and UDP ports of all addresses (IPv4 and IPv6).
// TCP clients get one greeting line, "ok <hostname> <local address>", and
// the connection is closed; UDP datagrams are echoed back prefixed with
// "ok <hostname> ". Every connection and datagram is logged, so a test can
// also tell from the server's side whether a packet got through.
type Server struct {
	hostname string
	log      *lineLogger
	tcp      []net.Listener
	udp      []net.PacketConn
	stream   []net.Listener
	wg       sync.WaitGroup
}

// Listen binds every port before anything is served, so that "ready" in
// the log means all of them accept.
func Listen(tcpPorts, udpPorts []uint16, logw io.Writer) (*Server, error) {
	host, _ := os.Hostname()
	s := &Server{hostname: host, log: &lineLogger{w: logw}}
	for _, p := range tcpPorts {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listen tcp port %d: %w", p, err)
		}
		s.tcp = append(s.tcp, l)
	}
	for _, p := range udpPorts {
		c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", p))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listen udp port %d: %w", p, err)
		}
		s.udp = append(s.udp, c)
	}
	return s, nil
}

// TCPAddrs returns the bound TCP addresses (useful with port 0 in tests).
func (s *Server) TCPAddrs() []net.Addr {
	var out []net.Addr
	for _, l := range s.tcp {
		out = append(out, l.Addr())
	}
	return out
}

// UDPAddrs returns the bound UDP addresses.
func (s *Server) UDPAddrs() []net.Addr {
	var out []net.Addr
	for _, c := range s.udp {
		out = append(out, c.LocalAddr())
	}
	return out
}

// Serve answers until ctx is done, then closes every socket.
func (s *Server) Serve(ctx context.Context) {
	for _, l := range s.tcp {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serveTCP(l) }()
	}
	for _, c := range s.udp {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serveUDP(c) }()
	}
	for _, l := range s.stream {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serveStream(l) }()
	}
	s.log.printf("ready tcp=%s udp=%s", addrList(s.TCPAddrs()), addrList(s.UDPAddrs()))
	<-ctx.Done()
	s.Close()
	s.wg.Wait()
}

// Close closes every socket; Serve then returns.
func (s *Server) Close() {
	for _, l := range s.tcp {
		l.Close()
	}
	for _, c := range s.udp {
		c.Close()
	}
	for _, l := range s.stream {
		l.Close()
	}
}

func (s *Server) serveTCP(l net.Listener) {
	for {
		conn, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.printf("tcp accept error on %s: %v", l.Addr(), err)
			continue
		}
		s.log.printf("tcp accept from %s to %s", conn.RemoteAddr(), conn.LocalAddr())
		_, _ = fmt.Fprintf(conn, "ok %s %s\n", s.hostname, conn.LocalAddr())
		conn.Close()
	}
}

func (s *Server) serveUDP(c net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.printf("udp read error on %s: %v", c.LocalAddr(), err)
			continue
		}
		s.log.printf("udp from %s to %s: %q", from, c.LocalAddr(), buf[:n])
		reply := append([]byte("ok "+s.hostname+" "), buf[:n]...)
		if _, err := c.WriteTo(reply, from); err != nil {
			s.log.printf("udp reply to %s: %v", from, err)
		}
	}
}

func addrList(as []net.Addr) string {
	if len(as) == 0 {
		return "-"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// lineLogger writes whole lines under a lock, so the lines of concurrent
// connections never interleave in `docker logs`.
type lineLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineLogger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}
