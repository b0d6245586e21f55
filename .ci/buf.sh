#!/usr/bin/env bash
# The gRPC contract's checks (buf.yaml says which rules and why each exception): `buf lint`
# (STANDARD), `buf format` (the files as buf formats them), and `buf breaking` (FILE: wire,
# JSON and generated code stay compatible) against a baseline from git history:
#
# - SQLITED_BUF_AGAINST, a commit, when set;
# - else, on a branch that left main, the commit where it left (git merge-base HEAD main):
#   every change of the branch is checked, committed or not;
# - else (on main itself, as CI runs) main's previous commit, HEAD's first parent: for a
#   merge, main before it, so a merge is checked whole.
#
# and, when the history has a release tag (v*), against the newest one too. A tag is not
# the only baseline because a fresh clone of main has history but may have no tags. The
# check needs that history: in a shallow clone without the baseline it fails, saying so.
#
# A baseline from before buf.yaml existed was never held to the FILE rules: against it, the
# check is WIRE_JSON (what clients on the wire and in JSON see), so the commit adding the
# file options (go_package, java_package, …) passes once, and FILE applies from then on.
#
# Usage: .ci/buf.sh   (BUF: the buf binary, default buf)
set -euo pipefail
cd "$(dirname "$0")/.."
BUF="${BUF:-buf}"

"$BUF" lint
if ! "$BUF" format -d --exit-code; then
    echo "proto/: not as buf formats it (the diff above): run buf format -w" >&2
    exit 1
fi

# buf reads the baseline from the repository's git directory (a worktree's .git is a file);
# a commit id, not a ref name, so that a worktree's HEAD is not the main checkout's.
git_dir="$(git rev-parse --path-format=absolute --git-common-dir)"
against() {
    local commit="$1" what="$2" config=()
    if ! git cat-file -e "$commit:buf.yaml" 2>/dev/null; then
        what="$what, from before buf.yaml: wire and JSON compatibility only"
        config=(--config "$(sed 's/^    - FILE$/    - WIRE_JSON/' buf.yaml)")
    fi
    echo "buf breaking: against $commit ($what)"
    "$BUF" breaking "${config[@]}" --against "$git_dir#ref=$commit,subdir=proto"
}

if [ -n "${SQLITED_BUF_AGAINST:-}" ]; then
    against "$(git rev-parse --verify "$SQLITED_BUF_AGAINST^{commit}")" "SQLITED_BUF_AGAINST"
elif fork="$(git merge-base HEAD main 2>/dev/null)" && [ "$fork" != "$(git rev-parse HEAD)" ]; then
    against "$fork" "where this branch left main"
elif parent="$(git rev-parse --verify -q 'HEAD^1^{commit}')"; then
    against "$parent" "main's previous commit"
elif [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    echo "buf breaking: a shallow clone without HEAD's parent: fetch more history (git fetch --deepen=1) or set SQLITED_BUF_AGAINST" >&2
    exit 1
else
    echo "buf breaking: HEAD is the first commit: no baseline to compare with"
fi

if release="$(git describe --tags --abbrev=0 --match 'v[0-9]*' HEAD 2>/dev/null)"; then
    against "$(git rev-parse "$release^{commit}")" "release $release"
else
    echo "buf breaking: no release tag (v*) in this history"
fi
