package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
)

// An engine that hangs or is gone must not leave the namespaces dcfw
// already protects without their checks: every engine call has a deadline,
// and while the engine does not answer, every interval the namespaces dcfw
// wrote are found again through the PIDs of their containers (with the
// namespace's identity checked) and their tables compared and repaired
// against what dcfw last computed for them, without the engine.
// Containers that start meanwhile wait for the engine.

// errEngineDown: an engine call was not made, as the engine did not
// answer an earlier one in this cycle.
var errEngineDown = errors.New("docker engine does not answer")

// engineState is whether the engine answers.
type engineState struct {
	down  bool
	since time.Time
	// stalled: a call in the current cycle ran into its deadline; the
	// cycle makes no more calls.
	stalled bool
}

// engineTrouble records that an engine call failed: warned once per
// change (and again after ErrorRepeat while it lasts).
func (c *Controller) engineTrouble(err error) {
	if !c.engine.down {
		c.engine.down = true
		c.engine.since = c.now()
		c.errs.clear("engine")
	}
	if c.errs.allow("engine", "down", c.now()) {
		c.log.Warn("docker engine does not answer; the namespaces dcfw protects keep their rules and are checked "+
			"and repaired every interval without it; containers started meanwhile wait for it",
			zap.Error(err), zap.Duration("since", c.now().Sub(c.engine.since)))
	} else {
		c.log.Debug("docker engine still does not answer", zap.Error(err))
	}
}

// engineAnswers records that an engine call succeeded.
func (c *Controller) engineAnswers() {
	if !c.engine.down {
		return
	}
	c.engine.down = false
	c.errs.clear("engine")
	c.log.Info("docker engine answers again", zap.Duration("after", c.now().Sub(c.engine.since)))
}

// callTimeout is the deadline of a list or inspect call: APITimeout, and
// while the engine does not answer at most half an interval, so that
// trying it again does not hold up the checks of the known namespaces.
func (c *Controller) callTimeout() time.Duration {
	if c.engine.down {
		return min(c.cfg.APITimeout, max(c.cfg.Interval/2, time.Millisecond))
	}
	return c.cfg.APITimeout
}

// timedOut reports whether err is a call's own deadline (not the end of
// ctx, which is dcfw stopping).
func timedOut(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)
}

// maintainKnown checks and repairs the namespaces dcfw wrote, without the
// engine (skip: those reconciled already). A namespace is found through
// the PID of one of its members, and only if it still has the identity it
// had: a member that exited, or whose PID is another process's now, does
// not lead to it. A namespace no member leads to is left for the engine.
func (c *Controller) maintainKnown(skip map[netnsutil.ID]bool) CycleStats {
	start := time.Now()
	var st CycleStats
	ids := make([]netnsutil.ID, 0, len(c.applied))
	for id, a := range c.applied {
		if !skip[id] && a.want.mode != "" && a.want.mode != ModeNoTable {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b netnsutil.ID) int { return cmp.Or(cmp.Compare(a.Dev, b.Dev), cmp.Compare(a.Ino, b.Ino)) })
	for _, id := range ids {
		a := c.applied[id]
		ns := c.reopen(id, a)
		if ns == nil {
			// Its processes are gone: only an NFLOG socket would keep it.
			c.forgetDropLog(id)
			continue
		}
		g := &nsGroup{ns: ns}
		for _, m := range a.members {
			g.members = append(g.members, member{ctr: m.ctr, pid: m.pid})
		}
		st.Managed++
		changed, ok := c.enforce(g, a.owner, a.want)
		ns.Close()
		switch {
		case !ok:
			st.Errors++
		case changed:
			st.Changed++
		}
	}
	st.Duration = time.Since(start)
	c.log.Debug("known namespaces checked without the engine", zap.Int("namespaces", len(ids)), zap.Int("found", st.Managed),
		zap.Int("changed", st.Changed), zap.Int("errors", st.Errors), zap.Duration("duration", st.Duration))
	return st
}

// reopen opens namespace id through the PID of one of its members, or
// returns nil.
func (c *Controller) reopen(id netnsutil.ID, a applied) Namespace {
	if id == c.hostID {
		return nil
	}
	for _, m := range a.members {
		if m.pid <= 0 {
			continue
		}
		ns, err := c.cfg.Namespaces.OpenPID(m.pid)
		if err != nil {
			continue
		}
		if ns.ID() == id {
			return ns
		}
		ns.Close()
	}
	return nil
}

// subscribe opens the event stream with a deadline on the engine's
// answer: the stream itself lives on ctx, so the deadline cancels it only
// when the engine has not answered in time. cancel ends the stream.
func (c *Controller) subscribe(ctx context.Context, since time.Time) (stream *engine.EventStream, cancel context.CancelFunc, err error) {
	subCtx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.cfg.APITimeout, cancel)
	stream, err = c.cfg.Engine.Subscribe(subCtx, since)
	if !timer.Stop() {
		cancel()
		if stream != nil {
			go drain(stream)
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("docker events: no answer within %s", c.cfg.APITimeout)
	}
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return stream, cancel, nil
}

// drain reads a stream that is no longer wanted until it ends.
func drain(s *engine.EventStream) {
	for range s.C {
	}
	<-s.Err
}
