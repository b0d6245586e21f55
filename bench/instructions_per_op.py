#!/usr/bin/env python3
"""Instructions the server executes per request, counted by valgrind's callgrind.

CPU time per request (bench/cpu_per_op.py) moves with the machine's load; instruction counts
do not: the same binary, workload and request count give the same total whatever else runs on
the cores. So this is the figure to compare two builds by on a shared machine.

For each NAME=BINARY it initialises the workload with sqlited-bench on a fresh data directory
(the server at full speed), restarts that sqlited under callgrind, runs --warmup requests, zeroes the counters
(callgrind_control -z), runs --requests requests from one client, dumps the counters
(callgrind_control -d) and prints the server's instructions per request (all its threads).

    python3 bench/instructions_per_op.py --workload insert old=/tmp/sqlited-old new=target/release/sqlited

Needs valgrind (Debian's package), a release build of sqlited-bench and Linux.
"""

import argparse
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "target" / "release" / "sqlited-bench"
ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, bound=120.0):
    """Polls until the server accepts connections (valgrind starts slowly), up to `bound` s."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not listen on {port} within {bound} s")


def bench(url, workload, extra):
    subprocess.run(
        [str(ARGS.bench), "--url", url, "--workload", workload, "--clients", "1", "--mode", "tasks", *extra],
        check=True,
        capture_output=True,
    )


def serve(binary, data, port, valgrind=None):
    """Starts `binary` on `data` and `port` (under callgrind, writing to `valgrind`, if set)."""
    command = [binary, "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    if valgrind:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={valgrind}.%p", *command]
        # Under valgrind a long statement may take minutes, not seconds.
        command += ["--statement-timeout-ms", "600000"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, server)
    return server


def stop(server):
    server.terminate()
    server.wait(timeout=120)


def instructions(binary, workload, warmup, requests):
    with tempfile.TemporaryDirectory() as tmp:
        data, port = Path(tmp) / "data", free_port()
        url = f"http://127.0.0.1:{port}"
        # The workload's tables are made at full speed, then the server runs under callgrind.
        server = serve(binary, data, port)
        try:
            bench(url, workload, ["--init", "--requests", "1"])
        finally:
            stop(server)
        out = Path(tmp) / "callgrind.out"
        server = serve(binary, data, port, valgrind=out)
        try:
            bench(url, workload, ["--requests", str(warmup)])
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
            bench(url, workload, ["--requests", str(requests)])
            subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
            total = 0
            for dump in Path(tmp).glob("callgrind.out.*"):
                text = dump.read_text(errors="replace")
                if "Program termination" in text:
                    continue
                match = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
                if match:
                    total += int(match.group(1))
            return total / requests
        finally:
            stop(server)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="insert")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--bench", type=Path, default=BENCH, help="the sqlited-bench binary")
    parser.add_argument("builds", nargs="+", metavar="NAME=BINARY")
    global ARGS
    args = ARGS = parser.parse_args()
    results = []
    for build in args.builds:
        name, binary = build.split("=", 1)
        per_op = instructions(binary, args.workload, args.warmup, args.requests)
        results.append((name, per_op))
        print(f"  {name:<8} {args.workload:<14} {per_op:>12,.0f} instructions per request", flush=True)
    if len(results) > 1:
        base = results[0][1]
        for name, per_op in results[1:]:
            print(f"  {name} / {results[0][0]}: {per_op / base:.3f}")


if __name__ == "__main__":
    main()
