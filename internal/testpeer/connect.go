package testpeer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Result is one connection attempt: its outcome, what the peer answered
// (empty unless Connected) and the error behind a failed attempt.
type Result struct {
	Outcome Outcome
	Reply   string
	Err     error
	Elapsed time.Duration
}

// String is the line the peer prints: the outcome word first, so that
// `docker logs` and exec output can be read by people and matched by tests.
func (r Result) String() string {
	s := fmt.Sprintf("%s elapsed=%s", r.Outcome, r.Elapsed.Round(time.Millisecond))
	if r.Reply != "" {
		s += fmt.Sprintf(" reply=%q", r.Reply)
	}
	if r.Err != nil {
		s += fmt.Sprintf(" err=%q", r.Err.Error())
	}
	return s
}

// Connect makes one attempt to reach addr (host:port) over proto ("tcp" or
// "udp", optionally "tcp4"/"tcp6"/"udp4"/"udp6") within timeout.
//
// TCP counts as Connected when the handshake completes; the greeting a
// serving peer sends is then read for at most the rest of the timeout and
// returned as Reply, for diagnostics only. UDP has no handshake: a probe
// datagram is sent (again every 250ms, since a single lost datagram is not
// a firewall decision) and Answered means the echo came back.
func Connect(ctx context.Context, proto, addr string, timeout time.Duration) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var r Result
	switch proto {
	case "tcp", "tcp4", "tcp6":
		r = connectTCP(ctx, proto, addr)
	case "udp", "udp4", "udp6":
		r = connectUDP(ctx, proto, addr)
	default:
		r = Result{Outcome: Failed, Err: fmt.Errorf("unknown protocol %q (want tcp or udp)", proto)}
	}
	r.Elapsed = time.Since(start)
	return r
}

func connectTCP(ctx context.Context, proto, addr string) Result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, proto, addr)
	if err != nil {
		return Result{Outcome: Classify(err), Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return Result{Outcome: Connected, Reply: strings.TrimSpace(line)}
}

// udpResend is how often an unanswered UDP probe is sent again.
const udpResend = 250 * time.Millisecond

func connectUDP(ctx context.Context, proto, addr string) Result {
	var d net.Dialer
	// A connected UDP socket: the kernel reports an ICMP port-unreachable
	// for it as ECONNREFUSED on the next read or write.
	conn, err := d.DialContext(ctx, proto, addr)
	if err != nil {
		return Result{Outcome: Classify(err), Err: err}
	}
	defer conn.Close()

	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	probe := []byte("dcfw-testpeer probe " + nonce)
	buf := make([]byte, 2048)
	for {
		if _, err := conn.Write(probe); err != nil {
			return Result{Outcome: Classify(err), Err: err}
		}
		deadline, _ := ctx.Deadline() // Connect always sets one
		wait := time.Now().Add(udpResend)
		if deadline.Before(wait) {
			wait = deadline
		}
		_ = conn.SetReadDeadline(wait)
		n, err := conn.Read(buf)
		var ne net.Error
		switch {
		case err == nil && strings.Contains(string(buf[:n]), nonce):
			return Result{Outcome: Answered, Reply: strings.TrimSpace(string(buf[:n]))}
		case err == nil:
			continue // a stale or foreign datagram: keep waiting
		case errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(deadline):
			return Result{Outcome: TimedOut, Err: err}
		case errors.As(err, &ne) && ne.Timeout():
			continue // this round's wait is over: send the probe again
		default:
			return Result{Outcome: Classify(err), Err: err}
		}
	}
}
