package testnet

import "github.com/dcfw/dcfw/internal/testpeer"

// Outcome is what a probe (DialTCP, ExchangeUDP, Ping) observed. Firewall
// tests compare it with what the rules should cause: allow → Connected or
// Answered, deny (drop) → TimedOut, reject → Refused.
//
// It is the test peer's Outcome, so that kernel tests (here) and end-to-end
// tests (the peer inside containers) classify errors one way. For UDP and
// ICMP, NotPermitted is what a drop or reject in the sender's own output
// hook looks like; TCP instead retransmits a dropped SYN (TimedOut) and
// reports a rejected one as Refused.
type Outcome = testpeer.Outcome

// The outcomes; see testpeer for what each means.
const (
	Connected    = testpeer.Connected
	Answered     = testpeer.Answered
	Refused      = testpeer.Refused
	TimedOut     = testpeer.TimedOut
	Unreachable  = testpeer.Unreachable
	NotPermitted = testpeer.NotPermitted
	Failed       = testpeer.Failed
)

// classify maps a socket error (never nil) to an Outcome.
func classify(err error) Outcome { return testpeer.Classify(err) }
