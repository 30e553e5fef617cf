#!/usr/bin/env bash
# The Docker engines dcfw is tested against, and how to switch between them.
# scripts/test.sh sources this file; by hand, as root:
#
#     bash scripts/engines.sh install          build the current engine (cached)
#     bash scripts/engines.sh use debian       stop the running engine, start Debian's 20.10
#     bash scripts/engines.sh use current      ... or the current one
#     bash scripts/engines.sh which            which one answers now
#
# Engines:
#   debian   Debian 12's docker.io (Docker 20.10, API 1.41) with Debian's
#            runc and containerd, and Debian's docker-compose 1.29.
#   current  the moby daemon module (Docker 29's code, API 1.56) with runc
#            and Compose v2 built from the Go module proxy (nothing else
#            reaches a registry here), Debian's containerd. It keeps its
#            images apart (its own --data-root) but serves the same socket
#            and the same sandbox directory (/var/run/docker/netns), so only
#            one engine runs at a time.
#
# The builds are cached under DCFW_ENGINE_CACHE (default
# /var/cache/dcfw-engines): the first install takes a few minutes on two
# cores, later ones nothing.

CURRENT_MOBY_VERSION=v2.0.0-beta.24
CURRENT_RUNC_VERSION=v1.5.3
CURRENT_COMPOSE_VERSION=v2.40.3
ENGINE_CACHE=${DCFW_ENGINE_CACHE:-/var/cache/dcfw-engines}
CURRENT_DIR=$ENGINE_CACHE/moby-$CURRENT_MOBY_VERSION-runc-$CURRENT_RUNC_VERSION-compose-$CURRENT_COMPOSE_VERSION
CURRENT_BIN=$CURRENT_DIR/bin
# The Docker CLI finds `docker compose` in $DOCKER_CONFIG/cli-plugins: set
# for the current engine only, so that the debian run uses docker-compose.
CURRENT_DOCKER_CONFIG=$CURRENT_DIR/docker-config
CURRENT_DATA_ROOT=/var/lib/dcfw-docker-current
ENGINE_START_TIMEOUT=${DOCKER_START_TIMEOUT:-60}

engine_say() { printf '==> %s\n' "$*"; }
engine_die() {
	printf 'scripts/engines.sh: error: %s\n' "$*" >&2
	exit 1
}

# Debian packages the engines need besides docker.io: the current daemon's
# runc builds with libseccomp through cgo.
ENGINE_PACKAGES=(libseccomp-dev pkg-config containerd docker-compose gcc)

# install_current_engine builds dockerd, docker-proxy, runc and the compose
# plugin into CURRENT_DIR unless they are there already.
install_current_engine() {
	if [ -x "$CURRENT_BIN/dockerd" ] && [ -x "$CURRENT_BIN/docker-proxy" ] && [ -x "$CURRENT_BIN/runc" ] &&
		[ -x "$CURRENT_DOCKER_CONFIG/cli-plugins/docker-compose" ]; then
		return 0
	fi
	local tmp
	tmp=$(mktemp -d "$ENGINE_CACHE.build.XXXXXX") || engine_die "cannot make a build directory"
	mkdir -p "$tmp/bin" "$tmp/docker-config/cli-plugins"
	engine_say "building the current engine into $CURRENT_DIR (moby $CURRENT_MOBY_VERSION, runc $CURRENT_RUNC_VERSION, compose $CURRENT_COMPOSE_VERSION; a few minutes, once)"
	(
		set -e
		cd "$tmp"
		export GOBIN=$tmp/bin
		go install "github.com/moby/moby/v2/cmd/dockerd@$CURRENT_MOBY_VERSION"
		go install "github.com/moby/moby/v2/cmd/docker-proxy@$CURRENT_MOBY_VERSION"
		CGO_ENABLED=1 go install -tags seccomp "github.com/opencontainers/runc@$CURRENT_RUNC_VERSION"
		# Compose's go.mod has exclude lines, so `go install` refuses it:
		# build it through a throwaway module that requires it.
		mkdir compose && cd compose
		cat >go.mod <<-EOF
			module dcfw-compose-build

			go 1.24

			require github.com/docker/compose/v2 $CURRENT_COMPOSE_VERSION
		EOF
		printf 'package main\n\nimport _ "github.com/docker/compose/v2/cmd/compatibility"\n\nfunc main() {}\n' >main.go
		go mod tidy
		go build -ldflags "-X github.com/docker/compose/v2/internal.Version=$CURRENT_COMPOSE_VERSION" \
			-o "$tmp/docker-config/cli-plugins/docker-compose" github.com/docker/compose/v2/cmd
	) || {
		rm -rf "$tmp"
		engine_die "building the current engine failed (output above)"
	}
	rm -rf "$tmp/compose" "$CURRENT_DIR"
	mkdir -p "$(dirname "$CURRENT_DIR")"
	mv "$tmp" "$CURRENT_DIR"
}

engine_up() { docker info >/dev/null 2>&1; }

# engine_pid prints the PID of the running dockerd, if any.
engine_pid() {
	local p
	for p in /proc/[0-9]*; do
		if [ "$(cat "$p/comm" 2>/dev/null)" = dockerd ]; then
			basename "$p"
			return 0
		fi
	done
	return 1
}

# engine_which prints which engine runs: debian, current, other or none.
engine_which() {
	local pid exe
	pid=$(engine_pid) || {
		echo none
		return 0
	}
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
	exe=${exe% (deleted)}
	case $exe in
	"$CURRENT_BIN/dockerd") echo current ;;
	/usr/sbin/dockerd | /usr/bin/dockerd) echo debian ;;
	*) echo other ;;
	esac
}

systemd_docker() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl cat docker.service >/dev/null 2>&1; }

# engine_stop stops whatever engine runs and waits until it is gone.
engine_stop() {
	local pid i
	if systemd_docker && systemctl is-active --quiet docker; then
		systemctl stop docker.socket docker.service 2>/dev/null || systemctl stop docker
	fi
	pid=$(engine_pid) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < ENGINE_START_TIMEOUT * 2; i++)); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.5
	done
	engine_die "dockerd (pid $pid) did not stop within ${ENGINE_START_TIMEOUT}s"
}

# engine_start NAME starts engine NAME (debian or current) and waits until
# it answers.
engine_start() {
	local name=$1 log pid i
	# A PID file left by a dockerd that died makes a new one refuse to start.
	if [ -f /var/run/docker.pid ] && ! [ "$(cat "/proc/$(cat /var/run/docker.pid)/comm" 2>/dev/null)" = dockerd ]; then
		rm -f /var/run/docker.pid
	fi
	log=/tmp/dcfw-dockerd-$name.log
	case $name in
	debian)
		# The current engine filters IPv6 itself and leaves ip6tables'
		# FORWARD policy at DROP when it stops; Debian's 20.10 does not
		# touch ip6tables, so its bridged IPv6 traffic would stay dropped.
		if command -v ip6tables >/dev/null 2>&1 && ip6tables -S DOCKER-FORWARD >/dev/null 2>&1; then
			ip6tables -P FORWARD ACCEPT
		fi
		if systemd_docker; then
			systemctl start docker
		else
			# Its own session: it outlives this script and a ^C to the tests.
			# exec, and every descriptor redirected: no shell stays behind
			# holding this script's output open (a caller reading it to its
			# end would wait for the engine to exit).
			(cd / && exec setsid nohup dockerd) >"$log" 2>&1 </dev/null &
		fi
		;;
	current)
		# runc first in PATH: Debian's runc 1.1 cannot start containers
		# for this daemon ("namespace time does not exist").
		(cd / && PATH="$CURRENT_BIN:$PATH" exec setsid nohup "$CURRENT_BIN/dockerd" \
			--data-root "$CURRENT_DATA_ROOT" --userland-proxy-path "$CURRENT_BIN/docker-proxy") \
			>"$log" 2>&1 </dev/null &
		;;
	*) engine_die "unknown engine $name (debian or current)" ;;
	esac
	for ((i = 0; i < ENGINE_START_TIMEOUT; i++)); do
		if engine_up; then
			return 0
		fi
		sleep 1
	done
	tail -n 30 "$log" >&2 2>/dev/null || true
	engine_die "the $name engine did not answer within ${ENGINE_START_TIMEOUT}s (log: $log)"
}

# engine_use NAME makes NAME the running engine, and sets DOCKER_CONFIG
# for its compose.
engine_use() {
	local name=$1
	if [ "$(engine_which)" != "$name" ] || ! engine_up; then
		engine_stop
		engine_start "$name"
	fi
	if [ "$name" = current ]; then
		export DOCKER_CONFIG=$CURRENT_DOCKER_CONFIG
	else
		unset DOCKER_CONFIG
	fi
}

# engine_describe prints the running engine's version and API version.
engine_describe() {
	docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}}, {{.Server.Os}}/{{.Server.Arch}})' 2>/dev/null || echo '?'
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ "$(id -u)" -eq 0 ] || engine_die "run as root"
	case ${1:-} in
	install) install_current_engine ;;
	use)
		[ "${2:-}" = current ] && install_current_engine
		engine_use "${2:?debian or current}"
		engine_say "engine: ${2} $(engine_describe)"
		;;
	which) engine_which ;;
	*) engine_die "usage: bash scripts/engines.sh install | use debian|current | which" ;;
	esac
fi
