package reconcile

import (
	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
)

// recoverLostStarts clears "stopped by events" (knownContainer.stopped)
// for the listed containers whose start event never came: a container the
// events say is stopped is never inspected (it may be starting, and an
// inspect would block until its process runs), so without its start event
// it would stay unprotected for good.
//
// A listing only shows containers whose process runs (a restarting one is
// "restarting", not "running"), but one taken just after a die event may
// still show the container as it was. So only a listing at least one
// Interval after the event counts: by then the start event would have
// come, and the container runs. It is protected in that cycle, within an
// Interval and a cycle of the lost event.
func (c *Controller) recoverLostStarts(list []engine.Container) {
	now := c.now()
	for _, ctr := range list {
		k := c.known[ctr.ID]
		if k == nil || !k.stopped || now.Sub(k.stoppedAt) < c.cfg.Interval {
			continue
		}
		k.stopped = false
		c.cache.forget(ctr.ID)
		// Said at warn only about containers dcfw protects: an engine
		// slower than the interval to start one looks the same.
		level := zap.DebugLevel
		if c.verdicts.of(ctr.Labels).protects() && c.cfg.Scope.Includes(ctr.Labels) {
			level = zap.WarnLevel
		}
		c.log.Log(level, "container runs but no start event came within an interval; protecting it now",
			zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)),
			zap.Duration("since_event", now.Sub(k.stoppedAt)))
	}
}
