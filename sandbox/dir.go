package sandbox

import (
	"context"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
)

// Namespace is an open network namespace: its identity and a file
// descriptor that keeps it alive until Close. *netnsutil.NS implements
// it, and so does every namespace the controller works on.
type Namespace interface {
	ID() netnsutil.ID
	Fd() int
	Close() error
}

// Dir is Docker's sandbox directory (--netns-dir) as the finder sees it:
// which namespace files appeared when, and which containers have processes
// in each. *WatchedDir is the real one.
type Dir interface {
	// Watch starts noting the files that appear in the directory, in the
	// background until ctx ends. Files that exist when it starts count as
	// old: they never become candidates. An error means the sandbox path
	// cannot work (it stays off; the PID path protects every container).
	Watch(ctx context.Context) error
	// Born returns the files that appeared after t, each with the time it
	// was noticed, which is never before the file was created.
	Born(after time.Time) []File
	// Open opens the namespace of one file. A file that Docker created but
	// has not yet bound to a namespace yields an error matching
	// netnsutil.ErrNotNetNS; a file that is gone, netnsutil.ErrNotFound.
	Open(name string) (Namespace, error)
	// Owners returns, for each of the namespaces, the IDs of the
	// containers that have a process in it now (the runtime's init
	// process counts: it is in the container's cgroup before it enters
	// the namespace). Called by one goroutine at a time.
	Owners(ns []netnsutil.ID) (map[netnsutil.ID][]string, error)
}

// File is one file in the sandbox directory.
type File struct {
	Name string
	Born time.Time
}
