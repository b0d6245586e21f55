#!/usr/bin/env python3
"""Where the CPU of one request goes: server writer thread, server runtime threads, load generator.

Runs a workload of sqlited-bench against one or more running sqlited servers, round robin, and
reads each server thread's CPU time from /proc/PID/task/*/schedstat before and after every run.
Printed per server: the median requests/s and the median CPU microseconds per request of the
writer thread, of the tokio runtime threads, and of the load generator (its own measure).

CPU per request is steadier than requests/s on a shared, noisy machine, so it is the figure to
compare two builds by: start the old and the new binary side by side, each on its own data
directory (initialised with `sqlited-bench --init`), and name both here.

    python3 bench/cpu_per_op.py --rounds 4 --workload kv-append old=7761 new=7762

Needs a release build of sqlited-bench (`cargo build --release -p sqlited-bench`) and Linux.
"""

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "target" / "release" / "sqlited-bench"


def server_pid(port):
    """The pid of the sqlited listening on 127.0.0.1:PORT (as started with --listen)."""
    out = subprocess.run(["pgrep", "-f", f"listen 127.0.0.1:{port}"], capture_output=True, text=True).stdout
    pids = out.split()
    if not pids:
        raise SystemExit(f"no sqlited started with --listen 127.0.0.1:{port}")
    return pids[0]


def cpu_by_group(pid):
    """Nanoseconds on CPU so far of the server's writer threads and runtime threads."""
    groups = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
            on_cpu = int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except OSError:
            continue  # the thread ended meanwhile
        group = "writer" if "writer" in comm else "runtime" if "tokio" in comm else "other"
        groups[group] = groups.get(group, 0) + on_cpu
    return groups


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", default="kv-append")
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--mode", default="threads")
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("servers", nargs="+", metavar="NAME=PORT")
    args = parser.parse_args()
    servers = [s.split("=", 1) for s in args.servers]
    runs = {name: {"rps": [], "writer": [], "runtime": [], "generator": []} for name, _ in servers}
    for _ in range(args.rounds):
        for name, port in servers:
            pid = server_pid(port)
            before = cpu_by_group(pid)
            out = subprocess.run(
                [str(BENCH), "--url", f"http://127.0.0.1:{port}", "--workload", args.workload,
                 "--mode", args.mode, "--clients", str(args.clients), "--duration", str(args.duration),
                 "--warmup", "0"],
                check=True, capture_output=True, text=True).stdout
            after = cpu_by_group(pid)
            result = json.loads(out.strip().splitlines()[-1])
            n = result["requests"]
            runs[name]["rps"].append(result["rps"])
            for group in ("writer", "runtime"):
                runs[name][group].append((after.get(group, 0) - before.get(group, 0)) / 1e3 / n)
            runs[name]["generator"].append(result["client_cpu_cores"] * result["elapsed_s"] * 1e6 / n)
    print(f"{args.workload}, {args.clients} clients ({args.mode}), median of {args.rounds} runs each")
    for name, _ in servers:
        m = {key: statistics.median(values) for key, values in runs[name].items()}
        print(f"  {name:<10} {m['rps']:>8,.0f} req/s   CPU µs per request: writer {m['writer']:5.1f}"
              f"   server runtime {m['runtime']:5.1f}   load generator {m['generator']:5.1f}")


if __name__ == "__main__":
    main()
