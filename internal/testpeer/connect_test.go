package testpeer

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer serves on free loopback ports and returns the TCP and UDP
// ports and the server's log.
func startServer(t *testing.T) (tcpAddr, udpAddr string, log *syncBuffer) {
	t.Helper()
	log = &syncBuffer{}
	srv, err := Listen([]uint16{0}, []uint16{0}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	port := func(a net.Addr) string {
		_, p, _ := net.SplitHostPort(a.String())
		return p
	}
	return net.JoinHostPort("127.0.0.1", port(srv.TCPAddrs()[0])),
		net.JoinHostPort("127.0.0.1", port(srv.UDPAddrs()[0])), log
}

// closedPort returns a loopback address on which nothing listens: a port
// that was just bound and released, so the kernel answers with a reset
// (TCP) or a port unreachable (UDP).
func closedPort(t *testing.T, network string) string {
	t.Helper()
	var addr string
	if network == "tcp" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	} else {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr().String()
		c.Close()
	}
	return addr
}

func TestConnectLoopback(t *testing.T) {
	tcpAddr, udpAddr, log := startServer(t)
	tests := []struct {
		name, proto, addr string
		want              Outcome
		wantReply         string
	}{
		{"tcp open", "tcp", tcpAddr, Connected, "ok "},
		{"udp open", "udp", udpAddr, Answered, "ok "},
		{"tcp closed", "tcp", closedPort(t, "tcp"), Refused, ""},
		{"udp closed", "udp", closedPort(t, "udp"), Refused, ""},
		{"unknown proto", "sctp", tcpAddr, Failed, ""},
		{"bad address", "tcp", "not-an-address", Failed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Connect(context.Background(), tt.proto, tt.addr, 2*time.Second)
			if r.Outcome != tt.want {
				t.Fatalf("Connect(%s %s) = %v, want %v", tt.proto, tt.addr, r, tt.want)
			}
			if !strings.HasPrefix(r.Reply, tt.wantReply) {
				t.Errorf("reply %q, want prefix %q", r.Reply, tt.wantReply)
			}
			if !strings.HasPrefix(r.String(), tt.want.String()) {
				t.Errorf("report %q does not start with the outcome word", r)
			}
		})
	}
	// The server logs what reached it, so a test can check its side too.
	for _, want := range []string{"ready tcp=", "tcp accept from 127.0.0.1:", "udp from 127.0.0.1:"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
}

func TestListenReportsBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	if srv, err := Listen([]uint16{port}, nil, &syncBuffer{}); err == nil {
		srv.Close()
		t.Fatalf("Listen on busy port %d succeeded", port)
	}
}
