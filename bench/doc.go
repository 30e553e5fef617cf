// Package bench measures dcfw's cost on real network namespaces and the
// real kernel (the figures and how to reproduce them are in BENCHMARKS.md).
// Run it all with `sudo bash scripts/bench.sh`; the pieces:
//
//   - Steady state (SteadyState): N synthetic containers in an in-memory
//     engine (enginetest.Engine), each backed by a real network namespace
//     held by a sleeping process of its own (Sleepers), found the way the daemon
//     finds them (reconcile.ProcNamespaces, /proc/<pid>/ns/net), and
//     reconciled by the real controller (reconcile.New, Controller.Once)
//     over the real nftables code (reconcile.NFTFirewall). Per cycle: wall
//     and CPU time (getrusage of this process), netlink writes and batches
//     (Counting, from nft.Result), allocations (runtime.MemStats); and the
//     process's resident memory (/proc/self/status).
//   - The same cycle as a full rewrite (FullRewrite: delete the table and
//     write it again on every reconcile, what the original DCFW did on
//     every event), on the same namespaces in the same run.
//   - Apply cost against table size (ApplySizes): first apply, one changed
//     rule, nothing changed, for tables of 20, 100 and 1,000 kernel rules
//     (RuleCount: all chains of `table inet dcfw`).
//   - Time-to-protect against the real engine (TestBenchTimeToProtect) and
//     the engine's start sequence that the sandbox path builds on
//     (TestBenchStartupEvents): tests of this directory that run only with
//     DCFW_BENCH=1, written with internal/harness as the e2e tests are.
//
// Everything is measured, nothing asserted about speed: the only checks are
// correctness properties that make a figure meaningful (a steady cycle
// writes nothing and reconciles every namespace without error; a one-rule
// change writes something, and which chains it wrote is reported), and a
// violation is an error, not a slow number.
//
// Be aware:
//   - Only the engine is synthetic (enginetest.Engine): its ListRunning
//     clones each container's labels, where the real client decodes JSON from the
//     engine's socket, so the real daemon's cycle costs one engine list more
//     than measured here (the controller caches inspect results, so a steady
//     cycle inspects nothing).
//   - The resident memory is this process's: the controller and its
//     caches, the fake engine's containers, and this package's
//     bookkeeping; not the real Docker client's.
//   - Sleepers need root (CAP_SYS_ADMIN for CLONE_NEWNET). They are killed
//     by Close, and by the kernel if this process dies (PR_SET_PDEATHSIG);
//     as a last resort each sleeps for a bounded time only.
package bench
