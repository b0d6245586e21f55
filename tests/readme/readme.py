#!/usr/bin/env python3
"""Runs the shell blocks of README.md and checks what they print, so the README cannot drift
from the code.

A block runs as one bash script (`set -e -o pipefail`: a command that fails fails the run),
in a temporary directory, its commands exactly as written (after the `--replace`
substitutions, if any). A comment under a command, with no blank line between, is what the
command prints: its output is compared with it, whitespace aside, `…` standing for any text
(`{"rows":[…],…}`). A comment after a blank line is prose. Jobs a block starts in the
background (`sqlited … &`) are stopped with SIGTERM at its end and must exit 0.

Which blocks:
- `--marked`: every ```sh block of the file preceded by the line
  `<!-- CI runs this block (tests/readme) -->`, or, for a block that needs a server on the
  default port (127.0.0.1:50051), `<!-- CI runs this block against a server (tests/readme) -->`:
  then `sqlited --data-dir DIR` is started first, in the block's network namespace, and
  stopped after it.
- `--section TITLE`: the first ```sh block under the heading TITLE.

`--isolated-network` runs each block in a network namespace of its own (`unshare --net`,
as root or with `--map-root-user`), whose loopback is free: the README's ports (50051, 8080)
are used as written, whatever else runs on the machine.

Usage: readme.py [--marked | --section TITLE] [--path DIR] [--replace FROM=TO]...
                 [--isolated-network] [--min-commands N] [--min-checked N] README.md
"""

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^<!-- CI runs this block( against a server)? \(tests/readme\) -->$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
# How long one block may run before it fails.
BLOCK_TIMEOUT_SECS = 180


class Block:
    def __init__(self, title, line, lines, server):
        self.title = title
        self.line = line
        self.lines = lines
        self.server = server


class Step:
    """One command (several lines when continued with \\ or holding a here-document) and
    the output the README shows under it (None: not shown)."""

    def __init__(self, command):
        self.command = command
        self.expected = None


def blocks(text, marked, section):
    """The ```sh blocks asked for, with the heading each is under."""
    found = []
    title = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^#+ (.*)$", line)
        if heading:
            title = heading.group(1).strip()
        if line.startswith("```sh"):
            previous = lines[i - 1] if i > 0 else ""
            marker = MARKER.match(previous)
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            body = lines[i + 1 : end]
            if marked and marker:
                found.append(Block(title, i + 2, body, bool(marker.group(1))))
            elif section is not None and title == section:
                found.append(Block(title, i + 2, body, False))
                return found
            i = end
        i += 1
    return found


def steps(lines):
    """The block's commands, each with the comment under it."""
    result = []
    expecting = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            expecting = False
            i += 1
            continue
        if stripped.startswith("#"):
            if expecting:
                text = stripped[1:]
                text = text[1:] if text.startswith(" ") else text
                step = result[-1]
                step.expected = text if step.expected is None else step.expected + "\n" + text
            i += 1
            continue
        command = [line]
        while command[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        heredoc = HEREDOC.search("\n".join(command))
        if heredoc:
            word = heredoc.group(2)
            while i + 1 < len(lines):
                i += 1
                command.append(lines[i])
                if lines[i].strip() == word:
                    break
        result.append(Step("\n".join(command)))
        expecting = True
        i += 1
    return result


def matches(output, expected):
    """Whether `output` is `expected`, whitespace aside, `…` standing for any text."""
    squeeze = lambda s: re.sub(r"\s+", "", s)
    output, parts = squeeze(output), squeeze(expected).split("…")
    if len(parts) == 1:
        return output == parts[0]
    if not output.startswith(parts[0]) or not output.endswith(parts[-1]):
        return False
    at = len(parts[0])
    end = len(output) - len(parts[-1])
    for part in parts[1:-1]:
        found = output.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return at <= end


def script(block_steps, outputs, server):
    """The bash script running the steps, each one's output into `outputs`/N when it is
    checked."""
    out = [
        "set -e -o pipefail",
        # Background jobs: stopped at the end, each must exit 0; killed if the block fails.
        "__stop() { for p in $(jobs -p); do kill -TERM \"$p\"; wait \"$p\" || { echo \"a job the block started in the background exited with status $?\" >&2; return 1; }; done; }",
        "trap 'trap - EXIT; for p in $(jobs -p); do kill -KILL \"$p\" 2>/dev/null; done' EXIT",
    ]
    if server:
        out += [
            "sqlited --data-dir \"$__server_data\" >\"$__server_log\" 2>&1 &",
            "for __i in $(seq 600); do sqlited healthcheck >/dev/null 2>&1 && break; sleep 0.1; done",
            "sqlited healthcheck >/dev/null",
        ]
    for n, step in enumerate(block_steps):
        out.append(f"printf '%s\\n' {shlex.quote('+ ' + step.command)} >&2")
        if step.expected is None:
            out.append(step.command)
        else:
            out.append("{ " + step.command + "\n} >" + shlex.quote(os.path.join(outputs, str(n))))
    out.append("__stop")
    return "\n".join(out) + "\n"


def run_block(block, args):
    """Runs one block; returns (commands, checked, failures)."""
    block_steps = steps(block.lines)
    for old, new in args.replace:
        for step in block_steps:
            step.command = step.command.replace(old, new)
    where = f"README.md line {block.line} ({block.title})"
    with tempfile.TemporaryDirectory(prefix="readme-") as work:
        outputs = os.path.join(work, ".outputs")
        cwd = os.path.join(work, "cwd")
        os.makedirs(outputs)
        os.makedirs(cwd)
        path = os.path.join(work, "block.sh")
        with open(path, "w") as f:
            f.write(script(block_steps, outputs, block.server))
        env = dict(os.environ)
        if args.path:
            env["PATH"] = os.pathsep.join(args.path + [env.get("PATH", "")])
        env["__server_data"] = os.path.join(work, "server-data")
        env["__server_log"] = os.path.join(work, "server.log")
        command = ["bash", path]
        if args.isolated_network:
            unshare = ["unshare", "--net"]
            if os.geteuid() != 0:
                unshare.append("--map-root-user")
            command = unshare + ["bash", "-c", 'ip link set lo up && exec "$@"', "bash"] + command
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, text=True,
        )
        try:
            log, _ = process.communicate(timeout=BLOCK_TIMEOUT_SECS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            log, _ = process.communicate()
            return len(block_steps), 0, [f"{where}: did not finish within {BLOCK_TIMEOUT_SECS} s; its output:\n{log}"]
        failures = []
        if process.returncode != 0:
            failures.append(f"{where}: failed (exit status {process.returncode}); its output, each command after +:\n{log}")
            if block.server and os.path.exists(env["__server_log"]):
                failures.append("the server's log:\n" + open(env["__server_log"]).read())
            return len(block_steps), 0, failures
        checked = 0
        for n, step in enumerate(block_steps):
            if step.expected is None:
                continue
            with open(os.path.join(outputs, str(n))) as f:
                output = f.read()
            checked += 1
            if not matches(output, step.expected):
                failures.append(f"{where}: the README's\n  {step.command}\nprinted\n{output.rstrip()}\nnot\n{step.expected}")
        return len(block_steps), checked, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--marked", action="store_true")
    which.add_argument("--section")
    parser.add_argument("--path", action="append", default=[], help="a directory put first on PATH")
    parser.add_argument("--replace", action="append", default=[], type=lambda s: tuple(s.split("=", 1)))
    parser.add_argument("--isolated-network", action="store_true")
    parser.add_argument("--min-commands", type=int, default=1)
    parser.add_argument("--min-checked", type=int, default=0)
    parser.add_argument("readme")
    args = parser.parse_args()
    args.path = [os.path.abspath(p) for p in args.path]
    with open(args.readme) as f:
        found = blocks(f.read(), args.marked, args.section)
    commands = checked = failed = 0
    failures = []
    for block in found:
        c, k, f = run_block(block, args)
        commands, checked = commands + c, checked + k
        failures += f
        failed += 1 if f else 0
        print(f"README.md line {block.line} ({block.title}): {c} commands, {k} outputs checked"
              + ("" if not f else ", FAILED"))
    if commands < args.min_commands or checked < args.min_checked:
        failures.append(f"{commands} commands and {checked} outputs found in {len(found)} blocks; "
                        f"at least {args.min_commands} and {args.min_checked} expected: "
                        "is the README's block or its marker gone?")
        failed += 1
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"readme: {len(found) - min(failed, len(found))} passed, {failed} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
