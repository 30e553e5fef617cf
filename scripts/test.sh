#!/usr/bin/env bash
# The whole dcfw test suite, on a fresh Debian 12 machine or a developer's:
#
#     sudo bash scripts/test.sh            (as root; CI runs it via .ci/run)
#
# It installs what is missing (Docker engine, nftables, iproute2, Go...),
# starts the Docker engine if none answers, loads the kernel modules the
# tests may need, and then runs:
#
#   gofmt     every Go file is formatted
#   vet       go vet ./...
#   test      go test of every package but e2e: unit tests and kernel
#             tests (real network namespaces, real nftables)
#   e2e-ENGINE
#             go test ./e2e: end-to-end tests (real engine, real
#             containers), once per engine of DCFW_ENGINES, one after the
#             other (scripts/engines.sh): Debian's Docker 20.10 with
#             docker-compose 1.29, and the current engine (moby daemon
#             v2, API 1.56) with Compose v2, built once and cached
#   e2e-ENGINE-restart
#             go test ./e2e -run TestControllerSurvivesEngineRestart, right
#             after e2e-ENGINE: the one test that stops and starts the
#             engine, alone, so that no other test of the run is using the
#             engine meanwhile (e2e-ENGINE skips it)
#   fuzz      a short run of every fuzz target (go test -fuzz)
#
# and prints a summary. It exits non-zero if any step failed. The engine
# that ran before is running again at the end (a deployment on it comes
# back with its restart policy).
#
# The CI variable is passed through untouched: with CI set, a test that
# cannot run here (no root, no engine) fails instead of skipping.
#
# Knobs (environment): DCFW_GO_TEST_TIMEOUT (default 60m), DCFW_FUZZTIME
# (per fuzz target, default 20s; 0 skips fuzzing), DCFW_TEST_LOG_DIR (where
# logs go; default a fresh directory under /tmp), DCFW_GO_TEST_FLAGS (extra
# flags for go test, e.g. "-run TestX"; default none; with a -run of its
# own, the e2e-ENGINE-restart steps are left out: the tests were chosen),
# DCFW_ENGINES (the engines the e2e suite runs on, in order; default
# "debian current"; e.g. DCFW_ENGINES=current for the current engine alone).
set -euo pipefail

# shellcheck source=scripts/engines.sh
. "$(dirname "${BASH_SOURCE[0]}")/engines.sh"

ENGINES=${DCFW_ENGINES:-debian current}
GO_TEST_TIMEOUT=${DCFW_GO_TEST_TIMEOUT:-60m}
FUZZTIME=${DCFW_FUZZTIME:-20s}
# Go modules this old or newer can fetch the toolchain go.mod asks for
# (GOTOOLCHAIN, through the module proxy).
GO_MIN_FOR_TOOLCHAIN_SWITCH=1.21

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
	printf 'scripts/test.sh: error: %s\n' "$*" >&2
	exit 1
}

# version_ge A B: is version A >= version B (1.26.8 >= 1.21)?
version_ge() {
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- packages

# Commands the tests need, and the Debian package that provides each.
# (docker.io brings dockerd, containerd, runc and iptables.)
declare -A PACKAGE_OF=(
	[dockerd]=docker.io
	[docker]=docker.io
	[nft]=nftables
	[ip]=iproute2
	[nsenter]=util-linux
	[git]=git
	[modprobe]=kmod
)

apt_updated=false
apt_install() {
	have apt-get || die "missing packages ($*), and no apt-get to install them: install them by hand"
	export DEBIAN_FRONTEND=noninteractive
	if ! $apt_updated; then
		say "apt-get update"
		apt-get update -qq
		apt_updated=true
	fi
	say "apt-get install $*"
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
	local missing=() cmd
	for cmd in "${!PACKAGE_OF[@]}"; do
		have "$cmd" || missing+=("${PACKAGE_OF[$cmd]}")
	done
	# The Go module proxy is reached over HTTPS.
	[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
	# What the current engine's build and the debian engine's compose need.
	local p
	for p in "${ENGINE_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
		apt_install "${missing[@]}"
	fi
	for cmd in "${!PACKAGE_OF[@]}"; do
		have "$cmd" || die "$cmd is still missing after installing ${PACKAGE_OF[$cmd]}"
	done
}

# ---------------------------------------------------------------------- Go

go_required() {
	awk '$1 == "go" && $2 ~ /^[0-9]/ { print $2; exit }' go.mod
}

# go_candidates lists go binaries to consider, best guesses first.
go_candidates() {
	local g
	if have go; then command -v go; fi
	for g in /usr/local/go/bin/go /usr/lib/go/bin/go; do
		[ -x "$g" ] && echo "$g"
	done
	# Debian's versioned packages, newest first.
	find /usr/lib -maxdepth 3 -path '/usr/lib/go-1.*/bin/go' -executable 2>/dev/null | sort -rV
	return 0
}

# go_version_of prints the version of a go binary itself (1.23.4), asked
# outside the module so that go.mod cannot make it switch or refuse.
go_version_of() {
	(cd / && GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) | sed -n 's/^go\([0-9][0-9.a-z]*\).*/\1/p'
}

# find_go sets GO to a go binary that can build this module: one at least
# as new as go.mod asks, or else one new enough (>= 1.21) to fetch that
# toolchain through the module proxy (GOTOOLCHAIN=auto). Returns 1 if none.
find_go() {
	local required g v fallback=""
	required=$(go_required)
	[ -n "$required" ] || die "no go line in go.mod"
	while read -r g; do
		[ -n "$g" ] || continue
		v=$(go_version_of "$g")
		[ -n "$v" ] || continue
		if version_ge "$v" "$required"; then
			GO=$g
			GO_NOTE="go $v at $g"
			return 0
		fi
		if [ -z "$fallback" ] && version_ge "$v" "$GO_MIN_FOR_TOOLCHAIN_SWITCH"; then
			fallback=$g
			fallback_v=$v
		fi
	done < <(go_candidates)
	if [ -n "$fallback" ]; then
		GO=$fallback
		# A machine-wide GOTOOLCHAIN=local (go env -w, or Debian's go.env)
		# would forbid the switch; the environment variable wins over both.
		export GOTOOLCHAIN=auto
		GO_NOTE="go $fallback_v at $fallback, switching to go $required (GOTOOLCHAIN=auto, through the module proxy)"
		return 0
	fi
	return 1
}

# install_go_from_backports installs Debian's newest Go (bookworm-backports:
# 1.23 at the time of writing), which then fetches the toolchain go.mod
# asks for. Debian 12 itself only has Go 1.19, too old for that.
install_go_from_backports() {
	local codename=""
	# shellcheck disable=SC1091
	[ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	have apt-get || return 1
	if [ "$codename" = bookworm ]; then
		if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
			say "adding Debian's bookworm-backports to apt (for a Go new enough to fetch Go $(go_required))"
			echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/dcfw-bookworm-backports.list
			apt_updated=false
		fi
		apt_install -t bookworm-backports golang-go
	else
		apt_install golang-go
	fi
}

ensure_go() {
	if ! find_go; then
		install_go_from_backports || true
		find_go || die "no Go >= $(go_required) (nor >= $GO_MIN_FOR_TOOLCHAIN_SWITCH, which could fetch it).
    Install Go $(go_required) from https://go.dev/dl/ into /usr/local/go (then: export PATH=/usr/local/go/bin:\$PATH),
    or on Debian 12: apt-get install -t bookworm-backports golang-go (with bookworm-backports in apt's sources)."
	fi
	PATH="$(dirname "$GO"):$PATH"
	export PATH
	hash -r
	# Make sure it works here, fetching the toolchain now if it switches.
	local v
	v=$(go env GOVERSION) || die "go does not work in $(pwd) ($GO_NOTE)"
	say "Go: $GO_NOTE -> $v"
}

# ------------------------------------------------------------------ kernel

# The tests create veth pairs, bridges and macvlan links, and nftables
# tables; dummy links where the kernel has them. Modules that are built in
# (or that this kernel lacks) are fine: the tests probe for what exists.
ensure_kernel_modules() {
	local m loaded=() absent=()
	for m in nf_tables veth bridge macvlan dummy; do
		if [ -d "/sys/module/$m" ]; then
			continue
		fi
		if have modprobe && modprobe -q "$m" 2>/dev/null; then
			loaded+=("$m")
		else
			absent+=("$m")
		fi
	done
	[ ${#loaded[@]} -eq 0 ] || note "loaded kernel modules: ${loaded[*]}"
	[ ${#absent[@]} -eq 0 ] || note "not loadable as modules (built in, or not in this kernel): ${absent[*]}"
}

# ------------------------------------------------------------------ Docker

# ensure_docker starts Debian's engine if none answers (scripts/engines.sh).
ensure_docker() {
	engine_up || engine_start debian
}

# Docker's sandbox directory is mounted into dcfw's container with rslave
# propagation (deploy/docker-compose.yml), which Docker refuses from a
# private mount ("... is not a shared or slave mount"). systemd makes every
# mount shared at boot; where no systemd did (a container, a minimal VM),
# make the mount that holds the directory shared, as systemd would.
ensure_shared_netns_mount() {
	local dir=/var/run/docker/netns target prop
	while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
	target=$(findmnt -n -o TARGET --target "$dir") || die "findmnt failed for $dir"
	prop=$(findmnt -n -o PROPAGATION --target "$dir")
	case $prop in
	*shared* | *slave*) return 0 ;;
	esac
	note "mount $target is $prop: making it shared (as systemd does at boot) for the rslave volume of deploy/docker-compose.yml"
	mount --make-shared "$target"
}

# ------------------------------------------------------------------- steps

declare -a STEP_NAMES=() STEP_RESULTS=() STEP_TIMES=() FUZZ_NOTES=()
failed=0

# run_step NAME CMD...: runs CMD, records its result and duration.
run_step() {
	local name=$1 start rc=0
	shift
	say "$name: $*"
	start=$(date +%s)
	"$@" || rc=$?
	STEP_NAMES+=("$name")
	STEP_TIMES+=("$(($(date +%s) - start))s")
	if [ $rc -eq 0 ]; then
		STEP_RESULTS+=(ok)
	else
		STEP_RESULTS+=("FAILED (exit $rc)")
		failed=1
	fi
}

# go_files lists the Go files go vet and go test see (testdata excluded).
go_files() {
	find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './vendor/*' "$@"
}

check_gofmt() {
	local out
	out=$(go_files -print0 | xargs -0 gofmt -l)
	if [ -n "$out" ]; then
		echo "not gofmt-formatted (run gofmt -w on them):"
		echo "$out"
		return 1
	fi
}

run_go_test() {
	# -v so the log shows every test (and the summary can count them);
	# the output of each package still comes out in one piece.
	local pkgs
	mapfile -t pkgs < <(go list ./... | grep -v '/e2e$')
	# shellcheck disable=SC2086
	go test -count=1 -v -timeout "$GO_TEST_TIMEOUT" ${DCFW_GO_TEST_FLAGS:-} "${pkgs[@]}" 2>&1 | tee "$LOG_DIR/go-test.log"
}

# The e2e test that restarts the engine: run_e2e skips it, and
# run_e2e_restart runs it alone afterwards.
ENGINE_RESTART_TEST='^TestControllerSurvivesEngineRestart$'

# run_e2e ENGINE runs the end-to-end suite against ENGINE, all but the
# engine restart test. DCFW_GO_TEST_FLAGS comes last, so a -skip of its own
# replaces this one (go test keeps the last): the restart test then runs
# here too, in the middle of the suite, which it survives (it waits for
# other runs and puts the engine back), and once more in run_e2e_restart.
run_e2e() {
	local engine=$1
	engine_use "$engine"
	ensure_shared_netns_mount
	say "e2e on the $engine engine: Docker $(engine_describe), compose: $(compose_version)"
	# shellcheck disable=SC2086
	go test -count=1 -v -timeout "$GO_TEST_TIMEOUT" -skip "$ENGINE_RESTART_TEST" ${DCFW_GO_TEST_FLAGS:-} ./e2e/ 2>&1 | tee "$LOG_DIR/go-test-e2e-$engine.log"
}

# run_e2e_restart ENGINE runs the engine restart test alone against ENGINE
# (already in use: run_e2e ENGINE ran just before). Its log is a go-test*
# log like the others, so the summary counts and names its test.
run_e2e_restart() {
	local engine=$1
	[ "$(engine_which)" = "$engine" ] || engine_use "$engine"
	# shellcheck disable=SC2086
	go test -count=1 -v -timeout "$GO_TEST_TIMEOUT" ${DCFW_GO_TEST_FLAGS:-} -run "$ENGINE_RESTART_TEST" ./e2e/ 2>&1 | tee "$LOG_DIR/go-test-e2e-$engine-restart.log"
}

# go_test_flags_choose_tests: does DCFW_GO_TEST_FLAGS pick the tests (-run)?
go_test_flags_choose_tests() {
	case " ${DCFW_GO_TEST_FLAGS:-} " in
	*" -run"* | *" --run"*) return 0 ;;
	esac
	return 1
}

compose_version() {
	if docker compose version --short 2>/dev/null; then
		return 0
	fi
	docker-compose version --short 2>/dev/null || echo none
}

# fuzz_targets prints "package-dir FuzzName" for every fuzz target.
fuzz_targets() {
	local f name
	while IFS= read -r f; do
		while IFS= read -r name; do
			echo "$(dirname "$f") $name"
		done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' "$f")
	done < <(go_files -name '*_test.go')
}

# fuzz_once runs one fuzz target; its output goes to the screen and to $1.
# Minimizing each new interesting input may take 60 s by default, and
# stops the execution count meanwhile: FuzzLiveRule spent 18 of its 20 s
# minimizing one input. 5 s keeps the short run for fuzzing, and still
# shrinks a failing input.
fuzz_once() {
	local log=$1 dir=$2 name=$3
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "$dir" </dev/null 2>&1 | tee "$log"
}

# is_fuzztime_flake: the run in log failed only with the Go fuzzing
# coordinator's race at the end of -fuzztime (golang/go#75804, fixed in Go
# 1.27): "context deadline exceeded" and nothing else wrong, no input
# written. A real finding always writes its input under testdata/fuzz.
is_fuzztime_flake() {
	grep -q 'context deadline exceeded' "$1" &&
		! grep -qE 'Failing input written to|panic:|_test\.go:[0-9]+:' "$1"
}

run_fuzz() {
	local dir name rc=0 n=0 log
	if [ "$FUZZTIME" = 0 ]; then
		echo "fuzzing skipped (DCFW_FUZZTIME=0)"
		return 0
	fi
	while read -r dir name; do
		n=$((n + 1))
		log="$LOG_DIR/fuzz-$name.log"
		say "fuzz: $name in $dir for $FUZZTIME"
		fuzz_once "$log" "$dir" "$name" && continue
		if is_fuzztime_flake "$log"; then
			note "$name: the fuzzing engine's end-of-fuzztime race (golang/go#75804), not a finding; running it again"
			fuzz_once "$log" "$dir" "$name" && continue
			if is_fuzztime_flake "$log"; then
				note "$name: the same race again; no input was found failing, so not counted as a failure"
				FUZZ_NOTES+=("$name: ended twice by the fuzzing engine's end-of-fuzztime race (golang/go#75804), no failing input")
				continue
			fi
		fi
		rc=1
	done < <(fuzz_targets | sort -u)
	[ $n -gt 0 ] || echo "no fuzz targets found"
	return $rc
}

summary() {
	local passed=0 failed_tests=0 skipped=0 pkg_ok=0 pkg_fail=0 i
	local logs=("$LOG_DIR"/go-test*.log)
	if [ -f "${logs[0]}" ]; then
		passed=$(cat "${logs[@]}" | grep -cE '^ *--- PASS' || true)
		failed_tests=$(cat "${logs[@]}" | grep -cE '^ *--- FAIL' || true)
		skipped=$(cat "${logs[@]}" | grep -cE '^ *--- SKIP' || true)
		pkg_ok=$(cat "${logs[@]}" | grep -cE '^ok ' || true)
		pkg_fail=$(cat "${logs[@]}" | grep -cE '^FAIL\s' || true)
	fi
	echo
	say "summary (log: $LOG_DIR)"
	for i in "${!STEP_NAMES[@]}"; do
		printf '    %-20s %-20s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_TIMES[$i]}"
	done
	note "packages: $pkg_ok ok, $pkg_fail failed"
	for i in "${FUZZ_NOTES[@]}"; do
		note "fuzz: $i"
	done
	if [ "$skipped" -gt 0 ]; then
		note "skipped tests:"
		grep -HE '^ *--- SKIP' "${logs[@]}" | sed 's|^.*/go-test\.log:|unit+kernel |; s|^.*/go-test-||; s|\.log:| |; s/^/      /' || true
	fi
	if [ "$failed_tests" -gt 0 ]; then
		note "failed tests:"
		grep -HE '^ *--- FAIL' "${logs[@]}" | sed 's|^.*/go-test\.log:|unit+kernel |; s|^.*/go-test-||; s|\.log:| |; s/^/      /' || true
	fi
	note "total time: $(($(date +%s) - SCRIPT_START))s"
	echo "tests: $passed passed, $failed_tests failed, $skipped skipped"
}

main() {
	SCRIPT_START=$(date +%s)
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash scripts/test.sh): the kernel and end-to-end tests create network namespaces, nftables rules and containers"
	LOG_DIR=${DCFW_TEST_LOG_DIR:-$(mktemp -d /tmp/dcfw-test.XXXXXX)}
	mkdir -p "$LOG_DIR"
	say "dcfw test suite in $(pwd) (CI=${CI-<unset>}, kernel $(uname -r))"

	ensure_packages
	ensure_go
	ensure_kernel_modules
	local before engine
	before=$(engine_which)
	case " $ENGINES " in
	*" current "*) install_current_engine ;;
	esac
	ensure_docker
	ensure_shared_netns_mount
	say "Docker engine $(engine_describe), running before: $before; e2e engines: $ENGINES"

	run_step gofmt check_gofmt
	run_step vet go vet ./...
	run_step test run_go_test
	for engine in $ENGINES; do
		run_step "e2e-$engine" run_e2e "$engine"
		if go_test_flags_choose_tests; then
			note "e2e-$engine-restart left out: DCFW_GO_TEST_FLAGS chose the tests (${DCFW_GO_TEST_FLAGS})"
		else
			run_step "e2e-$engine-restart" run_e2e_restart "$engine"
		fi
	done
	run_step fuzz run_fuzz
	case $before in
	debian | current)
		if [ "$(engine_which)" != "$before" ]; then
			say "starting the $before engine again, as it ran before"
			engine_use "$before"
		fi
		;;
	esac
	summary
	return $failed
}

# Sourcing the script (to try a function) runs nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
