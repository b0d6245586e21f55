#!/usr/bin/env bash
# Builds the image and runs it with docker-compose, then checks it for real: healthy by its
# HEALTHCHECK, SQL through sqlited-cli, data kept across a restart of the container.
# Needs Docker, docker-compose and (when no base image exists) debootstrap; makes the base image
# itself with debootstrap + `docker import`, so no registry is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${SQLITED_BASE:-sqlited-base:bookworm}"
PROJECT="sqlited-test-$$"
export SQLITED_BASE="$BASE"
export SQLITED_PORT="${SQLITED_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
COMPOSE=(docker-compose -p "$PROJECT" -f docker/docker-compose.yml)

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
    rm -rf "$rootfs"
fi
cargo build --release --bin sqlited --bin sqlited-cli

cleanup() { "${COMPOSE[@]}" down -v >/dev/null 2>&1 || true; }
trap cleanup EXIT
"${COMPOSE[@]}" up -d --build

container="$("${COMPOSE[@]}" ps -q sqlited)"
wait_healthy() {
    for _ in $(seq 1 60); do
        status="$(docker inspect --format '{{.State.Health.Status}}' "$container")"
        [ "$status" = healthy ] && return 0
        sleep 1
    done
    echo "container not healthy: $status"; docker logs "$container"; return 1
}
wait_healthy
[ "$(docker inspect --format '{{.Config.User}}' "$container")" = sqlited ] || { echo "runs as root"; exit 1; }

CLI=(target/release/sqlited-cli "http://127.0.0.1:$SQLITED_PORT/app" --mode csv)
"${CLI[@]}" -c "CREATE TABLE t (x TEXT)" -c "INSERT INTO t VALUES ('kept')"
"${COMPOSE[@]}" restart
wait_healthy
out="$("${CLI[@]}" -c "SELECT x FROM t")"
[ "$out" = "$(printf 'x\nkept')" ] || { echo "unexpected: $out"; exit 1; }
echo "docker: 3 passed, 0 failed"
