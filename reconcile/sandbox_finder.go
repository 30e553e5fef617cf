package reconcile

import (
	"context"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/sandbox"
)

// SandboxFinder finds a starting container's namespace before its process
// runs, for the sandbox path (sandbox_path.go). *sandbox.Finder is the
// real one.
type SandboxFinder interface {
	// Start begins the search service on its own goroutine until ctx
	// ends; host is never an answer, now is the clock of the requests'
	// deadlines. An error turns the sandbox path off.
	Start(ctx context.Context, host netnsutil.ID, now func() time.Time) error
	// Wait waits until the service has ended after ctx, and has closed
	// every namespace it held.
	Wait()
	// Submit hands over a request until ctx ends, which withdraws it.
	Submit(ctx context.Context, r sandbox.Request) bool
	// Removed reports whether a sandbox file no longer binds namespace id
	// (false when that cannot be told).
	Removed(file string, id netnsutil.ID) bool
}

var _ SandboxFinder = (*sandbox.Finder)(nil)
