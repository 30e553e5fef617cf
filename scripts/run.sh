#!/usr/bin/env bash
# Build dcfw and run it on this machine, against the local Docker engine,
# as deploy/docker-compose.yml says (the hardened deployment):
#
#     sudo bash scripts/run.sh              build, then start (or update) dcfw
#     sudo bash scripts/run.sh logs -f      any other arguments go to compose:
#     sudo bash scripts/run.sh down         logs, ps, down, restart...
#
# On a fresh Debian 12 machine it first installs what is missing, as
# scripts/test.sh does: the Docker engine (docker.io), Go, and a compose
# command (`docker compose` if the engine's CLI has it, else Debian's
# docker-compose); it starts the engine if none answers. Then:
#
#     CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$(git describe --tags --always --dirty --abbrev=12)" -o bin/dcfw .
#     docker compose -p dcfw -f deploy/docker-compose.yml up -d --build
#
# and it waits until dcfw has started, printing its first log lines (or
# its error, if it refused to start).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Functions only (sourcing runs nothing): say, note, die, have, apt_install,
# ensure_go, ensure_docker, ensure_shared_netns_mount.
# shellcheck source=scripts/test.sh
source scripts/test.sh

# How long to wait for dcfw's first reconcile.
START_TIMEOUT=30

# The names of the deployment: the compose project, and the container and
# image (deploy/docker-compose.yml reads DCFW_CONTAINER and DCFW_IMAGE).
# Other names deploy a second copy beside a running one.
PROJECT=${DCFW_PROJECT:-dcfw}
export DCFW_CONTAINER=${DCFW_CONTAINER:-dcfw}
export DCFW_IMAGE=${DCFW_IMAGE:-dcfw:latest}

# COMPOSE is set to the compose command line, installing one if needed.
find_compose() {
	if docker compose version >/dev/null 2>&1; then
		COMPOSE=(docker compose)
	elif have docker-compose; then
		COMPOSE=(docker-compose)
	else
		apt_install docker-compose
		have docker-compose || die "docker-compose is still missing after installing it"
		COMPOSE=(docker-compose)
	fi
	COMPOSE+=(-p "$PROJECT" -f deploy/docker-compose.yml)
}

# wait_started waits for dcfw's initial reconcile, or its exit.
wait_started() {
	local i status
	for ((i = 0; i < START_TIMEOUT; i++)); do
		status=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$DCFW_CONTAINER" 2>/dev/null || echo missing)
		if docker logs "$DCFW_CONTAINER" 2>&1 | grep -q 'initial reconcile'; then
			docker logs "$DCFW_CONTAINER" 2>&1 | tail -n 20
			say "dcfw runs (docker logs -f $DCFW_CONTAINER to follow it)"
			return 0
		fi
		case $status in
		running\ *\ 0) ;;
		*)
			docker logs "$DCFW_CONTAINER" 2>&1 | tail -n 30 >&2 || true
			die "dcfw did not start (state: $status); its log is above"
			;;
		esac
		sleep 1
	done
	docker logs "$DCFW_CONTAINER" 2>&1 | tail -n 30 >&2 || true
	die "dcfw did not finish its first reconcile within ${START_TIMEOUT}s; its log is above"
}

run_main() {
	[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash scripts/run.sh): it may install packages and starts a privileged container"
	if ! have docker || ! have dockerd; then
		apt_install docker.io
	fi
	[ -s /etc/ssl/certs/ca-certificates.crt ] || apt_install ca-certificates
	find_compose
	if [ $# -gt 0 ]; then
		exec "${COMPOSE[@]}" "$@"
	fi
	ensure_go
	ensure_docker
	ensure_shared_netns_mount
	say "building bin/dcfw"
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$(git describe --tags --always --dirty --abbrev=12)" -o bin/dcfw .
	say "starting dcfw: ${COMPOSE[*]} up -d --build"
	"${COMPOSE[@]}" up -d --build
	wait_started
}

run_main "$@"
