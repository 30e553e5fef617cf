package names

import (
	"errors"
	"fmt"

	"github.com/dcfw/dcfw/labels"
)

// Errors of a lookup. A Lookup error wraps exactly one of them (and the
// underlying cause, where there is one), so the caller can tell the states
// of a name apart with errors.Is and log once per change of state.
var (
	// ErrNotFound: the resolver says the name does not exist (NXDOMAIN),
	// as written and with every search domain.
	ErrNotFound = errors.New("name not found")
	// ErrNoAddress: the name exists but has no IPv4 or IPv6 address.
	ErrNoAddress = errors.New("name has no address")
	// ErrTimeout: no nameserver answered in time.
	ErrTimeout = errors.New("no answer from the nameserver in time")
	// ErrServerFailure: the nameserver answered with SERVFAIL, REFUSED or
	// another error code, or with a message that could not be read.
	ErrServerFailure = errors.New("nameserver failure")
	// ErrNoNameserver: the container's resolv.conf names no nameserver
	// that is an IP address.
	ErrNoNameserver = errors.New("no nameserver in resolv.conf")
	// ErrTooManyAddresses: the answer holds more addresses than
	// labels.MaxAddrsPerName. It is labels.ErrTooManyAddresses.
	ErrTooManyAddresses = labels.ErrTooManyAddresses
)

// LookupError is the error of one Lookup: the name and the state.
type LookupError struct {
	Name string
	// Err is one of the sentinels above.
	Err error
	// Cause is what went wrong underneath (a socket error, the rcode), or
	// nil.
	Cause error
}

func (e *LookupError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("resolve %s: %v: %v", e.Name, e.Err, e.Cause)
	}
	return fmt.Sprintf("resolve %s: %v", e.Name, e.Err)
}

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *LookupError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}
