#!/usr/bin/env python3
"""Point select and durable insert over the HTTP/JSON gateway beside gRPC, in one run.

    python3 bench/http_gateway.py [--duration 3] [--clients 1,16]

Builds the release binaries, starts one sqlited with --http-listen on private ports, fills the
tables once (sqlited-bench --init over gRPC), then runs each workload and client count against
gRPC (async client, one HTTP/2 channel) and the gateway (a keep-alive HTTP/1.1 connection per
client, JSON in and out) alternately, and prints the markdown section of BENCHMARKS.md.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BENCH, SQLITED, bench, build, free_port, log, machine, table  # noqa: E402


class Server:
    """sqlited with its gateway on private ports."""

    def __init__(self, data_dir):
        self.port, self.http_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.log = open(Path(data_dir).parent / "sqlited-http-bench.log", "w")
        self.proc = subprocess.Popen(
            [str(SQLITED), "--listen", f"127.0.0.1:{self.port}", "--http-listen",
             f"127.0.0.1:{self.http_port}", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        for _ in range(2):
            line = self.proc.stdout.readline()
            if "listening" not in line and "http on" not in line:
                raise RuntimeError(f"sqlited did not start: {line!r}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--clients", default="1,16")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    build()
    started = time.time()
    results = {}
    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "data"
        data.mkdir()
        server = Server(data)
        try:
            bench("--url", server.url, "--workload", "point-select", "--init", "--requests", "1")
            for workload in ("point-select", "insert"):
                for c in clients:
                    common = ["--workload", workload, "--clients", c, "--duration", args.duration,
                              "--warmup", 1]
                    results[(workload, c, "grpc")] = bench("--url", server.url, *common)
                    results[(workload, c, "grpc-n")] = bench("--url", server.url, "--channels", c, *common)
                    results[(workload, c, "http")] = bench(
                        "--target", "http", "--http-url", server.http_url, "--url", server.url, *common)
        finally:
            server.stop()
    took = time.time() - started
    rows = []
    for workload in ("point-select", "insert"):
        for c in clients:
            g, n, h = (results[(workload, c, k)] for k in ("grpc", "grpc-n", "http"))
            rows.append([
                workload, c, f"{g['rps']:,.0f}", f"{n['rps']:,.0f}", f"{h['rps']:,.0f}",
                f"{h['rps'] / n['rps']:.2f}×", f"{n['p99_ms']:.2f}", f"{h['p99_ms']:.2f}",
                f"{n.get('client_cpu_cores', 0):.2f} / {h.get('client_cpu_cores', 0):.2f}",
                sum(sum(r["errors"].values()) for r in (g, n, h)),
            ])
    commands = [re.sub(r"--http-url http://127.0.0.1:\d+", "--http-url $HTTP", r["command"])
                for r in results.values()]
    out = [
        "## HTTP/JSON gateway beside gRPC",
        "",
        f"Written by `python3 bench/http_gateway.py --duration {args.duration:g} --clients {args.clients}` "
        f"in one run ({took / 60:.1f} min; {machine()}). One server serves both; each cell runs in turn "
        "gRPC (async client) over one HTTP/2 channel, gRPC over a channel per client, and the gateway "
        "(a keep-alive HTTP/1.1 connection per client, the statement as JSON, the whole JSON answer "
        "parsed); the ratio compares the two with a connection per client. Point select: a random id "
        "of a 100,000-row table; insert: one durable row (synchronous=FULL, group commit).",
        "",
        table(["workload", "clients", "gRPC, 1 channel req/s", "gRPC, a channel per client req/s",
               "HTTP/JSON req/s", "HTTP ÷ gRPC per client", "gRPC per client p99 ms", "HTTP p99 ms",
               "gen CPU gRPC per client / HTTP", "errors"], rows),
        "",
        "Commands (`$URL` the gRPC address, `$HTTP` the gateway's):",
        "",
        "```sh",
        *commands,
        "```",
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
