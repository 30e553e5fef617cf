package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/dcfw/dcfw/engine"
	"go.uber.org/zap"
)

// workQueue hands what the event watcher saw to the reconcile loop. It never
// blocks the watcher (a slow reconcile must not stall the engine's stream):
// events accumulate until the loop takes them all at once.
type workQueue struct {
	mu     sync.Mutex
	events []engine.Event
	// sandboxes are the finder's answers (sandbox_path.go).
	sandboxes []sandboxAnswer
	resync    bool // the stream was (re)established: reconcile everything
	up        bool // the stream is currently connected
	wake      chan struct{}
	// sandboxWake is signalled for answers alone: the loop waits on it
	// while an engine call is under way (awaitEngine).
	sandboxWake chan struct{}
}

func newWorkQueue() *workQueue {
	return &workQueue{wake: make(chan struct{}, 1), sandboxWake: make(chan struct{}, 1)}
}

func (q *workQueue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *workQueue) push(ev engine.Event) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	q.notify()
}

func (q *workQueue) pushSandbox(r sandboxAnswer) {
	q.mu.Lock()
	q.sandboxes = append(q.sandboxes, r)
	q.mu.Unlock()
	q.notify()
	select {
	case q.sandboxWake <- struct{}{}:
	default:
	}
}

// takeSandboxes takes the finder's answers alone, for the loop to
// handle them in the middle of other work; none while a resync is due
// (events may have been missed: the resync drops them).
func (q *workQueue) takeSandboxes() []sandboxAnswer {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.resync {
		return nil
	}
	out := q.sandboxes
	q.sandboxes = nil
	return out
}

// pendingCreates returns the create events waiting in the queue (they
// stay there for the loop to absorb in order), none while a resync is due.
func (q *workQueue) pendingCreates() []engine.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.resync {
		return nil
	}
	var out []engine.Event
	for _, ev := range q.events {
		if ev.Kind == engine.EventCreate {
			out = append(out, ev)
		}
	}
	return out
}

// connected records a new subscription. Events from before it are moot:
// the full reconcile it triggers covers them.
func (q *workQueue) connected() {
	q.mu.Lock()
	q.events = nil
	q.resync = true
	q.up = true
	q.mu.Unlock()
	q.notify()
}

func (q *workQueue) disconnected() {
	q.mu.Lock()
	q.up = false
	q.mu.Unlock()
	q.notify()
}

type work struct {
	events    []engine.Event
	sandboxes []sandboxAnswer
	resync    bool
	up        bool
}

func (q *workQueue) take() work {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := work{events: q.events, sandboxes: q.sandboxes, resync: q.resync, up: q.up}
	q.events = nil
	q.sandboxes = nil
	q.resync = false
	return w
}

// Backoff bounds the delay between attempts to reconnect to the engine's
// event stream: it starts at Min and doubles up to Max.
type Backoff struct {
	Min, Max time.Duration
}

func (b Backoff) next(d time.Duration) time.Duration {
	if d < b.Min {
		return b.Min
	}
	return min(2*d, b.Max)
}

// watch keeps a subscription to the engine's events open until ctx ends,
// reconnecting with backoff. Each successful subscription asks the loop
// for a full reconcile, so that nothing that happened while the stream
// was down is missed.
func (c *Controller) watch(ctx context.Context) {
	delay := time.Duration(0)
	failures := 0
	for ctx.Err() == nil {
		// Ask the engine to replay from a little before now: events of a
		// container started between this subscription and the full
		// reconcile that follows are then never lost, even with some
		// clock difference to a remote engine. Replayed events only cause
		// an extra (idempotent) reconcile of their container.
		since := c.now().Add(-time.Second)
		stream, cancel, err := c.subscribe(ctx, since)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			delay = c.cfg.Backoff.next(delay)
			failures++
			if failures == 1 {
				c.log.Warn("cannot subscribe to docker events; retrying", zap.Error(err), zap.Duration("retry_in", delay))
			} else {
				c.log.Debug("cannot subscribe to docker events; retrying", zap.Error(err), zap.Duration("retry_in", delay), zap.Int("attempt", failures))
			}
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		if failures > 0 {
			c.log.Info("docker event stream reconnected; reconciling everything", zap.Int("attempts", failures+1))
		}
		failures = 0
		connectedAt := c.now()
		c.queue.connected()
		for ev := range stream.C {
			c.queue.push(ev)
		}
		err = <-stream.Err
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.queue.disconnected()
		// A stream that lived longer than the longest backoff ended for a
		// new reason (an engine restart): start again from the shortest
		// delay. One that broke at once keeps growing the delay, so a
		// flapping engine does not get a full reconcile in a tight loop.
		if c.now().Sub(connectedAt) > c.cfg.Backoff.Max {
			delay = 0
		}
		delay = c.cfg.Backoff.next(delay)
		failures = 1
		c.log.Warn("docker event stream lost; reconnecting", zap.Error(err), zap.Duration("retry_in", delay))
		if !sleep(ctx, delay) {
			return
		}
	}
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
