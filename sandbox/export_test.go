package sandbox

import (
	"context"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
)

// Hooks for the finder's tests (package sandbox_test, which use
// sandboxtest's directory): they drive a Finder by hand, one scan at a
// time, without its goroutine.

const (
	PollFastFor    = pollFastFor
	PollSlowFactor = pollSlowFactor
)

// NewIdleFinder is a finder that never runs, whose host namespace is host.
func NewIdleFinder(dir Dir, host netnsutil.ID, poll time.Duration) *Finder {
	f := NewFinder(dir, poll)
	f.hostID = host
	return f
}

// Add makes r wait, as Submit would.
func (f *Finder) Add(ctx context.Context, r Request) {
	f.pending = append(f.pending, pendingRequest{ctx: ctx, Request: r})
}

// Waiting returns the containers of the requests that wait.
func (f *Finder) Waiting() []string {
	var out []string
	for _, r := range f.pending {
		out = append(out, r.Container)
	}
	return out
}

func (f *Finder) Scan(now time.Time)                   { f.scan(now) }
func (f *Finder) Interval(now time.Time) time.Duration { return f.interval(now) }
func (f *Finder) CloseAll()                            { f.closeAll() }
