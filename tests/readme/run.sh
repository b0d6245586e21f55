#!/usr/bin/env bash
# The README's walk-throughs, run as written (tests/readme/readme.py): every ```sh block
# marked `<!-- CI runs this block … (tests/readme) -->` in README.md, in a temporary
# directory and a network namespace of its own (so the README's ports are free), with the
# binaries on PATH; each command's output is compared with the comment under it.
#
# The binaries: with --install, the README's own install commands are run (into a
# temporary root, in the dev profile, reusing target/: `cargo install --debug` of each
# package, so a release build is not paid for here). Without it (CI), those of target/debug,
# which `cargo test --workspace` has just built from the same sources — what `cargo install
# --path` builds — and the README's install commands are checked instead: each names a
# workspace package by its path, with the binary its comment names, and the lock file is
# current (`--locked` would refuse it otherwise). A second build of the workspace for the
# install alone would cost CI minutes and prove no more than `cargo package` (which builds
# the client crate alone) and the workspace build already do.
#
# Usage: tests/readme/run.sh [--install]
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The install block: `cargo install --locked --path DIR     # BINARY` lines under "The two
# commands".
installs="$(awk '/^## The two commands/ { s = 1; next } s && /^## / { exit }
    s && /^cargo install / { print }' README.md)"
[ "$(grep -c . <<<"$installs")" -eq 2 ] || {
    echo "readme: README.md's section \"The two commands\" has no install step for sqlited and sqlited-cli" >&2
    exit 1
}
if [ "${1:-}" = --install ]; then
    bin="$work/root/bin"
    while read -r line; do
        command="${line%%#*} --debug --root $work/root"
        echo "+ $command"
        CARGO_TARGET_DIR="$root/target" $command
    done <<<"$installs"
else
    cargo metadata --locked --no-deps --format-version 1 >"$work/metadata.json"
    while read -r line; do
        path="$(sed -n 's/.*--path \([^ ]*\).*/\1/p' <<<"$line")"
        binary="$(sed -n 's/.*# *\([^ ]*\).*/\1/p' <<<"$line")"
        python3 - "$work/metadata.json" "$root/$path/Cargo.toml" "$binary" <<'EOF' || exit 1
import json, os, sys
manifest, binary = os.path.realpath(sys.argv[2]), sys.argv[3]
packages = json.load(open(sys.argv[1]))["packages"]
package = next((p for p in packages if os.path.realpath(p["manifest_path"]) == manifest), None)
bins = [t["name"] for t in (package or {}).get("targets", []) if "bin" in t["kind"]]
if binary not in bins:
    sys.exit(f"readme: `cargo install --path` of {manifest} installs {bins}, not {binary!r} as README.md says")
EOF
    done <<<"$installs"
    bin="$work/bin"
    mkdir -p "$bin"
    for binary in sqlited sqlited-cli; do
        [ -x "target/debug/$binary" ] || {
            echo "readme: no target/debug/$binary: run cargo test --workspace (or cargo build) first" >&2
            exit 1
        }
        ln -s "$root/target/debug/$binary" "$bin/$binary"
    done
fi

# The Python quick start runs the package of the python3 on PATH (CI: .ci/venv-py's, which
# has ./python installed) and the examples of this checkout.
python3 tests/readme/readme.py --marked --path "$bin" --isolated-network --min-checked 15 \
    --replace "python3 examples/=python3 $root/examples/" README.md
