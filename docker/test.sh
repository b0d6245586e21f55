#!/usr/bin/env bash
# Builds the images and runs the stack with docker-compose (the README's command: nothing is
# prepared for it but the release binary), then checks it for real: sqlited
# healthy by its HEALTHCHECK, the Python example run against it once healthy, SQL through
# sqlited-cli, data kept across a restart of the stack, worker processes running in the
# container (the stack runs with --workers processes here); `down -v` at the end.
# Needs Docker, docker-compose and (when no base image exists) debootstrap; makes the base image
# itself with debootstrap + `docker import`, so no registry is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${SQLITED_BASE:-sqlited-base:bookworm}"
PROJECT="sqlited-test-$$"
export SQLITED_BASE="$BASE"
export SQLITED_PORT="${SQLITED_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
COMPOSE=(docker-compose -p "$PROJECT" -f docker/docker-compose.yml)
# The deployment's riskier mode: every connection in a worker process, under a memory cap.
export SQLITED_WORKERS=processes SQLITED_WORKER_MEMORY_LIMIT=256MiB

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
    rm -rf "$rootfs"
fi
cargo build --release --bin sqlited --bin sqlited-cli
# The example's image installs the Python package with pip from PyPI; a CA this host trusts
# locally (a proxy that re-signs TLS) goes with it.
SQLITED_EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)"
export SQLITED_EXTRA_CA_CERTS

# The stack's images are the project's own: removed with it.
cleanup() { "${COMPOSE[@]}" down -v --rmi local >/dev/null 2>&1 || true; }
trap cleanup EXIT
# The README's command, as written there (its base image and project aside).
"${COMPOSE[@]}" up -d --build

container="$("${COMPOSE[@]}" ps -q sqlited)"
example="$("${COMPOSE[@]}" ps -q example)"
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

# The Python example ran once sqlited was healthy.
code="$(docker wait "$example")"
[ "$code" = 0 ] || { echo "the example exited with $code"; docker logs "$example"; exit 1; }
# grep reads all the logs (not -q): under pipefail, -q's early exit can fail `docker logs`
# with SIGPIPE and the pipeline with it.
docker logs "$example" 2>&1 | grep "inserted 2 notes" >/dev/null || { docker logs "$example"; exit 1; }

CLI=(target/release/sqlited-cli "http://127.0.0.1:$SQLITED_PORT/app" --mode csv)
"${CLI[@]}" -c "CREATE TABLE t (x TEXT)" -c "INSERT INTO t VALUES ('kept')"
"${COMPOSE[@]}" restart sqlited
wait_healthy
out="$("${CLI[@]}" -c "SELECT x FROM t")"
[ "$out" = "$(printf 'x\nkept')" ] || { echo "unexpected: $out"; exit 1; }
notes="$(target/release/sqlited-cli "http://127.0.0.1:$SQLITED_PORT/example" --mode csv -c "SELECT count(*) AS n FROM notes")"
[ "$notes" = "$(printf 'n\n2')" ] || { echo "the example's rows did not survive: $notes"; exit 1; }
# The connections live in worker processes of the server, inside the container.
workers="$(docker top "$container" | grep -c 'sqlited worker' || true)"
[ "$workers" -ge 2 ] || { echo "expected worker processes, found $workers"; docker top "$container"; exit 1; }
echo "docker: 5 passed, 0 failed"

# The replication stack (sqlited with Litestream, SeaweedFS), on the same base image. This
# stack goes first: its container would hold the port the next one is given.
cleanup
trap - EXIT
SQLITED_PORT="" bash docker/replication/test.sh
