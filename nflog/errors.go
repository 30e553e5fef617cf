package nflog

import "errors"

// Errors of this package; the errors returned wrap them (errors.Is).
var (
	// ErrGroupBusy: another socket in the namespace is bound to the group.
	ErrGroupBusy = errors.New("nflog: group already bound in this namespace")
	// ErrOverrun: the socket's receive buffer overflowed and records were lost.
	ErrOverrun = errors.New("nflog: receive buffer overrun, records lost")
	// ErrNotPacket: a message that is not an NFLOG packet record.
	ErrNotPacket = errors.New("nflog: not a packet record")
	// ErrMalformed: a record or packet whose bytes do not decode.
	ErrMalformed = errors.New("nflog: malformed")
)
