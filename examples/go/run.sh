#!/usr/bin/env bash
# The Go example, end to end: generates the stubs of proto/ (buf generate, with Debian's
# protoc-gen-go and protoc-gen-go-grpc), builds the example and its tests with Debian's Go
# and Go libraries, starts a real sqlited on a free port, runs the tests (sqlited_test.go),
# the example program and the README's `buf curl` calls against it (tests/readme/readme.py),
# and stops the server, which must exit cleanly. Any failure fails the script.
#
# Debian ships Go libraries as GOPATH sources (/usr/share/gocode/src) and Debian 12's Go is
# 1.19, which still builds in GOPATH mode: GO111MODULE=off with GOPATH = a temporary
# directory holding the generated package (at its go_package path) and then Debian's tree.
# No module proxy is needed. (A go.mod with `replace` directives to /usr/share/gocode does
# not work: module mode needs a go.mod for every module in grpc's graph, and Debian does not
# ship those it does not package.)
#
# Needs (apt): golang-go protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev
# golang-google-protobuf-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev.
#
# Usage: examples/go/run.sh   (BUF: the buf binary; SQLITED_BINARY: default target/debug/sqlited)
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
BUF="${BUF:-buf}"
SQLITED_BINARY="${SQLITED_BINARY:-$root/target/debug/sqlited}"

work="$(mktemp -d)"
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The generated package lands at its go_package import path under $work/src.
"$BUF" generate --template examples/go/buf.gen.yaml --output "$work/src"
export GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOFLAGS=
# Go's build cache (~/.cache/go-build) keeps the compiled Debian libraries between runs; without
# a HOME to hold it, one under target/.
if [ "$(go env GOCACHE)" = off ]; then
    export GOCACHE="$root/target/go-build"
fi
unformatted="$(gofmt -l examples/go)"
if [ -n "$unformatted" ]; then
    echo "examples/go: not gofmt-formatted: $unformatted" >&2
    exit 1
fi
(cd examples/go && go vet . && go build -o "$work/example" . && go test -c -o "$work/example.test" .)

# The server on a free port; its first line on stdout says where it listens.
mkdir "$work/data"
"$SQLITED_BINARY" --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
addr=
for _ in $(seq 600); do
    if line="$(head -n 1 "$work/server.out")" && [ -n "$line" ]; then
        addr="${line##* }"
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "examples/go: sqlited did not start; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

(cd examples/go && SQLITED_ADDR="$addr" "$work/example.test" -test.v -test.count=1)
"$work/example" "$addr" example
# The README's buf curl calls (its section "buf curl, grpcurl"), against this server, by
# the runner of the README's blocks (tests/readme/readme.py): each must succeed, and its
# answer match the comment under it, whitespace aside. The server's port replaces the
# README's; the buf in use is first on PATH.
python3 tests/readme/readme.py --section "buf curl, grpcurl: calls from the shell" \
    --path "$(dirname "$(command -v "$BUF")")" \
    --replace "http://127.0.0.1:50051=http://$addr" \
    --min-commands 4 --min-checked 3 README.md

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
if [ "$status" -ne 0 ]; then
    echo "examples/go: sqlited exited with status $status; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
echo "examples/go: passed"
