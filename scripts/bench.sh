#!/usr/bin/env bash
# dcfw's benchmarks (the figures are in BENCHMARKS.md), in one command,
# as root:
#
#     bash scripts/bench.sh        (as root; from a user account: sudo bash ...)
#
# It prints the machine, then runs
#
#   1-3   bench/cmd/dcfw-bench: the steady-state reconcile cycle over N real
#         network namespaces (minimal diff, full rewrite, and where the time
#         goes), the same cycle with names in the rules, and the apply cost
#         against table size. Needs root, not Docker.
#   4     the time-to-protect benchmark against the Docker engine
#         (bench TestBenchTimeToProtect, DCFW_BENCH=1).
#   5     the engine's start sequence, what the sandbox path builds on
#         (bench TestBenchStartupEvents, DCFW_BENCH=1).
#         4 and 5 are skipped, saying so, when no engine answers.
#
# and writes everything it prints to a report file as well.
#
# Knobs (environment): DCFW_BENCH_N (steady-state sizes, default 100,500),
# DCFW_BENCH_CYCLES (measured cycles, default 15), DCFW_BENCH_NAMES_N
# (sizes of the cycle with names, default 500; empty: skip), DCFW_BENCH_SIZES (table
# sizes, default 20,100,1000), DCFW_BENCH_REPS (applies per size and kind,
# default 20), DCFW_BENCH_CONTAINERS (containers per time-to-protect run,
# default 20), DCFW_BENCH_PROFILE_DIR (write CPU profiles of the largest
# steady-state cycle there), DCFW_BENCH_SKIP_DOCKER=1 (skip parts 4 and 5),
# DCFW_BENCH_OUT (the report file; default /tmp/dcfw-bench-<time>.txt).
#
# Numbers are only comparable on a quiet machine: the report records the
# load average before and after each part.
set -euo pipefail

N=${DCFW_BENCH_N:-100,500}
CYCLES=${DCFW_BENCH_CYCLES:-15}
NAMES_N=${DCFW_BENCH_NAMES_N-500}
SIZES=${DCFW_BENCH_SIZES:-20,100,1000}
REPS=${DCFW_BENCH_REPS:-20}
CONTAINERS=${DCFW_BENCH_CONTAINERS:-20}
OUT=${DCFW_BENCH_OUT:-/tmp/dcfw-bench-$(date +%Y%m%d-%H%M%S).txt}

die() {
	printf 'scripts/bench.sh: error: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, nftables): sudo bash scripts/bench.sh"
cd "$(dirname "$0")/.."

GO=$(command -v go || true)
[ -n "$GO" ] || GO=/usr/local/go/bin/go
[ -x "$GO" ] || die "the go command is needed (Go 1.26, see go.mod)"

work=$(mktemp -d /tmp/dcfw-bench-build-XXXXXX)
trap 'rm -rf "$work"' EXIT

exec > >(tee "$OUT") 2>&1

echo "==> dcfw benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
case $commit in
*-dirty) commit="$commit (the working tree's uncommitted changes are included)" ;;
esac
echo "    commit:  $commit"
echo "    machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r), $(free -m | awk '/^Mem:/ {print $2 " MB RAM"}')"
echo "    go:      $("$GO" version)"
if [ "${DCFW_BENCH_SKIP_DOCKER:-}" = 1 ]; then
	# Skipping parts 4 and 5 means not touching the engine at all.
	echo "    docker:  not asked (DCFW_BENCH_SKIP_DOCKER=1)"
elif docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' >/dev/null 2>&1; then
	echo "    docker:  $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
else
	echo "    docker:  not reachable"
fi
echo "    load:    $(uptime)"
echo

echo "==> parts 1-3: steady state, full rewrite, apply cost (bench/cmd/dcfw-bench)"
"$GO" build -o "$work/dcfw-bench" ./bench/cmd/dcfw-bench
args=(-n "$N" -cycles "$CYCLES" -sizes "$SIZES" -reps "$REPS" -names-n "$NAMES_N")
if [ -n "${DCFW_BENCH_PROFILE_DIR:-}" ]; then
	mkdir -p "$DCFW_BENCH_PROFILE_DIR"
	cp "$work/dcfw-bench" "$DCFW_BENCH_PROFILE_DIR/dcfw-bench"
	args+=(-cpuprofile "$DCFW_BENCH_PROFILE_DIR/steady-minimal.pprof" -cpuprofile-rewrite "$DCFW_BENCH_PROFILE_DIR/steady-rewrite.pprof")
fi
"$work/dcfw-bench" "${args[@]}"
echo

if [ "${DCFW_BENCH_SKIP_DOCKER:-}" = 1 ]; then
	echo "==> parts 4-5: with the Docker engine SKIPPED (DCFW_BENCH_SKIP_DOCKER=1)"
elif ! docker version >/dev/null 2>&1; then
	echo "==> parts 4-5: with the Docker engine SKIPPED: no Docker engine answers (start it: systemctl start docker, or dockerd &)"
else
	echo "==> part 4: time-to-protect with the Docker engine (bench TestBenchTimeToProtect)"
	echo "    load: $(uptime)"
	DCFW_BENCH=1 DCFW_BENCH_CONTAINERS="$CONTAINERS" "$GO" test ./bench -run '^TestBenchTimeToProtect$' -count=1 -v -timeout 30m
	echo "    load after: $(uptime)"
	echo
	echo "==> part 5: the engine's start sequence (bench TestBenchStartupEvents)"
	DCFW_BENCH=1 "$GO" test ./bench -run '^TestBenchStartupEvents$' -count=1 -v -timeout 10m
fi
echo
echo "==> report written to $OUT"
