package testpeer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Stream keeps one TCP connection to addr open and writes a numbered line
// ("seq N") into it every interval until ctx ends, reporting to out. It is
// the long-lived connection of the firewall tests: one opened before the
// rules arrive, whose data a new deny must stop. A write error is reported
// and ends it; a write the peer never receives (dropped on the way) is not
// an error on the sender's side, so the receiver's log is what counts.
func Stream(ctx context.Context, addr string, interval time.Duration, out io.Writer) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintf(out, "stream error dial %s: %v\n", addr, err)
		return err
	}
	defer conn.Close()
	fmt.Fprintf(out, "stream connected from %s to %s\n", conn.LocalAddr(), conn.RemoteAddr())
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := 1; ; seq++ {
		if _, err := fmt.Fprintf(conn, "seq %d\n", seq); err != nil {
			fmt.Fprintf(out, "stream error write seq %d: %v\n", seq, err)
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ListenStream binds TCP ports whose connections are streams (see Stream):
// each line received is logged. Call it before Serve.
func (s *Server) ListenStream(ports []uint16) error {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			return fmt.Errorf("listen stream port %d: %w", p, err)
		}
		s.stream = append(s.stream, l)
	}
	return nil
}

// serveStream logs every line a stream connection carries, so a test
// counts from the receiver's side what got through.
func (s *Server) serveStream(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		s.log.printf("stream accept from %s to %s", conn.RemoteAddr(), conn.LocalAddr())
		// Not waited for at the end: an open stream would hold Serve.
		go func() {
			defer conn.Close()
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				s.log.printf("stream from %s: %s", conn.RemoteAddr(), sc.Text())
			}
			s.log.printf("stream closed from %s: %v", conn.RemoteAddr(), sc.Err())
		}()
	}
}
