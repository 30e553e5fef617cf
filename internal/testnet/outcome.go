package testnet

import (
	"errors"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Outcome is what a probe (DialTCP, ExchangeUDP, Ping) observed. Firewall
// tests compare it with what the rules should cause: allow → Connected or
// Answered, deny (drop) → TimedOut, reject → Refused.
type Outcome int

const (
	// Connected: the TCP handshake completed.
	Connected Outcome = iota + 1
	// Answered: a UDP datagram or an ICMP echo reply came back.
	Answered
	// Refused: a TCP reset, or an ICMP port unreachable (ECONNREFUSED):
	// a closed port, or an nftables `reject`.
	Refused
	// TimedOut: nothing came back before the timeout: a drop somewhere.
	TimedOut
	// Unreachable: ICMP destination unreachable other than "port" (host,
	// network, administratively prohibited) or no route (EHOSTUNREACH,
	// ENETUNREACH).
	Unreachable
	// NotPermitted: the local stack refused to send (EPERM/EACCES). This is
	// what a drop or reject in the sender's own output hook looks like for
	// UDP and ICMP; TCP instead retransmits a dropped SYN (TimedOut) and
	// reports a rejected one as Refused.
	NotPermitted
	// Failed: any other error; the probe logs it to the Host's test.
	Failed
)

var outcomeNames = [...]string{
	Connected:    "Connected",
	Answered:     "Answered",
	Refused:      "Refused",
	TimedOut:     "TimedOut",
	Unreachable:  "Unreachable",
	NotPermitted: "NotPermitted",
	Failed:       "Failed",
}

func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// classify maps a socket error to an Outcome. Timeouts are checked first:
// a deadline is how every probe bounds its wait.
func classify(err error) Outcome {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, unix.ETIMEDOUT),
		errors.As(err, &ne) && ne.Timeout():
		return TimedOut
	case errors.Is(err, unix.ECONNREFUSED):
		return Refused
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return Unreachable
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return NotPermitted
	}
	return Failed
}
