package reconcile

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
)

// releaseOrphans removes the tables dcfw wrote into namespaces where no
// running container is managed any more: the dcfw.enable label is gone, or
// the managed container that had joined another's namespace stopped and
// left the owner behind. Nobody asks for those rules now, so they go.
//
// Only namespaces this process wrote to are considered (it knows which
// containers held them); after a restart dcfw has no opinion about
// unmanaged containers and leaves them alone.
//
// selected limits the work to namespaces held by those containers (nil:
// all); seen are the namespaces reconciled in this pass, which are not
// orphans.
func (c *Controller) releaseOrphans(ctx context.Context, all []engine.Container, selected map[string]bool, seen map[netnsutil.ID]bool) CycleStats {
	var st CycleStats
	for id, a := range c.applied {
		if seen[id] {
			continue
		}
		if selected != nil && !slices.ContainsFunc(a.holders, func(h string) bool { return selected[h] }) {
			continue
		}
		if c.protectedBeforeStart(a.holders) {
			// Written by the sandbox path for a container whose process
			// is about to start: not listed as running yet, but wanted.
			continue
		}
		if a.fingerprint == removedFingerprint {
			delete(c.applied, id)
			continue
		}
		removed, ok := c.releaseOrphan(ctx, id, a, all)
		switch {
		case !ok:
			st.Errors++ // keep the entry: the next cycle retries
		case removed:
			st.Removed++
			fallthrough
		default:
			delete(c.applied, id)
		}
	}
	return st
}

// releaseOrphan finds namespace id again through one of its running
// holders and removes dcfw's table there. It reports ok=false only when a
// write failed; a namespace that no holder is in any more is simply gone.
func (c *Controller) releaseOrphan(ctx context.Context, id netnsutil.ID, a applied, all []engine.Container) (removed, ok bool) {
	for _, h := range a.holders {
		i := slices.IndexFunc(all, func(ctr engine.Container) bool { return ctr.ID == h })
		if i < 0 {
			continue
		}
		ctr := all[i]
		if ctr.NetworkMode.IsHost() || c.stoppedByEvents(ctr.ID) {
			// Stopped since it was listed (perhaps restarting, with a
			// new namespace): not inspected, see reconcileSet.
			continue
		}
		ns, _, err := c.openNamespace(ctx, ctr)
		if errors.Is(err, errEngineDown) || timedOut(ctx, err) {
			// Not known whether it is still there: keep it.
			return false, false
		}
		if err != nil {
			continue
		}
		if ns.ID() != id || ns.ID() == c.hostID {
			// A new namespace (the container restarted): not the one
			// dcfw wrote to.
			ns.Close()
			continue
		}
		start := time.Now()
		res, err := c.cfg.Firewall.Remove(ns, c.cfg.DryRun)
		ns.Close()
		fields := []zap.Field{
			zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)),
			zap.String("namespace", id.String()),
		}
		if err != nil {
			c.logError("apply:"+id.String(), "cannot remove the dcfw table of a namespace no container manages any more; retrying next cycle", err, fields...)
			return false, false
		}
		c.errs.clear("apply:" + id.String())
		if res.Changed() {
			c.log.Info("protection removed: no container in the namespace has a dcfw.enable label any more",
				append(fields, zap.Int("writes", res.Writes), zap.Duration("duration", time.Since(start)))...)
		}
		return res.Changed(), true
	}
	return false, true
}
