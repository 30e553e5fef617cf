package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/names"
	"github.com/dcfw/dcfw/reconcile"
)

// Strategy is how a cycle brings a namespace's table to its desired state.
type Strategy int

const (
	// MinimalDiff is dcfw's (reconcile.NFTFirewall): read the live table,
	// write only what differs; skip the read while the namespace's
	// nf_tables generation is the one dcfw last left it at.
	MinimalDiff Strategy = iota
	// Rewrite deletes and rewrites every table on every cycle
	// (FullRewrite), like the original DCFW did on every event.
	Rewrite
	// GenerationFloor and ControllerFloor are not strategies but
	// measurements of what is left of a cycle without dcfw's read and
	// compare (GenerationOnly), or without any firewall work at all
	// (NoFirewall).
	GenerationFloor
	ControllerFloor
)

func (s Strategy) String() string {
	switch s {
	case Rewrite:
		return "full rewrite"
	case GenerationFloor:
		return "gen-ID check only"
	case ControllerFloor:
		return "no firewall"
	}
	return "minimal diff"
}

// Firewall returns the strategy's firewall.
func (s Strategy) Firewall() reconcile.Firewall {
	switch s {
	case Rewrite:
		return FullRewrite{}
	case GenerationFloor:
		return GenerationOnly{}
	case ControllerFloor:
		return NoFirewall{}
	}
	return reconcile.NFTFirewall{}
}

// Fleet is N synthetic containers with the same labels, each backed by a
// real network namespace (a sleeper's), in a fake engine.
type Fleet struct {
	N        int
	Labels   map[string]string
	Engine   *enginetest.Engine
	sleepers *Sleepers
}

// NewFleet starts n sleepers and lists them as running containers with
// the given labels in an in-memory engine (enginetest). Close it.
func NewFleet(n int, l map[string]string) (*Fleet, error) {
	s, err := StartSleepers(n)
	if err != nil {
		return nil, err
	}
	d := enginetest.New()
	for i, pid := range s.PIDs() {
		d.Put(enginetest.Container{
			ID:      ContainerID(i),
			Name:    fmt.Sprintf("bench-%04d", i),
			Labels:  l,
			PID:     pid,
			Running: true,
		})
	}
	return &Fleet{N: n, Labels: l, Engine: d, sleepers: s}, nil
}

// PIDs of the sleepers behind the containers.
func (f *Fleet) PIDs() []int { return f.sleepers.PIDs() }

// Close stops the sleepers; their namespaces go with them.
func (f *Fleet) Close() error { return f.sleepers.Close() }

// Namespaces is how the fleet's namespaces are found: through procfs, as
// the daemon finds a container's (main.go's default flags).
var Namespaces = reconcile.ProcNamespaces{ProcDir: "/proc", NetnsDir: "/var/run/docker/netns"}

// SteadyOptions configure Fleet.Steady.
type SteadyOptions struct {
	Strategy Strategy
	// Warmup cycles run before the measured ones and are not measured;
	// the first cycle of a fresh fleet creates the tables.
	Warmup int
	Cycles int
	// Log is the controller's logger; nil: info level into io.Discard,
	// the daemon's default level (a steady cycle logs one line, its
	// summary, as Controller.Once does).
	Log *zap.Logger
	// Resolver resolves names (FleetResolver, for NamesLabels); nil: none.
	// The names it is asked for are counted (LookupsPerCycle).
	Resolver reconcile.NameResolver
	// Around, when set, is called just before the measured cycles, and
	// the function it returns just after them (e.g. a CPU profile).
	Around func() (stop func())
}

// Cycle is one measured reconcile cycle.
type Cycle struct {
	Wall       time.Duration
	CPU        time.Duration // user+system of this process
	Counts     Counts        // what the firewall did
	Mallocs    uint64        // heap allocations
	AllocBytes uint64        // bytes allocated
	Stats      reconcile.CycleStats
}

// SteadyResult is a steady-state run.
type SteadyResult struct {
	N             int
	Strategy      Strategy
	RulesPerTable int
	First         Cycle   // the first (warm-up) cycle: for a fresh fleet, creating every table
	Cycles        []Cycle // the measured cycles
	Memory        Memory  // this process's, after the measured cycles
	PeakIsRun     bool    // Memory.HWM is the peak of this run alone (ResetPeakMemory worked)
	// LookupsPerCycle: names looked up per measured cycle (mean), with a
	// Resolver.
	LookupsPerCycle float64
}

// Steady runs a new controller over the fleet with the given strategy:
// Warmup cycles, then Cycles measured ones. It fails if a cycle does not
// reconcile all N namespaces without error, or, for MinimalDiff, if a
// measured cycle writes anything: then nothing was steady and the figures
// would mean nothing.
func (f *Fleet) Steady(ctx context.Context, o SteadyOptions) (SteadyResult, error) {
	if o.Cycles < 1 {
		return SteadyResult{}, errors.New("bench: at least one measured cycle")
	}
	if o.Log == nil {
		o.Log = discardLogger()
	}
	tbl, err := Table(f.Labels, ContainerID(0))
	if err != nil {
		return SteadyResult{}, err
	}
	fw := &Counting{Inner: o.Strategy.Firewall(), Quiet: o.Strategy == Rewrite}
	var lookups atomic.Int64
	var counted reconcile.NameResolver
	if o.Resolver != nil {
		counted = countingResolver{o.Resolver, &lookups}
	}
	ctrl, err := reconcile.New(reconcile.Config{
		Engine:     f.Engine,
		Namespaces: Namespaces,
		Firewall:   fw,
		Log:        o.Log,
		Resolver:   counted,
	})
	if err != nil {
		return SteadyResult{}, err
	}
	res := SteadyResult{N: f.N, Strategy: o.Strategy, RulesPerTable: RuleCount(tbl)}
	res.PeakIsRun = ResetPeakMemory()

	for i := range max(o.Warmup, 1) {
		c, err := f.cycle(ctx, ctrl, fw)
		if err != nil {
			return res, fmt.Errorf("bench: %s, N=%d, warm-up cycle %d: %w", o.Strategy, f.N, i+1, err)
		}
		if i == 0 {
			res.First = c
		}
	}
	var stop func()
	if o.Around != nil {
		stop = o.Around()
	}
	lookups0 := lookups.Load()
	for i := range o.Cycles {
		c, err := f.cycle(ctx, ctrl, fw)
		if err == nil && o.Strategy != Rewrite && c.Counts.Writes != 0 {
			err = fmt.Errorf("wrote %d netlink messages in %d namespaces although nothing changed", c.Counts.Writes, c.Counts.Written)
		}
		if err == nil && o.Strategy == Rewrite && c.Counts.Written != f.N {
			err = fmt.Errorf("rewrote %d tables, want all %d", c.Counts.Written, f.N)
		}
		if err != nil {
			if stop != nil {
				stop()
			}
			return res, fmt.Errorf("bench: %s, N=%d, cycle %d: %w", o.Strategy, f.N, i+1, err)
		}
		res.Cycles = append(res.Cycles, c)
	}
	if stop != nil {
		stop()
	}
	res.LookupsPerCycle = float64(lookups.Load()-lookups0) / float64(len(res.Cycles))
	res.Memory, err = ReadMemory(0)
	return res, err
}

// cycle runs and measures one full reconcile (Controller.Once, what every
// --interval tick runs).
func (f *Fleet) cycle(ctx context.Context, ctrl *reconcile.Controller, fw *Counting) (Cycle, error) {
	counts0 := fw.Counts()
	mallocs0, bytes0 := Allocs()
	cpu0 := CPUTime()
	start := time.Now()
	st, err := ctrl.Once(ctx)
	wall := time.Since(start)
	cpu := CPUTime() - cpu0
	mallocs1, bytes1 := Allocs()
	c := Cycle{
		Wall: wall, CPU: cpu,
		Counts:  fw.Counts().Sub(counts0),
		Mallocs: mallocs1 - mallocs0, AllocBytes: bytes1 - bytes0,
		Stats: st,
	}
	switch {
	case err != nil:
		return c, err
	case st.Errors != 0 || c.Counts.Errors != 0:
		return c, fmt.Errorf("%d errors (controller), %d (firewall)", st.Errors, c.Counts.Errors)
	case st.Managed != f.N || c.Counts.Applies != f.N:
		return c, fmt.Errorf("managed %d namespaces with %d applies, want %d", st.Managed, c.Counts.Applies, f.N)
	}
	return c, nil
}

// discardLogger is the daemon's default logger (info level, console
// encoding, as main.go builds it) writing nowhere.
func discardLogger() *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

// Walls, CPUs: the measured cycles' figures.
func (r SteadyResult) Walls() []time.Duration {
	out := make([]time.Duration, len(r.Cycles))
	for i, c := range r.Cycles {
		out[i] = c.Wall
	}
	return out
}

func (r SteadyResult) CPUs() []time.Duration {
	out := make([]time.Duration, len(r.Cycles))
	for i, c := range r.Cycles {
		out[i] = c.CPU
	}
	return out
}

// Mallocs and AllocBytes per measured cycle.
func (r SteadyResult) Mallocs() []uint64 {
	out := make([]uint64, len(r.Cycles))
	for i, c := range r.Cycles {
		out[i] = c.Mallocs
	}
	return out
}

func (r SteadyResult) AllocBytes() []uint64 {
	out := make([]uint64, len(r.Cycles))
	for i, c := range r.Cycles {
		out[i] = c.AllocBytes
	}
	return out
}

// WritesPerCycle and WrittenPerCycle: netlink messages, and namespaces
// written, per measured cycle (mean).
func (r SteadyResult) WritesPerCycle() float64 {
	var n int
	for _, c := range r.Cycles {
		n += c.Counts.Writes
	}
	return float64(n) / float64(max(len(r.Cycles), 1))
}

func (r SteadyResult) WrittenPerCycle() float64 {
	var n int
	for _, c := range r.Cycles {
		n += c.Counts.Written
	}
	return float64(n) / float64(max(len(r.Cycles), 1))
}

// countingResolver counts the names a NameResolver is asked for.
type countingResolver struct {
	reconcile.NameResolver
	n *atomic.Int64
}

func (r countingResolver) Resolve(ctx context.Context, q reconcile.NameQuery) []names.Result {
	r.n.Add(int64(len(q.Names)))
	return r.NameResolver.Resolve(ctx, q)
}
