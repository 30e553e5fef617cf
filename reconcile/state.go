package reconcile

import (
	"slices"
	"strings"
	"time"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// inspectCache keeps inspect results by container ID, so a steady-state
// cycle costs one list call and no inspect per container. An entry is
// dropped by any event about its container, and the whole cache when the
// event stream reconnects (events may have been missed meanwhile).
type inspectCache map[string]engine.ContainerInfo

func (c inspectCache) forget(id string) { delete(c, id) }

func (c inspectCache) flush() { clear(c) }

// keepOnly drops entries of containers that are no longer running.
func (c inspectCache) keepOnly(running map[string]bool) {
	for id := range c {
		if !running[id] {
			delete(c, id)
		}
	}
}

// applied is what dcfw last wrote successfully into one namespace. It is
// what tells drift from change: if the desired table is the same as last
// time (same fingerprint, same containers and processes) and the live one
// still differed, someone else changed it.
type applied struct {
	fingerprint string // desired table text, or removedFingerprint
	incarnation string // members' container IDs and PIDs
	// holders are the containers in the namespace when it was written
	// (the managed members and the owner): through them dcfw finds the
	// namespace again to remove a table no container asks for any more.
	holders []string
	// gen is the namespace's nf_tables generation at which the live table
	// was found or made equal to this desired table (unknown after a
	// removal or when the firewall could not tell). It is only ever handed
	// back to the firewall while sameAs holds (see enforce).
	gen nft.Generation
	// What is needed to check and repair the namespace without the
	// engine (maintainKnown): the desired state, and the members and
	// owner as they were, whose PIDs lead back to the namespace.
	want    desired
	owner   engine.Container
	members []heldMember
}

// heldMember is a member of a namespace's group as enforce last saw it.
type heldMember struct {
	ctr engine.Container // without labels
	pid int
}

// sameAs reports whether a is the same desired state for the same
// processes as b.
func (a applied) sameAs(b applied) bool {
	return a.fingerprint == b.fingerprint && a.incarnation == b.incarnation
}

const removedFingerprint = "<no table>"

type appliedState map[netnsutil.ID]applied

// forgetGeneration drops the generation remembered for the namespaces
// container id holds, so that the next enforce there reads the table. The
// events of a container (die, start, restart, connect, ...) are when its
// namespace may be replaced by one that reuses the identity; the
// incarnation check in enforce covers this too, this is the second line.
func (s appliedState) forgetGeneration(id string) {
	for ns, a := range s {
		if a.gen.Known && slices.Contains(a.holders, id) {
			a.gen = nft.Generation{}
			s[ns] = a
		}
	}
}

// errorLimiter decides whether an error about one subject (a container or
// a namespace) is logged: when it is new, when its text changed, or when
// repeat has passed since it was last logged. The errors stay counted in
// every cycle; only the log line is limited.
type errorLimiter struct {
	repeat time.Duration
	last   map[string]limited
}

type limited struct {
	msg string
	at  time.Time
	// seen marks subjects that still had this error in the current full
	// cycle; the others are forgotten at its end so that a recurrence is
	// logged at once.
	seen bool
}

func newErrorLimiter(repeat time.Duration) *errorLimiter {
	return &errorLimiter{repeat: repeat, last: map[string]limited{}}
}

// allow reports whether to log msg about subject now, and records it.
func (l *errorLimiter) allow(subject, msg string, now time.Time) bool {
	prev, ok := l.last[subject]
	if ok && prev.msg == msg && now.Sub(prev.at) < l.repeat {
		prev.seen = true
		l.last[subject] = prev
		return false
	}
	l.last[subject] = limited{msg: msg, at: now, seen: true}
	return true
}

// clear forgets subject: its problem is resolved.
func (l *errorLimiter) clear(subject string) { delete(l.last, subject) }

// startCycle and endCycle bracket a full cycle: subjects that did not
// report their error again during it are forgotten.
func (l *errorLimiter) startCycle() {
	for k, v := range l.last {
		v.seen = false
		l.last[k] = v
	}
}

func (l *errorLimiter) endCycle() {
	for k, v := range l.last {
		if !v.seen {
			delete(l.last, k)
		}
	}
}

// forgetContainer forgets every subject about one container (they are
// named "<what>:<container ID>").
func (l *errorLimiter) forgetContainer(id string) {
	if id == "" {
		return
	}
	for k := range l.last {
		if strings.HasSuffix(k, ":"+id) {
			delete(l.last, k)
		}
	}
}
