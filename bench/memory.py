#!/usr/bin/env python3
"""The server's memory under hostile queries: idle RSS against peak RSS while 8 clients run them.

Starts each configuration of sqlited on a fresh data directory with a credentials file (an
admin token fills the database, the hostile clients hold a read token), reads its resident
memory at rest, then runs `sqlited-bench` with each hostile workload and samples the resident
memory of the server and its worker processes every 20 ms (RSS, and PSS, which counts a page
shared by worker processes once). Prints a Markdown table per workload:

- `hostile`: queries that would build gigabytes — zeroblob, replace, printf, doubling — and an
  ORDER BY over a cross join;
- `hostile-temp`: queries that build temporary B-trees of about a gigabyte each — a recursive
  CTE with UNION, DISTINCT, GROUP BY, a window `group_concat` over the whole set;
- `hostile-statements`: every query a distinct, large statement (an IN list of 40,000 numbers,
  about 4.7 MB compiled), which a connection's statement cache would keep after its request.

    python3 bench/memory.py [--clients 8] [--duration 20] [--workload W ...] [CONFIG ...]

A CONFIG is `label=flags`, e.g. `capped=--sqlite-memory-limit 512MiB`; `binary:PATH` at the
start of the flags runs another sqlited build (to compare with an older one side by side).
Default: the default flags, 8 readers (an 8-core machine's default), a 512 MiB cap, and worker
processes under a 512 MiB cap.
Needs release builds of sqlited and sqlited-bench (`cargo build --release -p sqlited -p
sqlited-bench`) and Linux.
"""

import argparse
import json
import os
import secrets
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

RELEASE = Path(__file__).resolve().parent.parent / "target" / "release"
WORKLOADS = ["hostile", "hostile-temp", "hostile-statements"]
DEFAULT_CONFIGS = [
    "default=",
    # What the default --readers is on an 8-core machine: all 8 clients served at once.
    "eight-readers=--readers 8",
    "capped=--sqlite-memory-limit 512MiB",
    "processes=--workers processes --worker-memory-limit 512MiB",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid, proportional=False):
    """Resident bytes of `pid` and every process below it (a child of any of its threads).

    `proportional`: the proportional set size instead (PSS: each shared page divided among the
    processes that map it), which with worker processes does not count the binary's pages
    once per worker."""
    total = 0
    source, field = ("smaps_rollup", "Pss:") if proportional else ("status", "VmRSS:")
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field):
                total += int(line.split()[1]) * 1024
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                children += (task / "children").read_text().split()
            except OSError:
                continue  # the thread ended meanwhile
    except OSError:
        return total
    return total + sum(rss(int(child), proportional) for child in children)


def credentials(binary, directory):
    """A credentials file in `directory`: (its path, an admin token, a read token on `bench`)."""
    tokens = {role: f"sqlited_{secrets.token_hex(16)}" for role in ("admin", "read")}
    entries = []
    for role, token in tokens.items():
        digest = subprocess.run([str(binary), "token", "hash"], input=token, check=True,
                                capture_output=True, text=True).stdout.strip()
        scope = '"*"' if role == "admin" else "bench"
        entries.append(f'[[token]]\nname = "{role}"\nsha256 = "{digest}"\n'
                       f'roles = {{ {scope} = "{role}" }}\n')
    path = Path(directory) / "credentials.toml"
    path.write_text("\n".join(entries))
    return path, tokens["admin"], tokens["read"]


def run(label, flags, clients, duration, workload):
    binary = RELEASE / "sqlited"
    if flags and flags[0].startswith("binary:"):
        binary = Path(flags.pop(0)[len("binary:"):])
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sqlited-memory-") as data, \
            tempfile.TemporaryDirectory(prefix="sqlited-memory-auth-") as auth:
        file, admin, reader = credentials(binary, auth)
        command = [str(binary), "--listen", f"127.0.0.1:{port}", "--data-dir", data,
                   "--credentials", str(file), *flags]
        log = open(Path(auth) / "server.log", "w")
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        as_admin = {**os.environ, "SQLITED_TOKEN": admin}
        as_reader = {**os.environ, "SQLITED_TOKEN": reader}
        try:
            if "listening" not in server.stdout.readline():
                raise SystemExit(f"{label}: sqlited did not start")
            url = f"http://127.0.0.1:{port}"
            bench = [str(RELEASE / "sqlited-bench"), "--url", url, "--workload", "point-select"]
            subprocess.run([*bench, "--init", "--requests", "100"], check=True, capture_output=True,
                           env=as_admin)
            idle = rss(server.pid)
            peak = [idle, rss(server.pid, proportional=True)]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss(server.pid))
                    peak[1] = max(peak[1], rss(server.pid, proportional=True))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            hostile = [str(RELEASE / "sqlited-bench"), "--url", url, "--workload", workload,
                       "--clients", str(clients), "--duration", str(duration), "--warmup", "0"]
            out = subprocess.run(hostile, check=True, capture_output=True, text=True,
                                 env=as_reader).stdout
            done.set()
            sampler.join()
            result = json.loads(out.strip().splitlines()[-1])
            alive = subprocess.run([*bench, "--requests", "10"], capture_output=True,
                                   env=as_reader).returncode == 0
            shown = " ".join(["sqlited", *flags]) if binary == RELEASE / "sqlited" else " ".join([str(binary), *flags])
            return {
                "label": label,
                "server": shown,
                "idle": idle,
                "peak": peak[0],
                "peak_pss": peak[1],
                "errors": result.get("errors", {}),
                "ok": result.get("requests", 0),
                "alive": alive,
                "bench": " ".join(["sqlited-bench", *hostile[1:2], "URL", *hostile[3:]]),
            }
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--workload", action="append", choices=WORKLOADS,
                        help="a hostile workload to run (repeatable; default: all)")
    parser.add_argument("configs", nargs="*", metavar="LABEL=FLAGS")
    args = parser.parse_args()
    mib = lambda n: f"{n / 2**20:,.0f} MiB"
    for workload in args.workload or WORKLOADS:
        rows = []
        for config in args.configs or DEFAULT_CONFIGS:
            label, _, flags = config.partition("=")
            rows.append(run(label, shlex.split(flags), args.clients, args.duration, workload))
        print(f"{args.clients} read-token clients, {args.duration:g} s of `{rows[0]['bench']}`\n")
        print("| server | idle RSS | peak RSS | peak ÷ idle | peak PSS | answers | served afterwards |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            answers = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "none"
            if r["ok"]:
                answers += f", OK {r['ok']}"
            print(f"| `{r['server']}` | {mib(r['idle'])} | {mib(r['peak'])} "
                  f"| {r['peak'] / r['idle']:.1f}× | {mib(r['peak_pss'])} | {answers} "
                  f"| {'yes' if r['alive'] else 'NO'} |")
        print()


if __name__ == "__main__":
    main()
