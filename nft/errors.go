package nft

import "errors"

// Error classes of Conn's methods, for errors.Is. The wrapped chain also
// keeps the underlying cause, e.g. errors.Is(err, unix.EPERM).
var (
	// ErrDial: no netlink socket could be opened in the namespace (the
	// descriptor is not a network namespace, or permission is missing).
	ErrDial = errors.New("cannot open nftables netlink socket in namespace")
	// ErrRead: the live ruleset could not be read, or kept changing while
	// it was read (see Conn.Read).
	ErrRead = errors.New("cannot read nftables ruleset")
	// ErrWriteRejected: the batch was not applied. nf_tables batches are
	// atomic, so the kernel applied none of it (EPERM, EINVAL, EBUSY, ...
	// are in the chain). One exception: when the reply could not be
	// received in full (ENOBUFS), the batch may have been committed; the
	// next Read shows the truth.
	ErrWriteRejected = errors.New("nftables batch rejected")
)
