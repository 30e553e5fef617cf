package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/netnsutil"
)

// OnError says what to do with a container whose labels have errors.
type OnError int

const (
	// Lockdown (the default) fails closed: the namespace gets a table that
	// drops everything except loopback.
	Lockdown OnError = iota
	// Skip leaves the namespace untouched.
	Skip
)

// ParseOnError parses the --on-error flag value.
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "lockdown":
		return Lockdown, nil
	case "skip":
		return Skip, nil
	}
	return 0, fmt.Errorf("invalid on-error mode %q: want lockdown or skip", s)
}

func (o OnError) String() string {
	if o == Skip {
		return "skip"
	}
	return "lockdown"
}

// Config wires a Controller.
type Config struct {
	Engine     Engine
	Namespaces Namespaces
	Firewall   Firewall
	Log        *zap.Logger

	// Interval between full reconciles (default 10s).
	Interval time.Duration
	// DryRun reports what would change and writes nothing.
	DryRun bool
	// OnError: what to do with containers whose labels have errors.
	OnError OnError
	// Scope limits dcfw to containers with a label (zero: all).
	Scope Scope
	// ImageLabels: what to do with dcfw labels that come from the
	// container's image (images.go).
	ImageLabels ImageLabels
	// Strict locks down containers that could change their own rules
	// (NET_ADMIN, SYS_ADMIN, --privileged) instead of warning about them
	// (privileges.go).
	Strict bool

	// ErrorRepeat is how long an unchanged error stays quiet in the log
	// after it was logged (default 10 minutes).
	ErrorRepeat time.Duration
	// Backoff bounds reconnects to the event stream (default 250ms..10s).
	Backoff Backoff
	// APITimeout bounds each call to the engine (default 30s): list,
	// inspect, and the answer to an event subscription. While the engine
	// does not answer, list calls are bounded by half the Interval too.
	APITimeout time.Duration
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time

	// Sandboxes finds a starting container's namespace, for the sandbox
	// path that protects it before its process runs (sandbox_path.go).
	// nil turns the sandbox path off, and so does DryRun.
	Sandboxes SandboxFinder
	// SandboxTimeout bounds the search for a starting container's
	// namespace (default 30s). The search normally ends earlier: found,
	// or withdrawn by the container's start or die event. In a burst of
	// starts the engine takes seconds from a container's connect event
	// to its process (6 s measured for 20 at once on 2 cores), so the
	// bound is generous.
	SandboxTimeout time.Duration

	// LogBlocked says where the tables' log rules send what they log
	// (droplog.go); LogDcfw needs DropLog, which reads it.
	LogBlocked LogBlocked
	DropLog    DropLog
	// Resolver resolves the names of rules in each container's namespace
	// (names.go). nil: names stand for nothing (allow rules with names
	// allow nothing, deny and reject rules with names lock down).
	Resolver NameResolver
	// NameTimeout bounds the lookups of one namespace's names in one
	// reconcile (default 3s); a name that does not answer in time keeps
	// the addresses it had (names.Cache).
	NameTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.ErrorRepeat <= 0 {
		c.ErrorRepeat = 10 * time.Minute
	}
	if c.Backoff.Min <= 0 {
		c.Backoff.Min = 250 * time.Millisecond
	}
	if c.Backoff.Max < c.Backoff.Min {
		c.Backoff.Max = max(10*time.Second, c.Backoff.Min)
	}
	if c.APITimeout <= 0 {
		c.APITimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.SandboxTimeout <= 0 {
		c.SandboxTimeout = 30 * time.Second
	}
	if c.NameTimeout <= 0 {
		c.NameTimeout = 3 * time.Second
	}
}

// Controller keeps every labelled container's namespace in the state its
// labels describe. All reconciling happens on one goroutine (Run's, or the
// caller's for Reconcile), so there are never two writers to one namespace
// and the state below needs no locks.
type Controller struct {
	cfg   Config
	log   *zap.Logger
	queue *workQueue

	hostID  netnsutil.ID
	cache   inspectCache
	applied appliedState
	errs    *errorLimiter
	// verdicts remembers what each distinct set of dcfw labels says.
	verdicts *verdictCache
	images   imageCache
	engine   engineState
	// names are the addresses of names in rules (names.go).
	names nameState
	// rawUnfiltered: the kernel has no egress hook (said once, see
	// reportEgress).
	rawUnfiltered bool

	// The sandbox path (sandbox_path.go). The maps belong to the loop like the
	// rest; the finder and the request goroutines (counted by bg, ended
	// by bgCtx) only read and send their answers through the queue.
	known     map[string]*knownContainer
	startups  map[string]*startup
	nextToken uint64
	finder    SandboxFinder // nil: the sandbox path is off
	bgCtx     context.Context
	bgCancel  context.CancelFunc
	bg        sync.WaitGroup

	// logged are desired tables rewritten for LogBlocked (droplog.go);
	// status is what `dcfw status` reports, asked for through statusQ
	// (status.go).
	logged  map[string]*loggedTable
	status  map[netnsutil.ID]*nsStatus
	statusQ chan chan Status
}

// New returns a controller. It does not contact the engine or the kernel.
func New(cfg Config) (*Controller, error) {
	if cfg.Engine == nil || cfg.Namespaces == nil || cfg.Firewall == nil {
		return nil, errors.New("reconcile: Engine, Namespaces and Firewall are required")
	}
	if cfg.LogBlocked == LogDcfw && cfg.DropLog == nil {
		return nil, errors.New("reconcile: LogBlocked dcfw needs a DropLog")
	}
	cfg.setDefaults()
	return &Controller{
		cfg:      cfg,
		log:      cfg.Log,
		queue:    newWorkQueue(),
		cache:    inspectCache{},
		applied:  appliedState{},
		errs:     newErrorLimiter(cfg.ErrorRepeat),
		verdicts: newVerdictCache(),
		images:   imageCache{},
		known:    map[string]*knownContainer{},
		startups: map[string]*startup{},
		logged:   map[string]*loggedTable{},
		status:   map[netnsutil.ID]*nsStatus{},
		statusQ:  make(chan chan Status),
		names:    newNameState(),
	}, nil
}

func (c *Controller) now() time.Time { return c.cfg.Now() }

// identifyHost learns the host's namespace identity once: every namespace
// dcfw opens is compared with it before anything is written.
func (c *Controller) identifyHost() error {
	if !c.hostID.IsZero() {
		return nil
	}
	id, err := c.cfg.Namespaces.HostID()
	if err != nil {
		return fmt.Errorf("identify the host's network namespace (needed to never write there): %w", err)
	}
	c.hostID = id
	return nil
}

// Once runs one full reconcile, for --once. The error is about the cycle
// as a whole (engine unreachable, host namespace unknown); problems with
// single containers are counted in the stats.
func (c *Controller) Once(ctx context.Context) (CycleStats, error) {
	if err := c.identifyHost(); err != nil {
		return CycleStats{}, err
	}
	st, err := c.reconcileAll(ctx)
	c.logSummary("reconcile finished", st, err, true)
	return st, err
}

// Run reconciles until ctx ends: it subscribes to the engine's events
// first, then reconciles everything, then reconciles everything every
// Interval and the affected containers at once on each event. It returns
// nil when ctx ends (rules stay in place), or an error if it cannot start.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.identifyHost(); err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		c.watch(watchCtx)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()
	c.startSandboxPath(ctx)
	defer c.stopSandboxPath()

	ticker := time.NewTicker(c.cfg.Interval)
	defer ticker.Stop()
	first := true
	for {
		tick := false
		select {
		case <-ctx.Done():
			c.log.Info("stopping; rules stay in place")
			return nil
		case <-ticker.C:
			tick = true
		case <-c.queue.wake:
		case reply := <-c.statusQ:
			reply <- c.statusReport()
			continue
		}
		w := c.queue.take()
		switch {
		case w.resync:
			// A new subscription: events may have been missed while none
			// was open, so nothing cached can be trusted.
			c.absorb(w.events)
			c.cache.flush()
			c.resetStartups(w.sandboxes)
			c.forgetKnown()
			msg := "reconcile after reconnect"
			if first {
				msg, first = "initial reconcile", false
			}
			st, err := c.reconcileAll(ctx)
			if err != nil {
				c.engineTrouble(err)
				c.maintainKnown(nil)
			} else {
				c.engineAnswers()
			}
			c.logSummary(msg, st, err, true)
			ticker.Reset(c.cfg.Interval)
		case tick && w.up:
			// Pending events only invalidate here: the full cycle covers
			// their containers.
			c.absorb(w.events)
			c.takeSandboxes(w.sandboxes)
			c.periodic(ctx)
		case tick:
			// The stream is down (the engine most likely too): the
			// reconnect brings a full reconcile; meanwhile the known
			// namespaces are checked without the engine.
			c.maintainKnown(nil)
		case len(w.events) > 0 || len(w.sandboxes) > 0:
			c.handleEvents(ctx, w.events, w.sandboxes)
		}
	}
}

// periodic is one cycle of the ticker: a full reconcile whose summary is
// logged at info only when it changed something.
//
// While the engine does not answer, the known namespaces are checked
// without it first, and then it is tried again (with a shorter deadline).
func (c *Controller) periodic(ctx context.Context) CycleStats {
	var kept CycleStats
	maintained := c.engine.down
	if maintained {
		kept = c.maintainKnown(nil)
	}
	st, err := c.reconcileAll(ctx)
	if err != nil {
		c.engineTrouble(err)
		if !maintained {
			kept = c.maintainKnown(nil)
		}
		return kept
	}
	c.logSummary("reconcile cycle", st, nil, false)
	return st
}

// CycleStats counts what one reconcile found and did.
type CycleStats struct {
	Containers int // running containers seen
	Managed    int // namespaces that hold (or should hold) a dcfw table
	Changed    int // namespaces written (or that would be, in dry-run)
	Removed    int // namespaces whose table was removed (dcfw.enable=false)
	Errors     int // containers or namespaces not in their desired state
	Duration   time.Duration
}

func (s *CycleStats) add(o CycleStats) {
	s.Containers += o.Containers
	s.Managed += o.Managed
	s.Changed += o.Changed
	s.Removed += o.Removed
	s.Errors += o.Errors
}

func (c *Controller) logSummary(msg string, st CycleStats, err error, always bool) {
	fields := []zap.Field{
		zap.Int("containers", st.Containers),
		zap.Int("managed", st.Managed),
		zap.Int("changed", st.Changed),
		zap.Int("removed", st.Removed),
		zap.Int("errors", st.Errors),
		zap.Duration("duration", st.Duration),
	}
	if c.cfg.DryRun {
		fields = append(fields, zap.Bool("dry_run", true))
	}
	switch {
	case err != nil:
		if c.errs.allow("cycle", err.Error(), c.now()) {
			c.log.Error(msg+" failed", append(fields, zap.Error(err))...)
		}
	case always || (!c.cfg.DryRun && (st.Changed > 0 || st.Removed > 0)):
		// A dry run "changes" the same namespaces in every cycle; each
		// one's would-line is rate-limited, and so is its summary.
		c.errs.clear("cycle")
		c.log.Info(msg, fields...)
	default:
		c.errs.clear("cycle")
		c.log.Debug(msg, fields...)
	}
}
