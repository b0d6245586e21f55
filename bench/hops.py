#!/usr/bin/env python3
"""A point select hop by hop: each rung of the ladder adds one hop to the one below it.

    python3 bench/hops.py [--rounds 3] [--duration 3] [--clients 1 16] [--variant NAME=ENV=VALUE ...]

- `rusqlite`: the statement on a connection of the calling thread (SQLite alone);
- `engine`: sqlited's engine in process: the task hops to a reader thread and back (no gRPC);
- `rpc-ceiling`: `grpc.health.v1.Health/Check` on a running sqlited: client, HTTP/2, tonic and
  sqlited's layers, no worker;
- `point-select`: the whole path: the RPC plus the worker hop, the SQL and the rows' encoding.

The difference of two rungs' latency (p50 at 1 client) is the cost of the hop between them.
Each `--variant` starts one more server with an environment variable set (e.g. an experiment
in the reader loop), measured round robin with the baseline: compare within one run only.
Needs release builds (`cargo build --release -p sqlited -p sqlited-bench`).
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the servers and the load generator's wrapper)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--unix", action="store_true", help="servers on Unix sockets")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ENV=VALUE")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sqlited-hops-"))
    common = ["--duration", args.duration, "--warmup", 1]
    variants = {"base": {}}
    for v in args.variant:
        name, env, value = v.split("=", 2)
        variants[name] = {env: value}
    servers = {}
    for name, env in variants.items():
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            servers[name] = run.Sqlited(work / f"server-{name}", unix=args.unix)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        run.bench("--url", servers[name].url, "--init", "--workload", "point-select", "--duration", 1, "--warmup", 0)
    inproc = work / "inproc"
    run.bench("--target", "rusqlite", "--data-dir", inproc, "--init", "--workload", "point-select",
              "--duration", 1, "--warmup", 0, "--clients", 1)
    runs = {}
    for _ in range(args.rounds):
        for c in args.clients:
            runs.setdefault(("rusqlite", c), []).append(run.bench(
                "--target", "rusqlite", "--data-dir", inproc, "--workload", "point-select", "--clients", c, *common))
            runs.setdefault(("engine", c), []).append(run.bench(
                "--target", "engine", "--data-dir", inproc, "--workload", "point-select", "--clients", c, *common))
            for name, server in servers.items():
                for w in ("rpc-ceiling", "point-select"):
                    runs.setdefault((f"{w} {name}", c), []).append(run.bench_cpu(
                        server, "--url", server.url, "--workload", w, "--clients", c, *common))
    for server in servers.values():
        server.stop()
    print(f"load average at the end: {run.load_average()}")
    print("| rung | clients | req/s median (min–max) | p50 µs (median) | server runtime µs/req | workers µs/req | client µs/req |")
    print("|---|---|---|---|---|---|---|")
    for (rung, c), cell in runs.items():
        rates = [r["rps"] for r in cell]
        p50 = statistics.median(r["p50_ms"] for r in cell) * 1e3
        cpu = lambda part: (f"{statistics.median(r['cpu_us'][part] for r in cell):.1f}"
                            if all("cpu_us" in r for r in cell) else "–")
        print(f"| {rung} | {c} | {statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f}) | "
              f"{p50:.0f} | {cpu('runtime')} | {cpu('workers')} | {cpu('client')} |")


if __name__ == "__main__":
    main()
