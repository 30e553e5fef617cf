package testnet

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
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
	s := &tcpServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return ln.Addr().String()
}

type tcpServer struct {
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
			// forever, so stop there too: probes then time out, loudly.
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
// cleanup, sends every datagram back to its sender.
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue // e.g. ECONNREFUSED left by an earlier reply
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}
