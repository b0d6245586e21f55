#!/usr/bin/env python3
"""Writer hold: how long other writes wait while one client does not read a writing query.

Client A sends, through Query, an INSERT ... RETURNING whose rows total about ROWS x 2*WIDTH
bytes, reads the first message, then stops reading for HOLD seconds. Client B meanwhile runs
single-row durable INSERTs (Execute) one after another and a point SELECT every 0.25 s. Printed:
B's INSERT latencies (median, max) and count during the hold, and how A's stream ended.

    bench/writer_hold.py PORT [HOLD] [ROWS] [WIDTH]

Against a running sqlited whose database `bench` was made by `sqlited-bench --init`. Needs the
sqlited package (`pip install ./python`) for its gRPC stubs, used raw here; A's channel has
HTTP/2 BDP probing off, so its window stays at 64 KiB, as for a client that never reads.
"""
import statistics
import sys
import threading
import time

import grpc
from sqlited._proto import database_pb2, database_pb2_grpc, values_pb2

port = int(sys.argv[1])
HOLD = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
ROWS = int(sys.argv[3]) if len(sys.argv) > 3 else 14000
WIDTH = int(sys.argv[4]) if len(sys.argv) > 4 else 500  # randomblob bytes; hex doubles it
DB = "bench"

SQL_A = (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) "
         f"INSERT INTO ins (a, c) SELECT x, hex(randomblob({WIDTH})) FROM c RETURNING id, c")
SQL_B = "INSERT INTO ins (a, c) VALUES (?, 'b')"
SQL_R = "SELECT id, a, b, c FROM data WHERE id = ?"


def statement(sql, *params):
    return values_pb2.Statement(sql=sql, params=[values_pb2.Value(integer=p) for p in params])


# Separate channels: A's stalled stream must not share B's HTTP/2 connection.
# BDP probing off: A's HTTP/2 window stays at its initial 64 KiB, as for a client that never reads.
chan_a = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.http2.bdp_probe", 0), ("grpc.max_receive_message_length", 64 << 20)])
chan_b = grpc.insecure_channel(f"127.0.0.1:{port}")
stub_a = database_pb2_grpc.DatabaseStub(chan_a)
stub_b = database_pb2_grpc.DatabaseStub(chan_b)

# Warm both paths.
stub_b.Execute(database_pb2.ExecuteRequest(database=DB, statement=statement(SQL_B, 0)), timeout=30)
list(stub_b.Query(database_pb2.QueryRequest(database=DB, statement=statement(SQL_R, 1)), timeout=30))

a_result = {}


def client_a():
    started = time.monotonic()
    call = stub_a.Query(database_pb2.QueryRequest(database=DB, statement=statement(SQL_A)), timeout=60)
    try:
        first = next(call)
        a_result["first_message_s"] = time.monotonic() - started
        a_result["first_rows"] = len(first.rows)
    except grpc.RpcError as e:
        a_result["error"] = f"{e.code().name}: {e.details()[:120]}"
        a_result["error_s"] = time.monotonic() - started
        return
    time.sleep(HOLD)  # not reading
    # Did the stream already fail while we were not reading? Read on briefly to see.
    try:
        n = 0
        for msg in call:
            n += len(msg.rows)
        a_result["rest_rows"] = n
        a_result["ended_s"] = time.monotonic() - started
    except grpc.RpcError as e:
        a_result["error"] = f"{e.code().name}: {e.details()[:160]}"
        a_result["error_s"] = time.monotonic() - started


ta = threading.Thread(target=client_a)
t0 = time.monotonic()
ta.start()
time.sleep(1.0)  # let A's statement start and stall
ins_lat, sel_lat = [], []
stop = t0 + 1.0 + HOLD - 0.5


def selects():
    i = 2
    while time.monotonic() < stop:
        s = time.monotonic()
        list(stub_b.Query(database_pb2.QueryRequest(database=DB, statement=statement(SQL_R, i)), timeout=60))
        sel_lat.append(time.monotonic() - s)
        i += 1
        time.sleep(0.25)


ts = threading.Thread(target=selects)
ts.start()
errors = []
i = 1
while time.monotonic() < stop:
    s = time.monotonic()
    try:
        stub_b.Execute(database_pb2.ExecuteRequest(database=DB, statement=statement(SQL_B, i)), timeout=60)
        ins_lat.append(time.monotonic() - s)
    except grpc.RpcError as e:
        errors.append(f"{e.code().name} after {time.monotonic() - s:.1f}s")
    i += 1
ts.join()
ta.join()
ms = lambda xs: f"median {statistics.median(xs) * 1e3:.1f} ms, max {max(xs) * 1e3:.1f} ms" if xs else "none"
print(f"port {port}: A = Query of `INSERT … RETURNING` of {ROWS} rows x {2 * WIDTH} chars "
      f"(~{ROWS * 2 * WIDTH / 2**20:.0f} MiB), A stops reading for {HOLD:g} s")
print(f"  A: {a_result}")
print(f"  B INSERTs during the hold: {len(ins_lat)} done ({ms(ins_lat)}); errors: {errors or 'none'}")
print(f"  B point SELECTs during the hold: {len(sel_lat)} done ({ms(sel_lat)})")
