package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/netnsutil"
)

// reconcileAll is one full cycle: every running container.
func (c *Controller) reconcileAll(ctx context.Context) (CycleStats, error) {
	start := time.Now()
	list, err := c.list(ctx)
	if err != nil {
		return CycleStats{}, err
	}
	c.engineAnswers()
	c.engine.stalled = false
	// The listing first: a replayed create event of a listed container
	// is then known, and starts no search (drainSandboxes).
	c.learnListed(list)
	c.recoverLostStarts(list)
	c.drainSandboxes()
	c.errs.startCycle()
	c.verdicts.startCycle()
	seen := map[netnsutil.ID]bool{}
	inScope := c.cfg.Scope.filter(list)
	st := c.reconcileSet(ctx, inScope, list, seen)
	st.add(c.releaseOrphans(ctx, list, nil, seen))
	if c.engine.stalled {
		// The engine stopped answering during the cycle: what it could
		// not be asked about is checked without it.
		st.add(c.maintainKnown(seen))
	}
	running := make(map[string]bool, len(list))
	for _, ctr := range list {
		running[ctr.ID] = true
	}
	c.cache.keepOnly(running)
	c.images.keepOnly(list)
	c.pruneStartups(running)
	c.errs.endCycle()
	c.verdicts.endCycle()
	c.endLoggedCycle()
	c.retainDropLog()
	c.pruneStatus()
	c.names.endCycle()
	st.Containers = len(inScope)
	st.Duration = time.Since(start)
	return st, nil
}

// handleEvents reconciles the containers the events are about, at once,
// instead of waiting for the ticker, after the sandbox path's answers
// (sandboxes) are taken care of.
func (c *Controller) handleEvents(ctx context.Context, evs []engine.Event, sandboxes []sandboxAnswer) {
	start := time.Now()
	targets := c.absorb(evs)
	followers := c.names.takeFollowers(targets)
	// After the events: an answer about a container whose start event
	// came with them is too late (and dropped).
	c.takeSandboxes(sandboxes)
	if len(targets) == 0 && len(followers) == 0 {
		return
	}
	list, err := c.list(ctx)
	if err != nil {
		// The next full cycle (or the reconnect) tries again.
		c.engineTrouble(err)
		return
	}
	c.engineAnswers()
	c.engine.stalled = false
	c.learnListed(list)
	c.recoverLostStarts(list)
	c.drainSandboxes()
	sel := c.cfg.Scope.filter(sharingNamespace(list, targets))
	seen := map[netnsutil.ID]bool{}
	st := c.reconcileSet(ctx, sel, list, seen)
	selected := maps.Clone(targets)
	for _, ctr := range sel {
		selected[ctr.ID] = true
	}
	// Then the other users of names (a recreated db may be the new
	// holder of their names), once the events' own containers have their
	// rules.
	if fsel := c.cfg.Scope.filter(sharingNamespace(list, followers)); len(fsel) > 0 {
		fsel = slices.DeleteFunc(fsel, func(ctr engine.Container) bool { return selected[ctr.ID] })
		st.add(c.reconcileSet(ctx, fsel, list, seen))
		for _, ctr := range fsel {
			selected[ctr.ID] = true
		}
	}
	st.add(c.releaseOrphans(ctx, list, selected, seen))
	c.retainDropLog()
	c.pruneStatus()
	ids := make([]string, 0, len(targets))
	for id := range targets {
		ids = append(ids, engine.ShortID(id))
	}
	slices.Sort(ids)
	c.log.Debug("reconciled after events",
		zap.Int("events", len(evs)), zap.Strings("containers", ids), zap.Int("managed", st.Managed), zap.Int("changed", st.Changed),
		zap.Int("errors", st.Errors), zap.Duration("duration", time.Since(start)))
}

// absorb updates the controller's knowledge from events and returns the
// containers to reconcile now.
//
// It is also where the sandbox path hooks in (sandbox_path.go): it sees every
// event in the engine's order, on the goroutine that owns all namespace
// writes. A create event's labels are cached; a connect event of a
// starting container begins the search for its namespace.
func (c *Controller) absorb(evs []engine.Event) map[string]bool {
	targets := map[string]bool{}
	for _, ev := range evs {
		// Whatever happened, what we inspected before may be stale (a new
		// PID after a restart, a new namespace after a reconnect).
		c.cache.forget(ev.ContainerID)
		// Its namespace may be another one now, or about to be: read it
		// again rather than trust a remembered generation (enforce).
		c.applied.forgetGeneration(ev.ContainerID)
		switch ev.Kind {
		case engine.EventCreate:
			// No process and no namespace yet: nothing to reconcile.
			c.learnCreated(ev)
		case engine.EventDestroy:
			// Gone for good: forget its errors, so that a container that
			// reuses the name is not muted.
			c.errs.forgetContainer(ev.ContainerID)
			c.endStartup(ev.ContainerID)
			delete(c.known, ev.ContainerID)
		case engine.EventNetworkConnect:
			if !c.connected(ev) {
				targets[ev.ContainerID] = true
			}
			// else: starting, not running yet; its start event follows.
		default:
			// start, restart, die, network disconnect. A die matters
			// too: containers that joined its namespace remain.
			targets[ev.ContainerID] = true
			switch ev.Kind {
			case engine.EventStart, engine.EventRestart:
				c.started(ev)
			case engine.EventDie:
				c.endStartup(ev.ContainerID)
				if k := c.known[ev.ContainerID]; k != nil {
					k.stopped, k.stoppedAt = true, c.now()
				}
			}
		}
		c.namesEvent(ev)
		fields := []zap.Field{zap.Stringer("event", ev.Kind), zap.String("id", engine.ShortID(ev.ContainerID))}
		if ev.NetworkName != "" {
			fields = append(fields, zap.String("network", engine.SafeName(ev.NetworkName)))
		}
		c.log.Debug("docker event", fields...)
	}
	return targets
}

func (c *Controller) list(ctx context.Context) ([]engine.Container, error) {
	d := c.callTimeout()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	list, err := awaitEngine(c, func() ([]engine.Container, error) { return c.cfg.Engine.ListRunning(ctx) })
	if timedOut(ctx, err) {
		err = fmt.Errorf("list containers: no answer within %s: %w", d, err)
	}
	return list, err
}

// member is a managed container in a namespace.
type member struct {
	ctr    engine.Container
	pid    int
	policy labels.Policy
	perr   error // label errors (labels that come from the image too)
	// errLines are perr, one problem a line (nil: labelErrorLines(perr)).
	errLines []string
	// verdict is where policy comes from (nil on the sandbox path, which
	// parses the create event's labels itself).
	verdict *labelVerdict
	// privs are the container's own privileges (unknown on the sandbox
	// path, which has not inspected it).
	privs privileges
}

// nsGroup is one namespace and the managed containers in it.
type nsGroup struct {
	ns      Namespace
	members []member
	// sandbox is set when the sandbox path writes (sandbox_path.go): the
	// namespace it found for a starting container.
	sandbox *sandboxAnswer
	// names are the addresses of its rules' names (names.go).
	names *groupNames
}

// reconcileSet reconciles the managed containers among candidates, grouped
// by namespace. all is every running container (for resolving owners).
// seen collects the namespaces visited.
func (c *Controller) reconcileSet(ctx context.Context, candidates, all []engine.Container, seen map[netnsutil.ID]bool) CycleStats {
	var st CycleStats
	groups := map[netnsutil.ID]*nsGroup{}
	var order []netnsutil.ID
	defer func() {
		for _, g := range groups {
			g.ns.Close()
		}
	}()

	for _, ctr := range candidates {
		if ctx.Err() != nil {
			return st
		}
		// An inspect can take milliseconds under load: a starting
		// container's answer must not wait for the whole set.
		c.drainSandboxes()
		if c.stoppedByEvents(ctr.ID) {
			// Listed as running, but it died since (and may be
			// restarting: an inspect would block until it runs). Its
			// start event brings it back.
			c.log.Debug("container stopped since it was listed; not inspected", zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)))
			continue
		}
		lv := c.verdicts.of(ctr.Labels)
		policy, perr := lv.policy, lv.perr
		managed := perr != nil || policy.State != labels.Unmanaged
		c.warnNearMisses(ctr, lv.near, managed)
		if !managed {
			c.warnIgnoredLabels(ctr, lv.ignored, lv.near)
			continue
		}
		if ctr.NetworkMode.IsHost() {
			st.Errors += c.refuseHost(ctr, policy, perr)
			continue
		}
		errLines := lv.errLines
		ic, err := c.imageErrors(ctx, ctr, lv)
		if err != nil {
			st.Errors++
			continue
		}
		if ic != nil && ic.perr != nil {
			perr = errors.Join(perr, ic.perr)
			errLines = append(slices.Clip(errLines), ic.errLines...)
		}
		ns, info, err := c.openNamespace(ctx, ctr)
		if err != nil {
			if errors.Is(err, errHostNamespace) {
				st.Errors += c.refuseHost(ctr, policy, perr)
			} else if !errors.Is(err, errGone) {
				st.Errors++
			}
			continue
		}
		if ns.ID() == c.hostID {
			// Not host mode, yet the host's namespace: e.g. container:X
			// where X runs with network_mode host.
			ns.Close()
			st.Errors += c.refuseHost(ctr, policy, perr)
			continue
		}
		c.errs.clear("host:" + ctr.ID)
		c.confirmSandbox(ctr, ns)
		g := groups[ns.ID()]
		if g == nil {
			g = &nsGroup{ns: ns}
			groups[ns.ID()] = g
			order = append(order, ns.ID())
		} else {
			ns.Close()
		}
		g.members = append(g.members, member{ctr: ctr, pid: info.PID, policy: policy, perr: perr, errLines: errLines,
			verdict: lv, privs: privilegesOf(info)})
	}

	c.resolveNames(ctx, groups, order, all)
	for _, id := range order {
		seen[id] = true
		st.add(c.reconcileGroup(groups[id], all))
		c.doneStarting(groups[id])
		c.drainSandboxes()
	}
	return st
}

var (
	errGone          = errors.New("container gone")
	errHostNamespace = errors.New("host network namespace")
)

// openNamespace opens the namespace of a running container and returns
// it with what inspect said about the container. Containers that stopped
// or vanished meanwhile yield errGone after a debug line: that is normal
// churn. Other failures are logged here.
func (c *Controller) openNamespace(ctx context.Context, ctr engine.Container) (Namespace, engine.ContainerInfo, error) {
	// Two attempts: the first may use a cached PID whose process has
	// exited (the container restarted and the event is still on its way);
	// the second inspects afresh.
	for attempt := 0; attempt < 2; attempt++ {
		info, cached, err := c.inspect(ctx, ctr.ID)
		if errors.Is(err, engine.ErrContainerGone) {
			c.log.Debug("container gone before it could be reconciled", zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)))
			return nil, engine.ContainerInfo{}, errGone
		}
		if err != nil {
			if !c.engine.stalled {
				c.logError("inspect:"+ctr.ID, "cannot inspect container", err, zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)))
			}
			return nil, engine.ContainerInfo{}, err
		}
		c.errs.clear("inspect:" + ctr.ID)
		if !info.Running || info.PID <= 0 {
			c.log.Debug("container not running (any more)", zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)))
			return nil, engine.ContainerInfo{}, errGone
		}
		if info.NetworkMode.IsHost() {
			return nil, engine.ContainerInfo{}, errHostNamespace
		}
		if sk, ok := c.cfg.Namespaces.(SandboxKeyNamespaces); ok {
			// Sandbox mode: no namespace is opened by PID (sandbox_key.go).
			ns, retry, err := c.openBySandboxKey(ctx, ctr, info, cached, sk)
			if retry {
				continue
			}
			if err != nil {
				return nil, engine.ContainerInfo{}, err
			}
			return ns, info, nil
		}
		ns, err := c.cfg.Namespaces.OpenPID(info.PID)
		if err == nil {
			switch verr := c.checkSandbox(ctr, info, cached, ns); {
			case verr == nil:
			case cached:
				// Most likely the container restarted or stopped and the
				// PID is another process's now: ask the engine again.
				ns.Close()
				c.cache.forget(ctr.ID)
				continue
			default:
				ns.Close()
				c.cache.forget(ctr.ID)
				c.logError("sandbox:"+ctr.ID, "the process's network namespace is not the container's sandbox; nothing written, tried again next cycle", verr,
					zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.Int("pid", info.PID))
				return nil, engine.ContainerInfo{}, verr
			}
			c.errs.clear("open:" + ctr.ID)
			c.errs.clear("sandbox:" + ctr.ID)
			return ns, info, nil
		}
		if errors.Is(err, netnsutil.ErrNotFound) {
			c.cache.forget(ctr.ID)
			if cached {
				continue
			}
			c.log.Debug("container exited before its namespace could be opened", zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.Error(err))
			return nil, engine.ContainerInfo{}, errGone
		}
		fields := []zap.Field{zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.Int("pid", info.PID)}
		if errors.Is(err, netnsutil.ErrPermission) && info.SandboxKey != "" {
			// Without CAP_SYS_PTRACE a process of another user cannot be
			// entered through /proc; Docker's sandbox file is the same
			// namespace and needs no ptrace access.
			sns, serr := c.cfg.Namespaces.OpenSandbox(info.SandboxKey)
			if serr == nil {
				c.log.Debug("opened namespace through the sandbox file", zap.String("container", ctr.Name()), zap.Error(err))
				c.errs.clear("open:" + ctr.ID)
				return sns, info, nil
			}
			fields = append(fields, zap.NamedError("sandbox_error", serr))
		}
		if errors.Is(err, netnsutil.ErrPermission) {
			fields = append(fields, zap.String("hint", permissionHint))
		}
		c.logError("open:"+ctr.ID, "cannot open the container's network namespace; it is not protected", err, fields...)
		return nil, engine.ContainerInfo{}, err
	}
	return nil, engine.ContainerInfo{}, errGone
}

// permissionHint says which privileges opening a namespace takes: the
// kernel's EPERM does not, and the preflight probes at start cannot try
// every container's user.
const permissionHint = "dcfw needs CAP_SYS_PTRACE to open /proc/<pid>/ns/net of a process of another user " +
	"and CAP_SYS_ADMIN to enter a namespace (see deploy/docker-compose.yml); a security module (AppArmor, SELinux) can refuse too"

// inspect returns the container's details, from the cache when possible.
func (c *Controller) inspect(ctx context.Context, id string) (engine.ContainerInfo, bool, error) {
	if info, ok := c.cache[id]; ok {
		return info, true, nil
	}
	if c.engine.stalled {
		return engine.ContainerInfo{}, false, errEngineDown
	}
	d := c.callTimeout()
	callCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	info, err := awaitEngine(c, func() (engine.ContainerInfo, error) { return c.cfg.Engine.Inspect(callCtx, id) })
	if timedOut(ctx, err) {
		// One engine call that hangs is enough: the others of this
		// cycle would each wait as long.
		err = fmt.Errorf("inspect %s: no answer within %s: %w", engine.ShortID(id), d, err)
		c.engine.stalled = true
		c.engineTrouble(err)
	}
	if err != nil {
		return engine.ContainerInfo{}, false, err
	}
	// Only a running container's details are stable until its next event.
	if info.Running && info.PID > 0 {
		c.cache[id] = info
	}
	return info, false, nil
}

// refuseHost logs that a labelled container runs in the host's namespace,
// which dcfw never writes to, and returns how many errors that is (a
// container that only asks for no table is fine as it is).
func (c *Controller) refuseHost(ctr engine.Container, policy labels.Policy, perr error) int {
	if perr == nil && policy.State == labels.Disabled {
		c.log.Debug("container in the host's network namespace with dcfw disabled; nothing to do", zap.String("container", ctr.Name()))
		return 0
	}
	c.logError("host:"+ctr.ID, "container shares the host's network namespace; dcfw never changes the host's firewall, so it is NOT protected",
		errors.New("network_mode host is not supported"),
		zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.String("network_mode", engine.SafeName(string(ctr.NetworkMode))))
	return 1
}

// logError logs err at error level, unless the same error about the same
// subject was logged less than ErrorRepeat ago.
func (c *Controller) logError(subject, msg string, err error, fields ...zap.Field) {
	if c.errs.allow(subject, err.Error(), c.now()) {
		c.log.Error(msg, append(fields, zap.Error(err))...)
	}
}
