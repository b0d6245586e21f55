#!/usr/bin/env python3
"""The server's memory under hostile queries: idle RSS against peak RSS while 8 clients run them.

Starts each configuration of sqlited on a fresh data directory, reads its resident memory at
rest, then runs `sqlited-bench --workload hostile` (queries that would build gigabytes —
zeroblob, replace, printf, doubling — and an ORDER BY over a cross join) and samples the
resident memory of the server and its worker processes every 20 ms. Prints a Markdown table.

    python3 bench/memory.py [--clients 8] [--duration 20] [CONFIG ...]

A CONFIG is `label=flags`, e.g. `capped=--sqlite-memory-limit 512MiB`; `binary:PATH` at the
start of the flags runs another sqlited build (to compare with an older one side by side).
Default: the default flags, a 512 MiB cap, and worker processes under a 512 MiB cap.
Needs release builds of sqlited and sqlited-bench (`cargo build --release -p sqlited -p
sqlited-bench`) and Linux.
"""

import argparse
import json
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

RELEASE = Path(__file__).resolve().parent.parent / "target" / "release"
DEFAULT_CONFIGS = [
    "default=",
    "capped=--sqlite-memory-limit 512MiB",
    "processes=--workers processes --worker-memory-limit 512MiB",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    """Resident bytes of `pid` and every process below it (a child of any of its threads)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                children += (task / "children").read_text().split()
            except OSError:
                continue  # the thread ended meanwhile
    except OSError:
        return total
    return total + sum(rss(int(child)) for child in children)


def run(label, flags, clients, duration):
    binary = RELEASE / "sqlited"
    if flags and flags[0].startswith("binary:"):
        binary = Path(flags.pop(0)[len("binary:"):])
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sqlited-memory-") as data:
        command = [str(binary), "--listen", f"127.0.0.1:{port}", "--data-dir", data, *flags]
        log = open(Path(data) / "server.log", "w")
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            if "listening" not in server.stdout.readline():
                raise SystemExit(f"{label}: sqlited did not start")
            url = f"http://127.0.0.1:{port}"
            bench = [str(RELEASE / "sqlited-bench"), "--url", url, "--workload", "point-select"]
            subprocess.run([*bench, "--init", "--requests", "100"], check=True, capture_output=True)
            idle = rss(server.pid)
            peak = [idle]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss(server.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            hostile = [str(RELEASE / "sqlited-bench"), "--url", url, "--workload", "hostile",
                       "--clients", str(clients), "--duration", str(duration), "--warmup", "0"]
            out = subprocess.run(hostile, check=True, capture_output=True, text=True).stdout
            done.set()
            sampler.join()
            result = json.loads(out.strip().splitlines()[-1])
            alive = subprocess.run([*bench, "--requests", "10"], capture_output=True).returncode == 0
            shown = " ".join(["sqlited", *flags]) if binary == RELEASE / "sqlited" else " ".join([str(binary), *flags])
            return {
                "label": label,
                "server": shown,
                "idle": idle,
                "peak": peak[0],
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
    parser.add_argument("configs", nargs="*", metavar="LABEL=FLAGS")
    args = parser.parse_args()
    rows = []
    for config in args.configs or DEFAULT_CONFIGS:
        label, _, flags = config.partition("=")
        rows.append(run(label, shlex.split(flags), args.clients, args.duration))
    mib = lambda n: f"{n / 2**20:,.0f} MiB"
    print(f"{args.clients} clients, {args.duration:g} s of `{rows[0]['bench']}`\n")
    print("| server | idle RSS | peak RSS | peak ÷ idle | answers | served afterwards |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "none"
        if r["ok"]:
            answers += f", OK {r['ok']}"
        print(f"| `{r['server']}` | {mib(r['idle'])} | {mib(r['peak'])} | {r['peak'] / r['idle']:.1f}× "
              f"| {answers} | {'yes' if r['alive'] else 'NO'} |")


if __name__ == "__main__":
    main()
