package reconcile

// The sandbox path: rules in place before a starting container's process
// runs (why and how the namespace is identified: docs/DESIGN.md).
//
//   - absorb (on the loop) caches each created container's labels and,
//     for a managed, in-scope container, asks the finder (package sandbox)
//     for its namespace, at its create event and again at its connect
//     event (a `docker start` of an existing container has no create
//     event). The finder only reads; its answers come through the queue.
//   - protectSandbox (on the loop) checks the namespace once more and
//     writes the full ruleset through the same enforce as the PID path.
//   - When the process runs, the PID path finds the table in place (zero
//     writes) and confirms the namespace (confirmSandbox); had the sandbox
//     path chosen another, the table it wrote there is removed.
//   - Anything uncertain leaves the container to the PID path, with the
//     reason logged. An unmanaged container is never written to.

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/sandbox"
)

// Paths that protect a container, as the "protection applied" log line
// names them (field "path").
const (
	pathSandbox = "sandbox" // before the process runs
	pathPID     = "pid"     // the normal path, through the running process
)

// knownContainer is what the controller knows about a container without
// inspecting it: from its create event, or from a listing.
type knownContainer struct {
	name   string
	labels map[string]string
	// fromEvent: the labels are the create event's attributes, in which
	// the engine's "name" and "image" replace labels of those names.
	fromEvent bool
	// stopped: by the events, the container is not running (created, or
	// died, and not started since). Such a container may be starting: it
	// is never inspected on the loop, where inspecting a starting
	// container would block until its process runs. A listing just after
	// the event does not clear it (it may still show the container
	// running); a start event does, a reconnect, or a listing at least an
	// Interval after stoppedAt that still shows it running (its start
	// event was lost: recoverLostStarts).
	stopped bool
	// image is the container's image: its name from the create event, or
	// its ID from a listing.
	image  string
	parsed bool
	policy labels.Policy
	perr   error

	// stoppedAt is when the loop took the event that set stopped.
	stoppedAt time.Time
}

func (k *knownContainer) parse() (labels.Policy, error) {
	if !k.parsed {
		k.policy, k.perr = labels.Parse(k.labels)
		k.parsed = true
	}
	return k.policy, k.perr
}

// startup follows one start of a container from its first network connect
// event until the PID path has seen its process.
type startup struct {
	token     uint64
	createAt  time.Time // engine time of the create event
	connectAt time.Time // engine time of the first connect event
	startAt   time.Time // engine time of the start event
	// cancel withdraws the pending request (nil: none pending).
	cancel context.CancelFunc
	// fallback is why the sandbox path did not protect the container.
	fallback string
	// Set once the sandbox path wrote: ns stays open until the PID path
	// confirms it is the process's namespace (its identity cannot be
	// reused meanwhile).
	protected bool
	ns        Namespace
	file      string // the sandbox file of ns
	appliedAt time.Time
}

func (s *startup) pending() bool { return s.cancel != nil }

func (s *startup) withdraw() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

// release withdraws the request and closes the namespace kept open.
func (s *startup) release() {
	s.withdraw()
	if s.ns != nil {
		s.ns.Close()
		s.ns = nil
	}
}

// sandboxPathOn reports whether the sandbox path runs.
func (c *Controller) sandboxPathOn() bool { return c.finder != nil }

// learnCreated caches a new container's labels from its create event.
func (c *Controller) learnCreated(ev engine.Event) {
	if c.known[ev.ContainerID] != nil {
		// Create is a container's first event: this one is replayed
		// (the subscription starts a little in the past) about a
		// container that was listed meanwhile.
		return
	}
	lbls := make(map[string]string, len(ev.Attributes))
	for k, v := range ev.Attributes {
		lbls[k] = v
	}
	k := &knownContainer{name: engine.SafeName(ev.Attributes["name"]), labels: lbls, image: ev.Attributes["image"],
		fromEvent: true, stopped: true, stoppedAt: c.now()}
	k.parse()
	c.known[ev.ContainerID] = k
	// The current engine has the namespace and the runtime's init process
	// in it before its connect event, and starts the process a few
	// milliseconds after that event: the search begins now. A container
	// that is only created times out quietly (createOnly).
	st := c.startupOf(ev.ContainerID)
	st.createAt = ev.Time
	if c.sandboxPathRefusal(k) == "" {
		c.requestBeforeStart(ev.ContainerID, k, st, ev.Time)
	}
}

// learnListed records the containers of a listing.
func (c *Controller) learnListed(list []engine.Container) {
	for _, ctr := range list {
		k := c.known[ctr.ID]
		switch {
		case k == nil:
			c.known[ctr.ID] = &knownContainer{name: ctr.Name(), labels: ctr.Labels, image: ctr.ImageID}
		case k.fromEvent:
			// A listing's labels are the real ones.
			*k = knownContainer{name: ctr.Name(), labels: ctr.Labels, image: ctr.ImageID, stopped: k.stopped, stoppedAt: k.stoppedAt}
		}
	}
}

// forgetKnown forgets what events told about containers, when the event
// stream reconnected: events may have been missed meanwhile. The next
// listing brings back the running ones; a container created meanwhile and
// started later is protected by the PID path.
func (c *Controller) forgetKnown() { clear(c.known) }

// stoppedByEvents reports whether the events say the container is not
// running (see knownContainer.stopped).
func (c *Controller) stoppedByEvents(id string) bool {
	k := c.known[id]
	return k != nil && k.stopped
}

// startSandboxPath starts the finder, unless the sandbox path is off (no
// Sandboxes, or a dry run: it would only log what the PID path logs a
// moment later).
func (c *Controller) startSandboxPath(ctx context.Context) {
	c.bgCtx, c.bgCancel = context.WithCancel(ctx)
	if c.cfg.Sandboxes == nil || c.cfg.DryRun {
		return
	}
	if err := c.cfg.Sandboxes.Start(c.bgCtx, c.hostID, c.cfg.Now); err != nil {
		c.log.Warn("sandbox path off: cannot watch the sandbox directory; containers are protected once their process runs",
			zap.Error(err))
		return
	}
	c.finder = c.cfg.Sandboxes
}

// stopSandboxPath stops the finder and the requests, and closes every
// namespace they or the startups hold.
func (c *Controller) stopSandboxPath() {
	c.bgCancel()
	if c.finder != nil {
		c.finder.Wait()
	}
	c.bg.Wait()
	c.resetStartups(c.queue.take().sandboxes)
	c.finder = nil
}

// endStartup ends a container's startup (it died, was destroyed, or is
// created anew).
func (c *Controller) endStartup(id string) {
	if st := c.startups[id]; st != nil {
		st.release()
		delete(c.startups, id)
	}
}

// resetStartups ends every startup and drops the finder's answers: after
// the event stream reconnected, events may have been missed.
func (c *Controller) resetStartups(answers []sandboxAnswer) {
	for _, a := range answers {
		a.Close()
	}
	for id := range c.startups {
		c.endStartup(id)
	}
}

// connected handles a network connect event. It reports whether the
// container is starting (then there is nothing to reconcile yet: it is
// not running, and inspecting it would block until it is).
func (c *Controller) connected(ev engine.Event) bool {
	st := c.startupOf(ev.ContainerID)
	if st.connectAt.IsZero() {
		st.connectAt = ev.Time
	}
	k := c.known[ev.ContainerID]
	if k == nil {
		// Created before dcfw started and never seen running: its
		// labels are unknown (inspect would block), so the PID path.
		st.fallback = "labels unknown (created before dcfw started)"
		return false
	}
	if !k.stopped {
		// A network added to a running container: the PID path.
		return false
	}
	c.requestBeforeStart(ev.ContainerID, k, st, ev.Time)
	return true
}

// startupOf returns the container's startup, made new if there is none.
func (c *Controller) startupOf(id string) *startup {
	st := c.startups[id]
	if st == nil {
		c.nextToken++
		st = &startup{token: c.nextToken}
		c.startups[id] = st
	}
	return st
}

// requestSlack: a request considers sandbox files born up to this long
// before its event. The current engine creates the sandbox file ~30 ms
// before its network connect event (a `docker start` of an existing
// container has no create event before it); the owner check, not the
// time, identifies the namespace.
const requestSlack = 2 * time.Second

// requestBeforeStart asks the finder for the namespace of a starting
// container (at its create event, and again at its connect event if no
// request is pending then), unless the sandbox path does not apply to it.
func (c *Controller) requestBeforeStart(id string, k *knownContainer, st *startup, at time.Time) {
	if st.pending() || st.protected {
		return // a further event of the same start
	}
	if !c.sandboxPathOn() {
		st.fallback = "sandbox path off"
		return
	}
	if why := c.sandboxPathRefusal(k); why != "" {
		st.fallback = why
		return
	}
	c.nextToken++
	st.token = c.nextToken
	ctx, cancel := context.WithCancel(c.bgCtx)
	st.cancel = cancel
	req := sandboxRequest{token: st.token, id: id, name: k.name, image: c.imageCheckFor(k)}
	find := sandbox.Request{
		Container: id,
		Since:     at.Add(-requestSlack),
		Asked:     at,
		Deadline:  c.now().Add(c.cfg.SandboxTimeout),
		Answer:    func(r sandbox.Result) { c.queue.pushSandbox(sandboxAnswer{req: req, Result: r}) },
	}
	eng, timeout, finder := c.cfg.Engine, c.cfg.APITimeout, c.finder
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		if a := req.image; a != nil && !a.done && a.ref != "" {
			// Off the loop, before the search: an image inspect takes
			// milliseconds, the namespace appears tens of them after the
			// create event, and the search considers files born since a
			// little before the request anyway.
			ctx, cancel := context.WithTimeout(ctx, timeout)
			a.labels, a.err = eng.ImageLabels(ctx, a.ref)
			a.done = true
			cancel()
		}
		finder.Submit(ctx, find)
	}()
}

// sandboxRequest is what the controller asked the finder, and needs again
// with the answer.
type sandboxRequest struct {
	token uint64 // the attempt's number (startup.token)
	id    string // container
	name  string
	// image is what the write must be checked against when dcfw labels
	// from the image are refused (nil: no check, see imageCheckFor).
	image *imageAnswer
}

// sandboxAnswer is the finder's answer to one request.
type sandboxAnswer struct {
	req sandboxRequest
	sandbox.Result
}

// imageAnswer is a starting container's image and its labels, looked up
// before the search (the request goroutine) or known already.
type imageAnswer struct {
	ref    string // ID or name, as the create event or a listing has it
	labels map[string]string
	err    error
	done   bool
}

// imageCheckFor says what the sandbox path's write must be checked
// against: nothing when dcfw labels from images are trusted or the labels
// lock the container down anyway; the image's labels when the loop knows
// them (a listing's image ID); else an answer for the request goroutine to
// fill in. The PID path checks again with the listed image ID.
func (c *Controller) imageCheckFor(k *knownContainer) *imageAnswer {
	if c.cfg.ImageLabels == ImageLabelsTrust {
		return nil
	}
	if _, perr := k.parse(); perr != nil {
		return nil
	}
	if l, ok := c.images[k.image]; ok {
		return &imageAnswer{ref: k.image, labels: l, done: true}
	}
	return &imageAnswer{ref: k.image}
}

// sandboxPathRefusal says why a starting container is not for the sandbox path
// ("" if it is). Containers the PID path would not protect are not
// either: unmanaged, out of scope, dcfw.enable=false, broken labels with
// --on-error=skip.
func (c *Controller) sandboxPathRefusal(k *knownContainer) string {
	if k.fromEvent && (c.cfg.Scope.Key == "name" || c.cfg.Scope.Key == "image") {
		return "the scope label is shadowed by the create event's own attribute of that name"
	}
	if !c.cfg.Scope.Includes(k.labels) {
		return "out of scope"
	}
	policy, perr := k.parse()
	switch {
	case perr != nil && c.cfg.OnError == Skip:
		return "invalid labels, --on-error=skip"
	case perr != nil:
		return ""
	case policy.State == labels.Unmanaged:
		return "not managed"
	case policy.State == labels.Disabled:
		return "dcfw.enable=false"
	}
	return ""
}

// drainSandboxes handles the finder's answers that came while the loop
// was busy, and starts the searches of containers created meanwhile: a starting container's process may be only tens of
// milliseconds away, and a cycle, a listing under load or a burst of
// other containers' starts may take longer than that. Called between the
// steps of a reconcile, where no namespace of a starting container is
// being worked on (they are not listed as running yet).
func (c *Controller) drainSandboxes() {
	if c.sandboxPathOn() {
		// Containers created meanwhile: the search for their namespace
		// starts now, not when the loop gets to their events (which
		// learnCreated then finds known).
		for _, ev := range c.queue.pendingCreates() {
			c.learnCreated(ev)
		}
		if rs := c.queue.takeSandboxes(); len(rs) > 0 {
			c.takeSandboxes(rs)
		}
	}
}

// awaitEngine runs an engine call on its own goroutine and, while waiting
// for it, writes the sandbox path's answers (not the queued create events:
// a listing may be what tells a replayed one from a new container). Under
// load a listing or an inspect takes tens of milliseconds, longer than a
// starting container's process is away. The writes stay on the loop.
func awaitEngine[T any](c *Controller, call func() (T, error)) (T, error) {
	if !c.sandboxPathOn() {
		return call()
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	for {
		select {
		case r := <-done:
			return r.v, r.err
		case <-c.queue.sandboxWake:
			if rs := c.queue.takeSandboxes(); len(rs) > 0 {
				c.takeSandboxes(rs)
			}
		}
	}
}

// takeSandboxes handles the finder's answers, on the loop.
func (c *Controller) takeSandboxes(answers []sandboxAnswer) {
	for _, r := range answers {
		st := c.startups[r.req.id]
		if st == nil || !st.pending() || st.token != r.req.token {
			// Withdrawn meanwhile (the process started, or the
			// container died): the PID path has it.
			r.Close()
			continue
		}
		st.withdraw()
		if r.Err != nil && st.connectAt.IsZero() && errors.Is(r.Err, sandbox.ErrTimeout) {
			// Created and not started (docker create): its connect
			// event, if it ever starts, asks again.
			c.log.Debug("container created but not started: no namespace yet",
				zap.String("container", r.req.name), zap.String("id", engine.ShortID(r.req.id)))
			continue
		}
		if r.Err != nil {
			c.sandboxFallback(st, r.req, r.Err.Error(), fallbackLevel(r.Err))
			continue
		}
		c.protectSandbox(st, r)
	}
}

func fallbackLevel(err error) zapcore.Level {
	switch {
	case errors.Is(err, sandbox.ErrAmbiguous):
		return zapcore.WarnLevel
	}
	return zapcore.InfoLevel
}

// sandboxFallback records and logs why the sandbox path leaves a container
// to the PID path.
func (c *Controller) sandboxFallback(st *startup, req sandboxRequest, why string, level zapcore.Level) {
	st.fallback = why
	if ce := c.log.Check(level, "sandbox path cannot protect the container before its process starts; the PID path will"); ce != nil {
		ce.Write(zap.String("container", req.name), zap.String("id", engine.ShortID(req.id)),
			zap.String("reason", why), zap.Duration("since_connect", time.Since(st.connectAt)))
	}
}

// protectSandbox writes a starting container's full ruleset into the
// namespace the finder found, after checking it once more.
func (c *Controller) protectSandbox(st *startup, r sandboxAnswer) {
	id := r.req.id
	k := c.known[id]
	ns := r.NS
	refuse := func(why string, level zapcore.Level) {
		ns.Close()
		c.sandboxFallback(st, r.req, why, level)
	}
	switch a, owned := c.applied[ns.ID()]; {
	case k == nil:
		refuse("container forgotten meanwhile", zapcore.DebugLevel)
		return
	case ns.ID() == c.hostID:
		refuse("the namespace found is the host's", zapcore.ErrorLevel)
		return
	case owned && !slices.Contains(a.holders, id):
		refuse("the namespace found already holds the rules of another container ("+engine.ShortID(a.holders[0])+")", zapcore.WarnLevel)
		return
	}

	policy, perr := k.parse()
	if perr == nil {
		perr = sandboxImageErrors(k, r.req.image)
		if perr != nil && c.cfg.OnError == Skip {
			// The PID path leaves such a container untouched.
			refuse("labels from the image (or its labels unknown), --on-error=skip", zapcore.InfoLevel)
			return
		}
	}
	var want desired
	switch {
	case perr != nil:
		// Logged with the label and rule text by the PID path, which
		// comes to the same lockdown.
		want = wantLockdown(id)
	default:
		d, err := c.wantSandboxNames(policy, id)
		if err != nil {
			d = wantLockdown(id) // as reconcileGroup does
		}
		want = d
	}
	// The container owns its namespace (a connect event means a network
	// of its own), so it is the owner whose ID goes into log prefixes, as
	// the PID path will compute too.
	ctr := engine.Container{ID: id, Names: []string{k.name}, Labels: k.labels}
	g := &nsGroup{ns: ns, members: []member{{ctr: ctr, policy: policy, perr: perr}}, sandbox: &r}
	if _, ok := c.enforce(g, ctr, want); !ok {
		refuse("the write failed", zapcore.InfoLevel)
		return
	}
	st.protected = true
	st.ns = ns
	st.file = r.File
	st.appliedAt = time.Now() // the wall clock: compared with the engine's stamps
	st.fallback = ""
}

// sandboxImageErrors is labels.FromImage on the sandbox path. The write
// before the process must never be weaker than what the PID path writes a
// moment later: an image whose labels could not be read (no image name in
// the event, an engine that did not answer) is a lockdown here, which the
// PID path, knowing the image by its ID, lifts if nothing comes from it.
func sandboxImageErrors(k *knownContainer, a *imageAnswer) error {
	switch {
	case a == nil:
		return nil
	case !a.done || a.err != nil || a.ref == "":
		why := "unknown"
		if a.err != nil {
			why = safeText(a.err.Error())
		}
		return labels.Errors{&labels.Error{Offset: -1, Err: labels.ErrFromImage,
			Msg: "the labels of the container's image are not known yet (" + why + ")"}}
	}
	if errs := labels.FromImage(k.labels, a.labels); len(errs) > 0 {
		return errs
	}
	return nil
}

// started handles a start (or restart) event.
func (c *Controller) started(ev engine.Event) {
	if k := c.known[ev.ContainerID]; k != nil {
		k.stopped = false
	}
	st := c.startups[ev.ContainerID]
	if st == nil {
		// No connect event (network_mode container:X): the time since
		// the start is still reported.
		st = &startup{}
		c.startups[ev.ContainerID] = st
	}
	st.startAt = ev.Time
	if st.pending() {
		st.withdraw()
		c.sandboxFallback(st, sandboxRequest{id: ev.ContainerID, name: c.knownName(ev.ContainerID)},
			"the process started before its namespace was identified", zapcore.InfoLevel)
	}
	if st.protected && st.appliedAt.After(ev.Time) {
		// Both clocks are this host's. The start event is sent when the
		// process has been started, so the first packets may have
		// passed unfiltered.
		c.log.Info("sandbox path applied the rules after the engine reported the process start",
			zap.String("container", c.knownName(ev.ContainerID)), zap.String("id", engine.ShortID(ev.ContainerID)),
			zap.Duration("late_by", st.appliedAt.Sub(ev.Time)))
	}
}

func (c *Controller) knownName(id string) string {
	if k := c.known[id]; k != nil && k.name != "" {
		return k.name
	}
	return engine.ShortID(id)
}

// confirmSandbox compares the namespace the PID path opened for a
// container with the one the sandbox path wrote to. They are the same unless
// the identification went wrong; then the table written there is removed
// (if no one else's rules have replaced it meanwhile).
func (c *Controller) confirmSandbox(ctr engine.Container, ns Namespace) {
	st := c.startups[ctr.ID]
	if st == nil || st.ns == nil {
		return
	}
	written := st.ns
	st.ns = nil
	defer written.Close()
	if written.ID() == ns.ID() {
		c.log.Debug("sandbox path confirmed: the process runs in the namespace it protected",
			zap.String("container", ctr.Name()), zap.String("namespace", ns.ID().String()))
		return
	}
	st.protected = false
	if c.cfg.Sandboxes != nil && c.cfg.Sandboxes.Removed(st.file, written.ID()) {
		// The process that ran there exited and the container started
		// again (a restart, or a process that died at once) before the
		// events said so: the namespace protected was this container's,
		// of its previous run, and Docker has removed it. Nothing to
		// repair; the new namespace is protected below as usual.
		delete(c.applied, written.ID())
		c.log.Debug("sandbox path protected the container's previous namespace, since removed",
			zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.String("sandbox", st.file))
		return
	}
	st.fallback = "the sandbox path protected another namespace"
	fields := []zap.Field{zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)),
		zap.String("protected", written.ID().String()), zap.String("process_namespace", ns.ID().String())}
	a, ok := c.applied[written.ID()]
	if !ok || !slices.Equal(a.holders, []string{ctr.ID}) {
		c.log.Error("sandbox path protected a namespace that is not the container's; it now holds other rules, left as they are", fields...)
		return
	}
	res, err := c.cfg.Firewall.Remove(written, false)
	if err != nil {
		c.log.Error("sandbox path protected a namespace that is not the container's; cannot remove the rules there", append(fields, zap.Error(err))...)
		return
	}
	delete(c.applied, written.ID())
	c.log.Error("sandbox path protected a namespace that is not the container's; rules removed there",
		append(fields, zap.Int("writes", res.Writes))...)
}

// doneStarting forgets the startups of the group's members whose
// process the PID path has now seen.
func (c *Controller) doneStarting(g *nsGroup) {
	for _, m := range g.members {
		if st := c.startups[m.ctr.ID]; st != nil && !st.startAt.IsZero() && m.pid > 0 {
			st.release()
			delete(c.startups, m.ctr.ID)
		}
	}
}

// pruneStartups ends startups whose last event is more than a minute old
// (a start that failed without a die event, a container the PID path
// does not manage, a network added to a running container), and those of
// started containers no longer running, so that nothing leaks.
func (c *Controller) pruneStartups(running map[string]bool) {
	// The startup's times are the engine's stamps, so the wall clock
	// measures their age; Config.Now is dcfw's own (deadlines, log rates).
	for id, st := range c.startups {
		stale := time.Since(st.createAt) > time.Minute && time.Since(st.connectAt) > time.Minute &&
			time.Since(st.startAt) > time.Minute
		gone := !st.startAt.IsZero() && !running[id]
		if stale || gone {
			c.endStartup(id)
		}
	}
}

// protectedBeforeStart reports whether one of the holders is a starting
// container the sandbox path protected: its namespace is not an orphan
// although no running container holds it yet.
func (c *Controller) protectedBeforeStart(holders []string) bool {
	for _, h := range holders {
		if st := c.startups[h]; st != nil && st.protected {
			return true
		}
	}
	return false
}

// pathFields are the "protection applied" line's fields on how the
// protection came: the path, and the time since the connect and start
// events where known (both clocks are this host's).
func (c *Controller) pathFields(g *nsGroup, owner engine.Container) []zap.Field {
	now := time.Now()
	if r := g.sandbox; r != nil {
		st := c.startups[owner.ID]
		fields := []zap.Field{zap.String("path", pathSandbox)}
		// The current engine sends the connect event after the rules are
		// in place: since_connect only where it came first (20.10).
		if st != nil && !st.connectAt.IsZero() {
			fields = append(fields, zap.Duration("since_connect", now.Sub(st.connectAt)))
		}
		if st != nil && !st.createAt.IsZero() {
			fields = append(fields, zap.Duration("since_create", now.Sub(st.createAt)))
		}
		// since_sandbox: the sandbox file appeared → the rules were in
		// place; since_found: its owner was identified → in place (hand-off
		// to the loop, and the write).
		return append(fields, zap.Duration("since_sandbox", now.Sub(r.Born)),
			zap.Duration("since_found", now.Sub(r.FoundAt)), zap.String("sandbox", r.File))
	}
	fields := []zap.Field{zap.String("path", c.runningPath())}
	st := c.startups[owner.ID]
	for i := 0; st == nil && i < len(g.members); i++ {
		st = c.startups[g.members[i].ctr.ID]
	}
	if st == nil {
		return fields
	}
	if !st.connectAt.IsZero() {
		fields = append(fields, zap.Duration("since_connect", now.Sub(st.connectAt)))
	}
	if !st.startAt.IsZero() {
		fields = append(fields, zap.Duration("since_start", now.Sub(st.startAt)))
	}
	if st.fallback != "" {
		fields = append(fields, zap.String("fallback", st.fallback))
	}
	return fields
}
