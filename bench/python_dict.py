#!/usr/bin/env python3
"""Python's PersistentDict against the seed's design rebuilt in Python, in one run.

40 threads (``--threads``) each doing ``d[k] = v`` as fast as they can, each assignment durable
when it returns, on two targets taken round robin (``--runs`` each, the median reported):

- ``sqlited``: ``sqlited.PersistentDict`` (codec pickle, the default) on a sqlited server this
  script starts (``--binary``) on a fresh data directory; concurrent assignments travel together
  as one SetMany (the dict's client-side batcher);
- ``seed``: the seed's design rebuilt in Python, in this process: one ``sqlite3`` connection
  (WAL, ``synchronous=FULL``) behind a lock, each assignment its own committed transaction,
  values pickled as sqlitedict does.

Workloads, as sqlited-bench's: ``append`` sets new keys in time order (``d[next_id()] = v``),
``insert`` replaces a random one of 100,000 keys (every entry dirties its own page); values are
16 random bytes. Both targets keep their files in the same temporary directory (same disk).

    pip install ./python
    python3 bench/python_dict.py --binary target/release/sqlited --threads 40 --duration 5 --runs 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import sqlited
from sqlited import persistent_dict

KEYS = 100_000


class Seed:
    """One sqlite3 connection behind a lock, a durable transaction per assignment."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS dict (key TEXT PRIMARY KEY, value BLOB)")
        self.lock = threading.Lock()

    def __setitem__(self, key: str, value: bytes) -> None:
        with self.lock:  # autocommit: the statement is its own durable transaction
            self.conn.execute("INSERT OR REPLACE INTO dict VALUES (?, ?)", (key, pickle.dumps(value)))

    def fill(self, keys) -> None:
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO dict VALUES (?, ?)", ((k, pickle.dumps(b"")) for k in keys))
            self.conn.execute("COMMIT")


def key_of(n: int) -> str:
    return f"k{n:06}"


def run(d, workload: str, threads: int, duration: float, counter) -> dict:
    """Assignments per second over ``duration``, with p99 latency."""
    stop = time.monotonic() + duration
    latencies = [[] for _ in range(threads)]
    errors = []

    def work(i: int) -> None:
        rng = random.Random(i)
        mine = latencies[i]
        try:
            while True:
                start = time.monotonic()
                if start >= stop:
                    return
                if workload == "append":
                    key = f"n{next(counter):012}"
                else:
                    key = key_of(rng.randint(1, KEYS))
                d[key] = rng.randbytes(16)
                mine.append(time.monotonic() - start)
        except Exception as e:  # reported: a benchmark with errors is not a figure
            errors.append(repr(e))

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    cpu = os.times()
    began = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - began
    after = os.times()
    cpu_s = (after.user - cpu.user) + (after.system - cpu.system)
    if errors:
        raise SystemExit(f"{len(errors)} errors, first: {errors[0]}")
    all_latencies = sorted(x for xs in latencies for x in xs)
    count = len(all_latencies)
    return {
        "per_s": count / elapsed,
        "p99_ms": 1000 * all_latencies[min(count - 1, int(count * 0.99))] if count else 0.0,
        "count": count,
        # This process's CPU (the Python client; for the seed target also SQLite's work).
        "cpu_cores": cpu_s / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "sqlited"))
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workloads", default="insert,append")
    parser.add_argument("--in-flight", type=int, default=persistent_dict.MAX_IN_FLIGHT,
                        help="requests the dict's batcher has out at once (persistent_dict.MAX_IN_FLIGHT)")
    args = parser.parse_args()
    persistent_dict.MAX_IN_FLIGHT = args.in_flight

    work_dir = tempfile.mkdtemp(prefix="pydict-bench-")
    data = os.path.join(work_dir, "data")
    os.mkdir(data)
    server = subprocess.Popen(
        [args.binary, "--listen", "127.0.0.1:0", "--data-dir", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline()
        if not line.startswith("sqlited listening on "):
            raise SystemExit(f"the server did not start: {line!r}")
        address = line.split()[-1]
        targets = {
            "sqlited": sqlited.PersistentDict(f"{address}/bench", "dict"),
            "seed": Seed(os.path.join(work_dir, "seed.db")),
        }
        keys = [key_of(n) for n in range(1, KEYS + 1)]
        for i in range(0, KEYS, 10_000):
            targets["sqlited"].update({k: b"" for k in keys[i : i + 10_000]})
        targets["seed"].fill(keys)
        counter = itertools.count()
        results = {}
        for workload in args.workloads.split(","):
            for name, d in targets.items():  # a warm-up of each
                run(d, workload, args.threads, 1.0, counter)
            for _ in range(args.runs):
                for name, d in targets.items():
                    r = run(d, workload, args.threads, args.duration, counter)
                    results.setdefault((workload, name), []).append(r)
                    print(json.dumps({"workload": workload, "target": name, "threads": args.threads, **r}), flush=True)
        print()
        print("| workload | PersistentDict /s (median) | runs (min–max) /s | p99 ms | client CPU | seed's design in Python /s | runs (min–max) /s | p99 ms | ratio |")
        print("|---|---|---|---|---|---|---|---|---|")
        for workload in args.workloads.split(","):
            ours, seed = results[(workload, "sqlited")], results[(workload, "seed")]
            ours_median = statistics.median(r["per_s"] for r in ours)
            seed_median = statistics.median(r["per_s"] for r in seed)
            print(
                f"| {workload} | {ours_median:,.0f} | {min(r['per_s'] for r in ours):,.0f}–{max(r['per_s'] for r in ours):,.0f} "
                f"| {statistics.median(r['p99_ms'] for r in ours):.2f} | {statistics.median(r['cpu_cores'] for r in ours):.2f} "
                f"| {seed_median:,.0f} | {min(r['per_s'] for r in seed):,.0f}–{max(r['per_s'] for r in seed):,.0f} "
                f"| {statistics.median(r['p99_ms'] for r in seed):.2f} | {ours_median / seed_median:.1f}× |"
            )
        print(f"\npython {sys.version.split()[0]}, sqlite3 {sqlite3.sqlite_version}, server {args.binary}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
