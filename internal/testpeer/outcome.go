// Package testpeer is the small network peer that dcfw's end-to-end tests run
// inside their containers: it listens (serve), connects and reports how the
// attempt ended (connect, first-connect, ping), and otherwise sleeps.
//
// The point of the package is the Outcome: a firewall test must tell apart a
// packet that was dropped (the connect times out), one that was rejected (the
// peer or the firewall answered with a reset or an ICMP port-unreachable), one
// that was refused locally by an output rule (the kernel returns EPERM to the
// sender) and a routing problem (no route, host unreachable). The peer prints
// the outcome as its first word and exits with the outcome's code (0 for
// success), and ParseReport checks that both agree, so a test that runs the
// peer with `docker exec` never mistakes a crashed or misused peer for a
// firewall decision.
//
// The binary (cmd/dcfw-testpeer) is built static (CGO_ENABLED=0) so that it
// runs in a `FROM scratch` image: no registry is reachable where the tests
// run, so the test image is built locally from this program alone.
package testpeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// Outcome is how one connection attempt ended.
type Outcome int

// Kernel tests (internal/testnet's probes) use the same type, so kernel and
// end-to-end tests read the same. The zero value is not an outcome: a probe
// that forgot to set one is caught instead of reading as Connected.
const (
	// Connected: the TCP handshake completed.
	Connected Outcome = iota + 1
	// Answered: the UDP peer echoed the probe, or an ICMP echo reply came.
	Answered
	// Refused: ECONNREFUSED. For TCP a reset (no listener, or an nftables
	// `reject` with tcp reset); for UDP an ICMP port-unreachable (no
	// listener, or an nftables `reject`).
	Refused
	// TimedOut: no answer within the timeout: the packet (or its answer) was
	// dropped somewhere, typically by a `deny` rule on the remote input or on
	// the local output for TCP (the kernel retransmits the SYN and waits).
	TimedOut
	// Unreachable: EHOSTUNREACH or ENETUNREACH: no route, ARP failed, or an
	// ICMP host/network-unreachable came back. Usually a test setup problem,
	// not a firewall decision of dcfw.
	Unreachable
	// NotPermitted: EPERM or EACCES from the local kernel: an output rule in this
	// namespace dropped a packet the process sent (UDP sends fail like this;
	// TCP instead retransmits and times out), or a `prohibit` route.
	NotPermitted
	// Failed: anything else (bad address, resource error, unexpected reply).
	// Tests should treat it as a broken test, never as "blocked".
	Failed
)

// Exit codes of the dcfw-testpeer binary. Success (Connected or Answered)
// is 0; the printed word tells the two apart. 1 and 2 are left alone because
// the Go runtime and the flag package use them (panic, usage errors), so a
// crashed or misused peer is never mistaken for an outcome.
const (
	ExitSuccess      = 0
	ExitUsage        = 2
	ExitRefused      = 10
	ExitTimedOut     = 11
	ExitUnreachable  = 12
	ExitNotPermitted = 13
	ExitFailed       = 14
)

var outcomeWords = [...]string{
	Connected:    "connected",
	Answered:     "answered",
	Refused:      "refused",
	TimedOut:     "timeout",
	Unreachable:  "unreachable",
	NotPermitted: "not-permitted",
	Failed:       "failed",
}

// String returns the word the peer prints for the outcome.
func (o Outcome) String() string {
	if o <= 0 || int(o) >= len(outcomeWords) {
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
	return outcomeWords[o]
}

// Blocked reports whether the outcome is what a dropping (deny) firewall
// produces: a timeout, or a local EPERM for packets dropped on output.
// Rejections (Refused) are reported separately on purpose: a test of a
// `reject` policy must see Refused, and a test of `deny` must not.
func (o Outcome) Blocked() bool { return o == TimedOut || o == NotPermitted }

// Passed reports whether the peer was reached (Connected or Answered).
func (o Outcome) Passed() bool { return o == Connected || o == Answered }

// ExitCode is the process exit code that reports o.
func (o Outcome) ExitCode() int {
	switch o {
	case Connected, Answered:
		return ExitSuccess
	case Refused:
		return ExitRefused
	case TimedOut:
		return ExitTimedOut
	case Unreachable:
		return ExitUnreachable
	case NotPermitted:
		return ExitNotPermitted
	default:
		return ExitFailed
	}
}

// ParseOutcome parses the word printed by the peer (the String form).
func ParseOutcome(word string) (Outcome, error) {
	for o, w := range outcomeWords {
		if w != "" && w == word {
			return Outcome(o), nil
		}
	}
	return Failed, fmt.Errorf("unknown outcome %q", word)
}

// ParseReport reads the outcome from the peer's output line and checks it
// against the process exit code, so that a crash, a usage error or a
// missing binary (whose exit codes are not outcomes, or whose output is not
// a report) is never taken for a firewall decision.
func ParseReport(output string, exitCode int) (Outcome, error) {
	word, _, _ := strings.Cut(strings.TrimSpace(output), " ")
	o, err := ParseOutcome(word)
	if err != nil {
		return Failed, fmt.Errorf("peer output is not a report (exit code %d): %q", exitCode, output)
	}
	if o.ExitCode() != exitCode {
		return Failed, fmt.Errorf("peer printed %q but exited %d (want %d)", word, exitCode, o.ExitCode())
	}
	return o, nil
}

// Classify maps the error of a connection attempt to its Outcome. A nil
// error is Connected.
func Classify(err error) Outcome {
	switch {
	case err == nil:
		return Connected
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Unreachable
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return NotPermitted
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return TimedOut
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return TimedOut
	}
	return Failed
}
