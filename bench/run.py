#!/usr/bin/env python3
"""Runs every benchmark side by side in one go and writes BENCHMARKS.md.

    python3 bench/run.py [--duration 5] [--out BENCHMARKS.md]

It builds the release binaries, starts sqlited and PostgreSQL 15 (from Debian's packages,
installed if missing) on private ports and data directories, runs sqlited-bench and pgbench
against them and the in-process baselines, and writes the tables with the command behind each
figure. Compare figures within one run only: the machine is shared and noisy.
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
SQLITED = RELEASE / "sqlited"
BENCH = RELEASE / "sqlited-bench"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# Where the seed's table runs its workers.
KINDS = ("threads", "processes")
# Runs of each cell of the seed's table; the median is shown.
SEED_REPEATS = {"scan-heavy": 3, "scan-light": 7}
# Runs of each PersistentMap cell against sqlited (round robin over the workloads); the median
# is shown with the range beside it, as one 5-second run on this shared machine swings by ±15 %.
KV_REPEATS = 3


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build():
    log("building release binaries")
    subprocess.run(
        ["cargo", "build", "--release", "-p", "sqlited", "-p", "sqlited-bench"],
        cwd=ROOT,
        check=True,
    )


class Sqlited:
    """A sqlited server on a private port and data directory."""

    def __init__(self, data_dir, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [str(SQLITED), "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir), *map(str, args)]
        self.log = open(Path(data_dir).parent / f"sqlited-{self.port}.log", "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"sqlited did not start: {line!r}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def bench(*args):
    """Runs sqlited-bench; returns its JSON result and the command line."""
    command = [str(BENCH), *map(str, args)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    shown = " ".join(["sqlited-bench", *map(str, args)])
    shown = re.sub(r"--url http://127.0.0.1:\d+", "--url $URL", shown)
    shown = re.sub(r"--data-dir \S+", "--data-dir $DIR", shown)
    result["command"] = shown
    log(f"  {result['workload']:<13} {result['target']:<16} c={result['clients']:<3} "
        f"rps={result['rps']:>9.0f} p99={result['p99_ms']:.2f}ms errors={result['errors']}")
    return result


class Postgres:
    """PostgreSQL 15 on a private port and data directory, run as the postgres user."""

    def __init__(self, workdir):
        if not (PG_BIN / "pg_ctl").exists():
            log("installing postgresql-15")
            subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-15"], check=True)
        self.dir = Path(workdir) / "pg"
        self.dir.mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.as_postgres([PG_BIN / "initdb", "-D", self.dir / "data", "-A", "trust"])
        self.as_postgres([
            PG_BIN / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "log", "-w", "start",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses='' -c synchronous_commit=on "
                  f"-c fsync=on -c max_connections=200 -c shared_buffers=256MB",
        ])
        self.env = {**os.environ, "PGHOST": str(self.dir), "PGPORT": str(self.port), "PGUSER": "postgres"}
        subprocess.run(["pgbench", "-i", "-s", "1", "-q", "postgres"], env=self.env, check=True,
                       capture_output=True)
        subprocess.run(["psql", "-q", "-c", "CREATE TABLE ins (id serial PRIMARY KEY, a int NOT NULL, c text NOT NULL)",
                        "postgres"], env=self.env, check=True)
        self.insert_script = self.dir / "insert.sql"
        self.insert_script.write_text("\\set a random(1, 1000000)\nINSERT INTO ins (a, c) VALUES (:a, 'v');\n")

    def as_postgres(self, command):
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                       capture_output=True)

    def pgbench(self, label, clients, duration, *args):
        command = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(duration), *args, "postgres"]
        out = subprocess.run(command, env=self.env, check=True, capture_output=True, text=True).stdout
        tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
        latency = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))
        shown = " ".join(command).replace(str(self.insert_script), "insert.sql")
        log(f"  {label:<30} c={clients:<3} tps={tps:>9.0f}")
        return {"rps": tps, "avg_ms": latency, "command": shown}

    def stop(self):
        self.as_postgres([PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "stop"])


def machine():
    model = ""
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        build()
    d = args.duration
    common = ["--duration", d, "--warmup", 1]
    work = Path(tempfile.mkdtemp(prefix="sqlited-bench-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user and must reach its directory
    started = time.time()
    results = {}

    log("sqlited: point select, insert, and the other workloads")
    server = Sqlited(work / "server")
    bench("--url", server.url, "--init", "--workload", "point-select", "--duration", 1, "--warmup", 0)
    for c in (1, 16, 64):
        results[("point", "sqlited", c)] = bench("--url", server.url, "--workload", "point-select", "--clients", c, *common)
        results[("point", "sqlited-4ch", c)] = bench("--url", server.url, "--workload", "point-select", "--clients", c,
                                                      "--channels", 4, *common)
        results[("point", "sqlited-threads", c)] = bench("--url", server.url, "--workload", "point-select", "--clients", c,
                                                          "--mode", "threads", *common)
        results[("insert", "sqlited", c)] = bench("--url", server.url, "--workload", "insert", "--clients", c, *common)
    for w in ("update", "mixed", "batch", "scan-light"):
        results[(w, "sqlited", 16)] = bench("--url", server.url, "--workload", w, "--clients", 16, *common)
    kv_runs = {w: [] for w in ("kv-insert", "kv-append", "kv-get")}
    for _ in range(KV_REPEATS):
        for w in kv_runs:
            kv_runs[w].append(bench("--url", server.url, "--workload", w, "--mode", "threads",
                                    "--clients", 40, *common))
    for w, runs in kv_runs.items():
        runs.sort(key=lambda run: run["rps"])
        results[(w, "sqlited", 40)] = dict(runs[len(runs) // 2], runs=[run["rps"] for run in runs])
    server.stop()
    group_sizes = [l for l in open(server.log.name) if "group commit sizes" in l]

    log("in-process baselines")
    inproc = work / "inproc"
    bench("--target", "rusqlite", "--data-dir", inproc, "--init", "--workload", "point-select", "--duration", 1,
          "--warmup", 0, "--clients", 1)
    for c in (1, 16, 64):
        results[("point", "rusqlite", c)] = bench("--target", "rusqlite", "--data-dir", inproc, "--workload",
                                                  "point-select", "--clients", c, *common)
        results[("point", "engine", c)] = bench("--target", "engine", "--data-dir", inproc, "--workload",
                                                "point-select", "--clients", c, *common)
        results[("point", "deadpool", c)] = bench("--target", "deadpool-sqlite", "--data-dir", inproc, "--workload",
                                                  "point-select", "--clients", c, *common)
        results[("insert", "rusqlite", c)] = bench("--target", "rusqlite", "--data-dir", inproc, "--workload",
                                                   "insert", "--clients", c, *common)
    for w in ("kv-insert", "kv-append", "kv-get"):
        results[(w, "rusqlite", 40)] = bench("--target", "rusqlite", "--data-dir", inproc, "--workload", w,
                                             "--mode", "threads", "--clients", 40, *common)

    log("PostgreSQL 15")
    pg = Postgres(work)
    for c in (1, 16, 64):
        results[("point", "pg-simple", c)] = pg.pgbench("pgbench -S", c, int(d), "-S")
        results[("point", "pg-prepared", c)] = pg.pgbench("pgbench -M prepared -S", c, int(d), "-M", "prepared", "-S")
        results[("insert", "pg", c)] = pg.pgbench("pgbench insert", c, int(d), "-M", "prepared", "-f",
                                                  str(pg.insert_script))
    pg.stop()

    log("the seed's table: time to finish 100 scans, readers x client threads, thread and process workers")
    # Both kinds run at once, on their own data, and every cell alternates between them, so a
    # noisy spell of the shared machine hits both sides of a ratio alike.
    seed = {}
    for readers in (1, 2, 4):
        servers = {kind: Sqlited(work / f"seed-{kind}-{readers}", "--readers", readers, "--workers", kind)
                   for kind in KINDS}
        for server in servers.values():
            bench("--url", server.url, "--init", "--workload", "scan-light", "--duration", 1, "--warmup", 0)
        for threads in (1, 2, 4, 8):
            for w in ("scan-heavy", "scan-light"):
                runs = {kind: [] for kind in KINDS}
                for _ in range(SEED_REPEATS[w]):
                    for kind in KINDS:
                        runs[kind].append(bench("--url", servers[kind].url, "--workload", w, "--mode", "threads",
                                                "--clients", threads, "--requests", 100))
                for kind in KINDS:
                    ordered = sorted(runs[kind], key=lambda r: r["elapsed_s"])
                    result = ordered[len(ordered) // 2]
                    result["command"] = f"sqlited --workers {kind} --readers {readers}  # then: {result['command']}"
                    seed[(w, kind, readers, threads)] = result
        for server in servers.values():
            server.stop()

    write(args.out, results, seed, group_sizes, d, time.time() - started)
    shutil.rmtree(work, ignore_errors=True)


def write(out, r, seed, group_sizes, duration, took):
    def rps(key):
        return f"{r[key]['rps']:,.0f}" if key in r else "–"

    def ratio(a, b):
        return f"{r[a]['rps'] / r[b]['rps']:.2f}×" if a in r and b in r and r[b]["rps"] else "–"

    def p99(key):
        return f"{r[key]['p99_ms']:.2f}" if key in r and "p99_ms" in r[key] else "–"

    def cpu(key):
        return f"{r[key]['client_cpu_cores']:.2f}" if key in r and "client_cpu_cores" in r[key] else "–"

    doc = [
        "# Benchmarks",
        "",
        f"Machine: {machine()}. Written by `python3 bench/run.py --duration {duration:g}` in one run "
        f"({took / 60:.1f} min); compare figures side by side within this file only — the machine is "
        "shared and noisy, so absolute numbers move between runs. Client and server share the same 2 "
        "cores: the load generator's own CPU use is shown (`gen CPU`, in cores) where it is known.",
        "",
        "## Point select (random id of a 100,000-row table)",
        "",
        table(
            ["clients", "sqlited (tasks, 1 channel)", "sqlited (4 channels)", "sqlited (threads, blocking)",
             "PostgreSQL `pgbench -S`", "PostgreSQL `pgbench -M prepared -S`", "sqlited ÷ pg prepared",
             "sqlited p99 ms", "gen CPU"],
            [[c, rps(("point", "sqlited", c)), rps(("point", "sqlited-4ch", c)), rps(("point", "sqlited-threads", c)),
              rps(("point", "pg-simple", c)), rps(("point", "pg-prepared", c)),
              ratio(("point", "sqlited", c), ("point", "pg-prepared", c)), p99(("point", "sqlited", c)),
              cpu(("point", "sqlited", c))] for c in (1, 16, 64)],
        ),
        "",
        "In-process, no network (requests/s):",
        "",
        table(
            ["clients", "rusqlite, a connection per thread (ceiling)", "sqlited engine (workers, no gRPC)",
             "deadpool-sqlite `interact`", "engine ÷ deadpool-sqlite"],
            [[c, rps(("point", "rusqlite", c)), rps(("point", "engine", c)), rps(("point", "deadpool", c)),
              ratio(("point", "engine", c), ("point", "deadpool", c))] for c in (1, 16, 64)],
        ),
        "",
        "## Durable single-row INSERT (synchronous=FULL / synchronous_commit=on)",
        "",
        table(
            ["clients", "sqlited (group commit)", "PostgreSQL `pgbench -M prepared -f insert.sql`",
             "sqlited ÷ pg", "rusqlite in-process, one locked connection", "sqlited p99 ms"],
            [[c, rps(("insert", "sqlited", c)), rps(("insert", "pg", c)), ratio(("insert", "sqlited", c), ("insert", "pg", c)),
              rps(("insert", "rusqlite", c)), p99(("insert", "sqlited", c))] for c in (1, 16, 64)],
        ),
        "",
        "Group commit sizes at the end of the sqlited run (requests per transaction: transactions):",
        "",
        "```text",
        *[re.sub(r"\x1b\[[0-9;]*m", "", l).strip() for l in group_sizes],
        "```",
        "",
        "## Other workloads (sqlited, 16 clients)",
        "",
        table(["workload", "requests/s", "p99 ms"],
              [[w, rps((w, "sqlited", 16)), p99((w, "sqlited", 16))] for w in ("update", "mixed", "batch", "scan-light")]),
        "",
        "`batch` is one request of 100 inserts (executemany): multiply by 100 for rows/s.",
        "",
        "## PersistentMap (40 client threads, blocking client)",
        "",
        "The seed's persistent dictionary managed 10–20 assignments a second with 40 threads "
        "(about 730 a second rebuilt on this machine). `map.insert(k, v)` is durable when it "
        "returns (synchronous=FULL, group commit). `kv-insert` updates a random one of the map's "
        "100,000 keys (every entry dirties its own page: the worst case for the disk); `kv-append` "
        "sets new keys in time order (`d[next_id()] = v`); values are 16 bytes. Concurrent inserts "
        "through one client travel together as one SetMany (client-side group commit). The baseline "
        "is the seed's design rebuilt in process: rusqlite, writes through one connection behind a "
        "mutex, a durable transaction per assignment (reads on a connection per thread). Each "
        f"sqlited cell is the median of {KV_REPEATS} runs, taken round robin over the three "
        "workloads; the range of the runs is beside it.",
        "",
        table(["operation", "sqlited /s (median)", "runs (min–max) /s", "p99 ms", "gen CPU",
               "seed's design in process /s", "ratio"],
              [[w, rps((w, "sqlited", 40)),
                "–".join(f"{x:,.0f}" for x in (min(r[(w, "sqlited", 40)]["runs"]),
                                                max(r[(w, "sqlited", 40)]["runs"]))),
                p99((w, "sqlited", 40)), cpu((w, "sqlited", 40)),
                rps((w, "rusqlite", 40)),
                f"{r[(w, 'sqlited', 40)]['rps'] / r[(w, 'rusqlite', 40)]['rps']:.1f}×"]
               for w in ("kv-insert", "kv-append", "kv-get")]),
        "",
        "## The seed's table: seconds to finish 100 scans",
        "",
        "`SELECT count(*) FROM scan_big WHERE b > ?` on 1,000,000 random rows (heavy) and on 1 row "
        "(light), for 1, 2 and 4 reader workers and 1, 2, 4, 8 client threads (blocking client), "
        "with thread workers (`--workers threads`) and worker processes (`--workers processes`) side "
        "by side; `p ÷ t` is the process time over the thread time (targets: heavy ≤ 1.10, light "
        "≤ 1.5). Both servers run side by side and each cell alternates between them; a cell is the "
        "median of 3 runs (heavy) or 7 runs (light: one run of 100 requests takes tens of "
        "milliseconds, so one scheduler hiccup would decide it).",
        "",
    ]
    elapsed = lambda w, kind, readers, t: seed[(w, kind, readers, t)]["elapsed_s"]
    for w in ("scan-heavy", "scan-light"):
        rows = []
        for readers in (1, 2, 4):
            for kind in KINDS:
                rows.append([readers, kind] + [f"{elapsed(w, kind, readers, t):.3f}" for t in (1, 2, 4, 8)])
            rows.append([readers, "p ÷ t"] + [
                f"{elapsed(w, 'processes', readers, t) / elapsed(w, 'threads', readers, t):.2f}"
                for t in (1, 2, 4, 8)])
        doc += [f"**{w}** (seconds; columns: client threads)", "",
                table(["readers", "workers", "1", "2", "4", "8"], rows), ""]
    ratios = {w: [elapsed(w, "processes", r, t) / elapsed(w, "threads", r, t) for r in (1, 2, 4) for t in (1, 2, 4, 8)]
              for w in ("scan-heavy", "scan-light")}
    total = lambda w, kind: sum(elapsed(w, kind, r, t) for r in (1, 2, 4) for t in (1, 2, 4, 8))
    heavy = lambda readers, t: elapsed("scan-heavy", "threads", readers, t)
    doc += [
        f"Processes ÷ threads over the whole table (sum of the 12 times): heavy "
        f"{total('scan-heavy', 'processes') / total('scan-heavy', 'threads'):.2f} (target ≤ 1.10), light "
        f"{total('scan-light', 'processes') / total('scan-light', 'threads'):.2f} (target ≤ 1.5); cell by "
        f"cell, heavy {min(ratios['scan-heavy']):.2f}–{max(ratios['scan-heavy']):.2f}, light "
        f"{min(ratios['scan-light']):.2f}–{max(ratios['scan-light']):.2f}.",
        "",
        f"Heavy scan with thread workers, 2 readers ÷ 1 reader at 2 threads: {heavy(2, 2) / heavy(1, 2):.2f} "
        f"(target ≤ 0.55); at 8 threads: {heavy(2, 8) / heavy(1, 8):.2f}.",
        "",
        (ROOT / "bench" / "analysis.md").read_text().strip(),
        "",
        "## Commands",
        "",
        "Each figure above came from one of these (`$URL` is the server started by the script, `$DIR` "
        "a temporary data directory):",
        "",
        "```text",
    ]
    seen = []
    for res in list(r.values()) + list(seed.values()):
        command = re.sub(r"--clients \d+", "--clients N", res["command"])
        command = re.sub(r"-c \d+ ", "-c N ", command)
        command = re.sub(r"--readers \d+", "--readers R", command)
        if command not in seen:
            seen.append(command)
    doc += seen + ["```", ""]
    Path(out).write_text("\n".join(doc))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
