package testpeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends ICMP (or ICMPv6) echo requests to host, one every 250ms, until
// an echo reply arrives (Answered) or timeout passes (TimedOut).
//
// It uses an unprivileged ping socket (SOCK_DGRAM, IPPROTO_ICMP), which the
// kernel allows for groups in net.ipv4.ping_group_range; Docker (20.10 and
// later) sets that range to all groups in containers, so this works for any
// user and without CAP_NET_RAW.
func Ping(ctx context.Context, host string, timeout time.Duration) Result {
	start := time.Now()
	r := ping(ctx, host, timeout)
	r.Elapsed = time.Since(start)
	return r
}

func ping(ctx context.Context, host string, timeout time.Duration) Result {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return Result{Outcome: Failed, Err: fmt.Errorf("ping wants an IP address: %w", err)}
	}
	network, proto := "udp4", 1 // ICMP
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if ip.Is6() && !ip.Is4In6() {
		network, proto = "udp6", 58 // ICMPv6
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	conn, err := icmp.ListenPacket(network, "")
	if err != nil {
		return Result{Outcome: Classify(err), Err: fmt.Errorf("open ping socket: %w", err)}
	}
	defer conn.Close()

	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	dst := &net.UDPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	buf := make([]byte, 1500)
	for seq := 1; ; seq++ {
		msg := icmp.Message{Type: reqType, Body: &icmp.Echo{
			ID: os.Getpid() & 0xffff, Seq: seq, Data: []byte("dcfw-testpeer"),
		}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return Result{Outcome: Failed, Err: err}
		}
		if _, err := conn.WriteTo(b, dst); err != nil {
			return Result{Outcome: Classify(err), Err: err}
		}
		wait := time.Now().Add(udpResend)
		if deadline.Before(wait) {
			wait = deadline
		}
		_ = conn.SetReadDeadline(wait)
		for {
			n, _, err := conn.ReadFrom(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				return Result{Outcome: Classify(err), Err: err}
			}
			reply, err := icmp.ParseMessage(proto, buf[:n])
			if err == nil && reply.Type == replyType {
				return Result{Outcome: Answered, Reply: fmt.Sprintf("echo reply from %s", ip)}
			}
		}
		if !time.Now().Before(deadline) {
			return Result{Outcome: TimedOut, Err: os.ErrDeadlineExceeded}
		}
		if ctx.Err() != nil {
			return Result{Outcome: Failed, Err: ctx.Err()}
		}
	}
}
