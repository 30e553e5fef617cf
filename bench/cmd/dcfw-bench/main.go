// Command dcfw-bench measures dcfw's steady-state cycle (minimal diff and
// full rewrite) and its apply cost against table size, on real network
// namespaces and the real kernel, and prints a table (see BENCHMARKS.md).
// It needs root. scripts/bench.sh runs it, then the time-to-protect
// benchmark against the Docker engine.
//
//	sudo dcfw-bench                       # N=100,500; 20/100/1000 rules
//	sudo dcfw-bench -n 500 -cycles 30 -cpuprofile steady.pprof
//	go tool pprof -top dcfw-bench steady.pprof
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dcfw/dcfw/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "dcfw-bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) == 2 && os.Args[1] == bench.ServeDNSCommand {
		return bench.ServeFleetDNS(os.Stdin, os.Stdout)
	}
	ns := flag.String("n", "100,500", "numbers of managed namespaces for the steady-state cycle (comma-separated; empty: skip)")
	cycles := flag.Int("cycles", 15, "measured cycles per N and strategy")
	warmup := flag.Int("warmup", 2, "warm-up cycles before the measured ones (the first creates the tables)")
	sizes := flag.String("sizes", "20,100,1000", "table sizes, in kernel rules of table inet dcfw, for the apply cost (comma-separated; empty: skip)")
	reps := flag.Int("reps", 20, "repetitions per table size and kind of apply")
	floors := flag.Bool("floors", true, "also measure the cycle with the firewall's part replaced (gen-ID check only, no firewall), to show where the time goes")
	namesN := flag.String("names-n", "500", "numbers of namespaces for the steady-state cycle with names (comma-separated; empty: skip)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured minimal-diff cycles at the largest N to `file`")
	cpuprofileNames := flag.String("cpuprofile-names", "", "write a CPU profile of the measured cycles with names at the largest -names-n to `file`")
	cpuprofileRewrite := flag.String("cpuprofile-rewrite", "", "write a CPU profile of the measured full-rewrite cycles at the largest N to `file`")
	flag.Parse()

	nList, err := ints(*ns)
	if err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	sizeList, err := ints(*sizes)
	if err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, nftables): run it with sudo, or use scripts/bench.sh")
	}

	// ^C and SIGTERM end the run between cycles; the sleepers are then
	// stopped by the deferred Close (and by the kernel, should this
	// process die first).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("dcfw benchmarks, %s\n", time.Now().Format(time.RFC3339))
	fmt.Printf("machine: %s\n", bench.Machine())

	var steady []bench.SteadyResult
	for i, n := range nList {
		largest := i == len(nList)-1
		rs, err := runSteady(ctx, n, *warmup, *cycles, *floors, profileIf(largest, *cpuprofile), profileIf(largest, *cpuprofileRewrite))
		steady = append(steady, rs...)
		if err != nil {
			return err
		}
	}
	bench.PrintSteady(os.Stdout, steady)

	namesList, err := ints(*namesN)
	if err != nil {
		return fmt.Errorf("-names-n: %w", err)
	}
	var withNames []bench.SteadyResult
	for i, n := range namesList {
		r, err := runNames(ctx, n, *warmup, *cycles, profileIf(i == len(namesList)-1, *cpuprofileNames))
		if err != nil {
			return err
		}
		withNames = append(withNames, r)
	}
	bench.PrintNames(os.Stdout, withNames, steady)

	var costs []bench.ApplyCost
	if len(sizeList) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		costs, err = bench.ApplySizes(sizeList, *reps)
		if err != nil {
			return err
		}
		bench.PrintApply(os.Stdout, costs)
	}
	bench.PrintTargets(os.Stdout, steady, costs)
	fmt.Printf("\nafter the run: %s\n", bench.Load())
	return nil
}

// runSteady measures both strategies over one fleet of n namespaces:
// minimal diff first (its first warm-up cycle creates the tables), then
// full rewrite on the same namespaces, then (floors) the cycle with the
// firewall's part replaced.
func runSteady(ctx context.Context, n, warmup, cycles int, floors bool, profMin, profFull string) ([]bench.SteadyResult, error) {
	fmt.Fprintf(os.Stderr, "steady state: starting %d namespaces...\n", n)
	f, err := bench.NewFleet(n, bench.SteadyLabels())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []bench.SteadyResult
	runs := []struct {
		strategy bench.Strategy
		profile  string
	}{{bench.MinimalDiff, profMin}, {bench.Rewrite, profFull}}
	if floors {
		runs = append(runs, struct {
			strategy bench.Strategy
			profile  string
		}{bench.GenerationFloor, ""}, struct {
			strategy bench.Strategy
			profile  string
		}{bench.ControllerFloor, ""})
	}
	for _, s := range runs {
		fmt.Fprintf(os.Stderr, "steady state: N=%d, %s, %d+%d cycles...\n", n, s.strategy, warmup, cycles)
		o := bench.SteadyOptions{Strategy: s.strategy, Warmup: warmup, Cycles: cycles}
		if s.profile != "" {
			o.Around = cpuProfile(s.profile)
		}
		r, err := f.Steady(ctx, o)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func profileIf(ok bool, file string) string {
	if ok {
		return file
	}
	return ""
}

// cpuProfile returns an Around hook that profiles into file.
func cpuProfile(file string) func() func() {
	return func() func() {
		f, err := os.Create(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dcfw-bench: cpu profile: %v\n", err)
			return func() {}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "dcfw-bench: cpu profile: %v\n", err)
			f.Close()
			return func() {}
		}
		return func() {
			pprof.StopCPUProfile()
			f.Close()
			fmt.Fprintf(os.Stderr, "cpu profile written to %s\n", file)
		}
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runNames measures the minimal-diff cycle over a fleet whose labels use
// names, each namespace with a DNS server of its own.
func runNames(ctx context.Context, n, warmup, cycles int, profile string) (bench.SteadyResult, error) {
	fmt.Fprintf(os.Stderr, "names: starting %d namespaces and their DNS servers...\n", n)
	f, err := bench.NewFleet(n, bench.NamesLabels())
	if err != nil {
		return bench.SteadyResult{}, err
	}
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		return bench.SteadyResult{}, err
	}
	stop, err := bench.StartFleetDNS(exe, f.PIDs())
	if err != nil {
		return bench.SteadyResult{}, err
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "names: N=%d, minimal diff, %d+%d cycles...\n", n, warmup, cycles)
	o := bench.SteadyOptions{Strategy: bench.MinimalDiff, Warmup: warmup, Cycles: cycles,
		Resolver: bench.FleetResolver{}}
	if profile != "" {
		o.Around = cpuProfile(profile)
	}
	r, err := f.Steady(ctx, o)
	if err == nil {
		err = f.CheckNameSets()
	}
	return r, err
}
