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
# Seconds of warm-up before each measured run of sqlited-bench.
WARMUP_S = 1
# Point select and the RPC ceiling are measured over both transports, sqlited and PostgreSQL
# alike: TCP loopback, and a Unix socket.
TRANSPORTS = ("tcp", "unix")
POINT_CLIENTS = (1, 16, 64)
# Runs of each point-select cell, round robin over the cells; the median is shown with the
# range of the runs.
POINT_REPEATS = 3
# Requests each client keeps in flight in the pipelined columns: sqlited's session with
# `--pipeline`, and PostgreSQL's pgbench pipeline mode (`\startpipeline`, this many SELECTs,
# `\endpipeline`), so the two pipelined columns compare like with like.
PIPELINE = 16
# How sqlited's clients send their statements, one column each in the point-select table:
# "unary" is one RPC per statement; "session" sends each statement as a frame of the
# connection's one Database.Session stream (the client library's default); "session,
# pipelined" keeps PIPELINE requests in flight per client on that stream.
CLIENT_MODES = {
    "unary": ["--api", "unary"],
    "session": ["--api", "session"],
    "session, pipelined": ["--api", "session", "--pipeline", PIPELINE],
}
# The client modes of the durable-insert table.
INSERT_MODES = ("unary", "session")
# Runs of each durable-insert cell, round robin over sqlited's modes and PostgreSQL.
INSERT_REPEATS = 3


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_seconds(duration):
    """pgbench's -T, whole seconds (at least one)."""
    return max(1, round(duration))


def build():
    log("building release binaries")
    subprocess.run(
        ["cargo", "build", "--release", "-p", "sqlited", "-p", "sqlited-bench"],
        cwd=ROOT,
        check=True,
    )


class Sqlited:
    """A sqlited server on a private port (or Unix socket, with unix=True) and data directory."""

    def __init__(self, data_dir, *args, unix=False):
        self.port = free_port()
        if unix:
            listen = f"unix:{Path(data_dir).parent / f'sqlited-{self.port}.sock'}"
            self.url = listen
        else:
            listen = f"127.0.0.1:{self.port}"
            self.url = f"http://{listen}"
        self.args = [str(SQLITED), "--listen", listen, "--data-dir", str(data_dir), *map(str, args)]
        self.log = open(Path(data_dir).parent / f"sqlited-{self.port}.log", "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"sqlited did not start: {line!r}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()

    def cpu_ns(self):
        """Nanoseconds on CPU so far of the server's tokio runtime threads and its workers'
        threads (`sqlited-reader-N`, `sqlited-writer-N`, the process workers' proxies)."""
        groups = {"runtime": 0, "workers": 0, "other": 0}
        task_dir = Path(f"/proc/{self.proc.pid}/task")
        for task in task_dir.iterdir():
            try:
                comm = (task / "comm").read_text().strip()
                on_cpu = int((task / "schedstat").read_text().split()[0])
            except OSError:
                continue  # the thread ended meanwhile
            group = "runtime" if comm.startswith("tokio") else "workers" if comm.startswith("sqlited-") else "other"
            groups[group] += on_cpu
        return groups


def bench_cpu(server, *args):
    """`bench(*args)` against `server`, with the CPU microseconds per request of the server's
    runtime threads, its workers and the load generator."""
    before = server.cpu_ns()
    result = bench(*args)
    after = server.cpu_ns()
    n = max(result["requests"], 1)
    # The server's threads count over warm-up and measure alike; scale to the measured share.
    share = result["elapsed_s"] / (result["elapsed_s"] + WARMUP_S)
    result["cpu_us"] = {
        "runtime": (after["runtime"] - before["runtime"]) * share / 1e3 / n,
        "workers": (after["workers"] - before["workers"]) * share / 1e3 / n,
        "client": result["client_cpu_cores"] * result["elapsed_s"] * 1e6 / n,
    }
    return result


def median_of(runs):
    """The run with the median rate, its rates' range beside it, and every run's p50 (for the
    median p50 and its range)."""
    ordered = sorted(runs, key=lambda run: run["rps"])
    return dict(ordered[len(ordered) // 2], runs=[run["rps"] for run in runs],
                p50_runs=[run["p50_ms"] for run in runs if "p50_ms" in run])


def percentile(values, p):
    """The p-th percentile of `values` as sqlited-bench computes it (the nearest rank)."""
    ordered = sorted(values)
    return ordered[round((len(ordered) - 1) * p)] if ordered else None


def bench(*args):
    """Runs sqlited-bench; returns its JSON result and the command line."""
    command = [str(BENCH), *map(str, args)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    shown = " ".join(["sqlited-bench", *map(str, args)])
    shown = re.sub(r"--url http://127.0.0.1:\d+", "--url $URL", shown)
    shown = re.sub(r"--url unix:\S+", "--url unix:$SOCKET", shown)
    shown = re.sub(r"--data-dir \S+", "--data-dir $DIR", shown)
    result["command"] = shown
    log(f"  {result['workload']:<13} {result['target']:<8} {result['mode']:<24} c={result['clients']:<3} "
        f"rps={result['rps']:>9.0f} p99={result['p99_ms']:.2f}ms errors={result['errors']}")
    return result


class Postgres:
    """PostgreSQL 15 on a private port and data directory, run as the postgres user."""

    def __init__(self, workdir, name="pg"):
        if not (PG_BIN / "pg_ctl").exists():
            log("installing postgresql-15")
            subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-15"], check=True)
        self.dir = Path(workdir) / name
        self.dir.mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.as_postgres([PG_BIN / "initdb", "-D", self.dir / "data", "-A", "trust"])
        self.as_postgres([
            PG_BIN / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "log", "-w", "start",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c synchronous_commit=on "
                  f"-c fsync=on -c max_connections=200 -c shared_buffers=256MB",
        ])
        self.env = {**os.environ, "PGHOST": str(self.dir), "PGPORT": str(self.port), "PGUSER": "postgres"}
        subprocess.run(["pgbench", "-i", "-s", "1", "-q", "postgres"], env=self.env, check=True,
                       capture_output=True)
        subprocess.run(["psql", "-q", "-c", "CREATE TABLE ins (id serial PRIMARY KEY, a int NOT NULL, c text NOT NULL)",
                        "postgres"], env=self.env, check=True)
        self.insert_script = self.dir / "insert.sql"
        self.insert_script.write_text("\\set a random(1, 1000000)\nINSERT INTO ins (a, c) VALUES (:a, 'v');\n")
        # pgbench -S's statement, PIPELINE of them in one pipeline (scale 1: 100,000 accounts).
        self.pipeline_script = self.dir / "select-pipeline.sql"
        self.pipeline_script.write_text("".join(
            [f"\\set aid{i} random(1, 100000 * :scale)\n" for i in range(PIPELINE)]
            + ["\\startpipeline\n"]
            + [f"SELECT abalance FROM pgbench_accounts WHERE aid = :aid{i};\n" for i in range(PIPELINE)]
            + ["\\endpipeline\n"]))

    def as_postgres(self, command):
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                       capture_output=True)

    def pgbench(self, label, clients, duration, *args, transport="unix", per_transaction=1, p50=False):
        """pgbench over the Unix socket (the default) or TCP loopback (transport="tcp").

        `rps` is statements per second: tps × `per_transaction` (the statements of one
        transaction of the script). With `p50`, pgbench logs every transaction's latency
        (`-l`) and the result carries their median, as sqlited-bench reports its own."""
        command = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(duration), *map(str, args)]
        log_prefix = self.dir / "txlog"
        if p50:
            command += ["-l", f"--log-prefix={log_prefix}"]
        command += ["postgres"]
        env = dict(self.env, PGHOST="127.0.0.1") if transport == "tcp" else self.env
        for attempt in (1, 2):
            out = subprocess.run(command, env=env, check=True, cwd=self.dir, capture_output=True, text=True).stdout
            if re.search(r"tps = ([0-9.]+)", out):
                break
            # No transaction finished (all of -T went to connecting on a busy machine): once more.
            log(f"  pgbench reported no rate (attempt {attempt}):\n{out}")
            for path in self.dir.glob("txlog.*"):
                path.unlink()
        tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
        latency = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))
        result = {"rps": tps * per_transaction, "avg_ms": latency}
        if p50:
            # Each line: client_id transaction_no time_us script_no time_epoch time_us_part.
            latencies = []
            for path in self.dir.glob("txlog.*"):
                latencies += [int(line.split()[2]) for line in path.read_text().splitlines() if line.strip()]
                path.unlink()
            result["p50_ms"] = percentile(latencies, 0.5) / 1000
        shown = " ".join(command).replace(str(self.insert_script), "insert.sql")
        shown = shown.replace(str(self.pipeline_script), "select-pipeline.sql")
        shown = shown.replace(str(log_prefix), "txlog")
        shown = f"PGHOST={'127.0.0.1' if transport == 'tcp' else '$SOCKET_DIR'} {shown}"
        if per_transaction != 1:
            shown += f"  # statements/s = tps × {per_transaction}"
        result["command"] = shown
        log(f"  {label:<30} {transport:<4} c={clients:<3} statements/s={result['rps']:>9.0f}"
            + (f" p50={result['p50_ms']:.3f}ms" if p50 else ""))
        return result

    def stop(self):
        self.as_postgres([PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "stop"])


def machine():
    model = ""
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def load_average():
    """The 1, 5 and 15 minute load averages, as uptime shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--repeats", type=int,
                        help="runs of every repeated cell instead of the defaults (a quick check of the script; "
                             "the figures of BENCHMARKS.md use the defaults)")
    args = parser.parse_args()
    if args.repeats:
        global POINT_REPEATS, INSERT_REPEATS, KV_REPEATS
        POINT_REPEATS = INSERT_REPEATS = KV_REPEATS = args.repeats
        SEED_REPEATS.update({w: args.repeats for w in SEED_REPEATS})
    if not args.no_build:
        build()
    d = args.duration
    common = ["--duration", d, "--warmup", WARMUP_S]
    work = Path(tempfile.mkdtemp(prefix="sqlited-bench-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user and must reach its directory
    started = time.time()
    load_before = load_average()
    results = {}

    log("point select and the RPC ceiling, sqlited and PostgreSQL, over TCP and a Unix socket")
    point_select(work, d, common, results)

    log("sqlited: point select variants, insert, and the other workloads")
    server = Sqlited(work / "server")
    bench("--url", server.url, "--init", "--workload", "point-select", "--duration", 1, "--warmup", 0)
    for c in (1, 16, 64):
        results[("point", "sqlited-4ch", c)] = bench("--url", server.url, "--workload", "point-select", "--clients", c,
                                                      "--api", "unary", "--channels", 4, *common)
        results[("point", "sqlited-threads", c)] = bench("--url", server.url, "--workload", "point-select", "--clients", c,
                                                          "--api", "unary", "--mode", "threads", *common)
    durable_insert(work, server, d, common, results)
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
        results[("point", "pg-simple", c)] = pg.pgbench("pgbench -S", c, pg_seconds(d), "-S")
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

    write(args.out, results, seed, group_sizes, d, time.time() - started, load_before, load_average())
    shutil.rmtree(work, ignore_errors=True)


def point_select(work, d, common, results):
    """Point select on sqlited (each client mode) and PostgreSQL (`-M prepared -S`, and its
    pipeline mode), and sqlited's RPC ceiling, over each transport at each client count:
    POINT_REPEATS rounds, every cell once per round, so a noisy spell of the shared machine
    hits all of them."""
    servers = {t: Sqlited(work / f"point-{t}", unix=(t == "unix")) for t in TRANSPORTS}
    for server in servers.values():
        bench("--url", server.url, "--init", "--workload", "point-select", "--duration", 1, "--warmup", 0)
    pg = Postgres(work, "pg-point")
    runs = {}
    for _ in range(POINT_REPEATS):
        for c in POINT_CLIENTS:
            for t in TRANSPORTS:
                url = servers[t].url
                runs.setdefault(("ceiling", t, c), []).append(bench_cpu(
                    servers[t], "--url", url, "--workload", "rpc-ceiling", "--clients", c, *common))
                for mode, flags in CLIENT_MODES.items():
                    runs.setdefault((f"point-{mode}", t, c), []).append(bench_cpu(
                        servers[t], "--url", url, "--workload", "point-select", "--clients", c, *flags, *common))
                runs.setdefault(("pg-prepared", t, c), []).append(
                    pg.pgbench("pgbench -M prepared -S", c, pg_seconds(d), "-M", "prepared", "-S", transport=t, p50=True))
                runs.setdefault(("pg-pipelined", t, c), []).append(
                    pg.pgbench(f"pgbench pipeline x{PIPELINE}", c, pg_seconds(d), "-M", "prepared", "-f",
                               pg.pipeline_script, transport=t, per_transaction=PIPELINE))
    pg.stop()
    for server in servers.values():
        server.stop()
    for key, cell in runs.items():
        results[("point-transport", *key)] = median_of(cell)


def durable_insert(work, server, d, common, results):
    """Durable single-row INSERT on `server` (each of INSERT_MODES) and PostgreSQL at each
    client count: INSERT_REPEATS rounds, every cell once per round."""
    pg = Postgres(work, "pg-insert")
    runs = {}
    for _ in range(INSERT_REPEATS):
        for c in POINT_CLIENTS:
            for mode in INSERT_MODES:
                runs.setdefault((f"sqlited-{mode}", c), []).append(bench(
                    "--url", server.url, "--workload", "insert", "--clients", c, *CLIENT_MODES[mode], *common))
            runs.setdefault(("pg", c), []).append(
                pg.pgbench("pgbench insert", c, pg_seconds(d), "-M", "prepared", "-f", pg.insert_script))
    pg.stop()
    for (what, c), cell in runs.items():
        results[("insert", what, c)] = median_of(cell)


def cell_of(r, key):
    """A median with the range of its runs, or – when not measured."""
    if key not in r:
        return "–"
    runs = r[key]["runs"]
    return f"{r[key]['rps']:,.0f} ({min(runs):,.0f}–{max(runs):,.0f})"


def ratio_of(r, a, b):
    """The ratio of two medians' rates, a number, or None when either is missing."""
    return r[a]["rps"] / r[b]["rps"] if a in r and b in r and r[b]["rps"] else None


def p50_of(r, key):
    """The median of the runs' p50s in ms, or None."""
    return percentile(r[key]["p50_runs"], 0.5) if key in r and r[key].get("p50_runs") else None


def times(x):
    return "–" if x is None else f"{x:.2f}×"


def point_key(what, t, c):
    return ("point-transport", what, t, c)


def point_section(r):
    """The point-select tables: rates beside the ceiling and PostgreSQL, ratios, p50
    latency, then CPU per request."""
    key = point_key
    pipelined = f"session, pipelined ×{PIPELINE}"
    label = lambda mode: pipelined if mode == "session, pipelined" else mode
    header = ["transport", "clients", "RPC ceiling (Health/Check)"]
    header += [f"sqlited {label(mode)}" for mode in CLIENT_MODES]
    header += ["PostgreSQL `-M prepared -S`", f"PostgreSQL pipeline ×{PIPELINE}"]
    rows = []
    for t in TRANSPORTS:
        for c in POINT_CLIENTS:
            rows.append([t, c, cell_of(r, key("ceiling", t, c))]
                        + [cell_of(r, key(f"point-{mode}", t, c)) for mode in CLIENT_MODES]
                        + [cell_of(r, key("pg-prepared", t, c)), cell_of(r, key("pg-pipelined", t, c))])
    ratio_header = ["transport", "clients"]
    ratio_header += [f"{label(mode)} ÷ ceiling" for mode in CLIENT_MODES]
    ratio_header += ["unary ÷ pg", "session ÷ pg", f"{pipelined} ÷ pg pipeline ×{PIPELINE}"]
    ratio_rows = []
    for t in TRANSPORTS:
        for c in POINT_CLIENTS:
            row = [t, c]
            row += [times(ratio_of(r, key(f"point-{mode}", t, c), key("ceiling", t, c))) for mode in CLIENT_MODES]
            row += [times(ratio_of(r, key("point-unary", t, c), key("pg-prepared", t, c))),
                    times(ratio_of(r, key("point-session", t, c), key("pg-prepared", t, c))),
                    times(ratio_of(r, key("point-session, pipelined", t, c), key("pg-pipelined", t, c)))]
            ratio_rows.append(row)
    latency_rows = []
    ms = lambda x: "–" if x is None else f"{x:.3f}"
    p50_cell = lambda k: "–" if p50_of(r, k) is None else (
        f"{p50_of(r, k):.3f} ({min(r[k]['p50_runs']):.3f}–{max(r[k]['p50_runs']):.3f})")
    for t in TRANSPORTS:
        for c in POINT_CLIENTS:
            pg = p50_of(r, key("pg-prepared", t, c))
            row = [t, c] + [p50_cell(key(f"point-{mode}", t, c)) for mode in CLIENT_MODES]
            row += [p50_cell(key("pg-prepared", t, c)), ms(r.get(key("pg-prepared", t, c), {}).get("avg_ms"))]
            row += [times(p50_of(r, key(f"point-{mode}", t, c)) / pg if pg and p50_of(r, key(f"point-{mode}", t, c))
                          else None) for mode in ("unary", "session")]
            latency_rows.append(row)
    cpu_rows = []
    for t in TRANSPORTS:
        for c in POINT_CLIENTS:
            for what in ["ceiling", *(f"point-{mode}" for mode in CLIENT_MODES)]:
                k = key(what, t, c)
                if k not in r or "cpu_us" not in r[k]:
                    continue
                cpu = r[k]["cpu_us"]
                cpu_rows.append([t, c, "RPC ceiling" if what == "ceiling" else "point select, " + label(what[6:]),
                                 f"{cpu['runtime']:.1f}", f"{cpu['workers']:.1f}", f"{cpu['client']:.1f}",
                                 f"{cpu['runtime'] + cpu['workers'] + cpu['client']:.1f}"])
    return [
        "## Point select over TCP and over a Unix socket, beside the RPC ceiling",
        "",
        "A random id of a 100,000-row table. sqlited and PostgreSQL run on the same transport in "
        "each row: TCP loopback (`--listen 127.0.0.1:PORT`, `PGHOST=127.0.0.1`) or a Unix socket "
        "(`--listen unix:PATH`, PostgreSQL's socket directory). The RPC ceiling is "
        "`grpc.health.v1.Health/Check` (`sqlited-bench --workload rpc-ceiling`) on the same "
        "server: the same connection, tonic and sqlited's layers, no worker and no SQL; it is a "
        "unary call, so a session may pass it. sqlited's client modes: `unary` is one gRPC call "
        "per statement (`--api unary`); `session` sends each statement as a frame of one "
        "`Database.Session` stream per connection, which all the clients (tasks) of the load "
        "generator share, as they share its one connection (`--api session`, the client "
        f"library's default); `{pipelined}` keeps {PIPELINE} statements in flight per client on "
        f"that stream (`--api session --pipeline {PIPELINE}`; the client sends at most 64 at a "
        "time on a session, so at 16 and 64 clients it is capped there). PostgreSQL's pipelined "
        f"column is pgbench's pipeline mode: a script of `\\startpipeline`, {PIPELINE} × pgbench "
        "-S's `SELECT abalance FROM pgbench_accounts WHERE aid = :aid` (each with its own random "
        "aid) and `\\endpipeline`, run with `-M prepared`; its figure is statements/s, pgbench's "
        f"tps × {PIPELINE}. "
        f"Each cell is the median of {POINT_REPEATS} runs (min–max of the runs in brackets), taken "
        "round robin over every cell of the table; the ratios are of medians.",
        "",
        "Statements per second:",
        "",
        table(header, rows),
        "",
        "Ratios of the medians above:",
        "",
        table(ratio_header, ratio_rows),
        "",
        "Latency, p50 in ms: the median of the runs' p50s (min–max in brackets). sqlited-bench "
        "times each request (with pipelining, from its start to its answer, so it includes the "
        "wait behind the other requests in flight); PostgreSQL's p50 is the median of every "
        "transaction's latency in pgbench's per-transaction log (`-l`) of the same `-M prepared "
        "-S` runs as above (one SELECT per transaction); pgbench's own average is beside it.",
        "",
        table(["transport", "clients", *[f"sqlited {label(mode)}" for mode in CLIENT_MODES], "PostgreSQL p50",
               "PostgreSQL avg", "unary ÷ pg p50", "session ÷ pg p50"], latency_rows),
        "",
        "CPU per request (µs, medians' runs) from the same runs: the server's tokio runtime "
        "threads, its worker threads (`sqlited-reader-N`, `sqlited-writer-N`), and the load "
        "generator (client). The server's threads are counted over the warm-up too, scaled by "
        "the measured share of the run, as in `bench/cpu_per_op.py`.",
        "",
        table(["transport", "clients", "requests", "server runtime", "workers", "client", "total"], cpu_rows),
        "",
    ]


def targets_section(r, seed):
    """The performance issue's targets (#23), each with its measured ratio in this run."""
    key = point_key
    rows = []

    def target(name, where, value, bound, at_least, fmt=times):
        met = "–" if value is None else "met" if (value >= bound if at_least else value <= bound) else "**missed**"
        rows.append([name, where, fmt(value), ("≥ " if at_least else "≤ ") + fmt(bound), met])

    for t in TRANSPORTS:
        for c in (16, 64):
            target("Point select with sessions ÷ PostgreSQL `-M prepared -S`", f"{t}, {c} clients",
                   ratio_of(r, key("point-session", t, c), key("pg-prepared", t, c)), 1.0, True)
    for t in TRANSPORTS:
        for c in POINT_CLIENTS:
            target("Unary point select ÷ the RPC ceiling", f"{t}, {c} client{'s' * (c > 1)}",
                   ratio_of(r, key("point-unary", t, c), key("ceiling", t, c)), 0.85, True)
    for t in TRANSPORTS:
        pg = p50_of(r, key("pg-prepared", t, 1))
        for mode in ("unary", "session"):
            mine = p50_of(r, key(f"point-{mode}", t, 1))
            target("p50 latency at 1 client ÷ PostgreSQL's", f"{t}, {mode}",
                   mine / pg if mine and pg else None, 2.0, False)
    for mode in INSERT_MODES:
        target(f"Durable single-row INSERT ÷ PostgreSQL (median of {INSERT_REPEATS})", f"64 clients, {mode}",
               ratio_of(r, ("insert", f"sqlited-{mode}", 64), ("insert", "pg", 64)), 2.0, True)
    # No regression elsewhere: the earlier issues' targets, which this run checks again.
    count = lambda x: "–" if x is None else f"{x:,.0f}/s"
    kv = r.get(("kv-append", "sqlited", 40), {}).get("rps")
    target("No regression: `kv-append` (the map's target)", "40 threads, median of 3", kv, 30_000, True, count)
    if seed:
        elapsed = lambda w, kind, readers, t: seed[(w, kind, readers, t)]["elapsed_s"]
        total = lambda w, kind: sum(elapsed(w, kind, rd, t) for rd in (1, 2, 4) for t in (1, 2, 4, 8))
        plain = lambda x: f"{x:.2f}"
        target("No regression: the seed's scan table, processes ÷ threads", "heavy, sum of the 12 cells",
               total("scan-heavy", "processes") / total("scan-heavy", "threads"), 1.10, False, plain)
        target("No regression: the seed's scan table, processes ÷ threads", "light, sum of the 12 cells",
               total("scan-light", "processes") / total("scan-light", "threads"), 1.5, False, plain)
        target("No regression: heavy scan, 2 readers ÷ 1 reader (thread workers)", "2 client threads",
               elapsed("scan-heavy", "threads", 2, 2) / elapsed("scan-heavy", "threads", 1, 2), 0.55, False, plain)
    return [
        "## Targets of the performance issue (#23), measured in this run",
        "",
        "Each ratio is of medians from the tables below, all from this one run. The \"no "
        "regression\" rows check the earlier issues' targets again (a regression against the "
        "previous build proper needs the two builds side by side, e.g. `bench/cpu_per_op.py`). "
        "The prose sections further down come from `bench/analysis.md`, written against the "
        "run of its date; where a later run's tables differ, the tables are the current figures.",
        "",
        table(["target", "where", "measured", "needs", "met?"], rows),
        "",
    ]


def write(out, r, seed, group_sizes, duration, took, load_before, load_after):
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
        f"Load average at the start: {load_before}; at the end: {load_after} (other engineers "
        "build and test on the same cores: a run is only comparable with itself).",
        "",
        *targets_section(r, seed),
        *point_section(r),
        "## Point select, other client shapes (TCP, one run each)",
        "",
        table(
            ["clients", "sqlited (unary, tasks, 1 channel, median above)", "sqlited (unary, 4 channels)",
             "sqlited (unary, threads, blocking)", "PostgreSQL `pgbench -S` (socket)", "sqlited p99 ms", "gen CPU"],
            [[c, rps(("point-transport", "point-unary", "tcp", c)), rps(("point", "sqlited-4ch", c)),
              rps(("point", "sqlited-threads", c)), rps(("point", "pg-simple", c)),
              p99(("point-transport", "point-unary", "tcp", c)), cpu(("point-transport", "point-unary", "tcp", c))]
             for c in (1, 16, 64)],
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
        "One row into a table with an integer primary key, durable when it returns. sqlited "
        "commits in groups (one fsync per group) and is measured with unary calls and with "
        "sessions; PostgreSQL runs `INSERT INTO ins (a, c) VALUES (:a, 'v')` with `-M prepared` "
        f"over its socket. Each cell is the median of {INSERT_REPEATS} runs (min–max in "
        "brackets), round robin over the three; the ratios are of medians. The in-process "
        "baseline is one run.",
        "",
        table(
            ["clients", "sqlited unary", "sqlited session", "PostgreSQL `pgbench -M prepared -f insert.sql`",
             "unary ÷ pg", "session ÷ pg", "rusqlite in-process, one locked connection",
             "sqlited p99 ms (unary / session)"],
            [[c, cell_of(r, ("insert", "sqlited-unary", c)), cell_of(r, ("insert", "sqlited-session", c)),
              cell_of(r, ("insert", "pg", c)),
              times(ratio_of(r, ("insert", "sqlited-unary", c), ("insert", "pg", c))),
              times(ratio_of(r, ("insert", "sqlited-session", c), ("insert", "pg", c))),
              rps(("insert", "rusqlite", c)),
              f"{p99(('insert', 'sqlited-unary', c))} / {p99(('insert', 'sqlited-session', c))}"]
             for c in (1, 16, 64)],
        ),
        "",
        "Group commit sizes at the end of the sqlited run, over its insert runs and the workloads after them "
        "(requests per transaction: transactions):",
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
    doc += seen + ["```", "",
                   f"`insert.sql` is `INSERT INTO ins (a, c) VALUES (:a, 'v')` after `\\set a random(1, 1000000)`; "
                   f"`select-pipeline.sql` sets `aid0` … `aid{PIPELINE - 1}` to `random(1, 100000 * :scale)`, then "
                   f"`\\startpipeline`, `SELECT abalance FROM pgbench_accounts WHERE aid = :aidN` for each, "
                   "`\\endpipeline`. PostgreSQL's p50 is the median of the `-l` log's per-transaction "
                   "latencies (`txlog.*`).", ""]
    # What follows the marker was measured by hand (other scripts, other builds): kept as it is.
    previous = Path(out).read_text() if Path(out).exists() else ""
    if HAND_WRITTEN in previous:
        doc += [previous[previous.index(HAND_WRITTEN):].rstrip(), ""]
    Path(out).write_text("\n".join(doc))
    log(f"wrote {out}")


HAND_WRITTEN = "<!-- Hand-measured sections below: bench/run.py keeps them as they are. -->"


if __name__ == "__main__":
    main()
