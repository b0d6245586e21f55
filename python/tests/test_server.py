"""What only a server shows: threads, streaming, transactions across connections, errors."""

from __future__ import annotations

import resource
import subprocess
import sys
import threading

import pytest

import sqlited


def in_threads(work, count=40):
    """Runs ``work(n)`` in ``count`` threads at once; what each raised, with its number."""
    errors = []

    def run(n):
        try:
            work(n)
        except Exception as e:  # reported by the caller, with the thread's number
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_forty_threads_share_one_connection(url):
    conn = sqlited.connect(url, autocommit=True)
    conn.execute("CREATE TABLE t (thread INTEGER, i INTEGER)")

    def work(n):
        cur = conn.cursor()
        for i in range(10):
            cur.execute("INSERT INTO t VALUES (?, ?)", (n, i))
            assert cur.rowcount == 1
            cur.execute("SELECT count(*) FROM t WHERE thread = ?", (n,))
            assert cur.fetchone() == (i + 1,)

    assert in_threads(work) == []
    assert conn.execute("SELECT count(*), count(DISTINCT thread) FROM t").fetchone() == (400, 40)


def peak_rss_kib():
    """The process's peak resident set so far (VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux too


# A million rows made by the server (a recursive CTE: nothing to insert first).
MILLION = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) SELECT i, 'row' FROM n"
# Held whole (fetchall), a million rows raise the peak by ~160 MiB: a tuple, an int and a str
# each. Streamed, the cursor holds one message's batch (a few MiB measured); the bound leaves
# room for the allocator and gRPC's buffers, and is far below the whole.
STREAM_PEAK_GROWTH_KIB = 32 * 1024


def test_a_million_rows_stream_in_bounded_memory(conn):
    conn.execute("CREATE TABLE made (x)")  # the database exists once something writes
    cur = conn.execute(MILLION)
    assert cur.fetchone() == (1, "row")  # the first row, before the rest is read
    assert cur._stream is not None
    before = peak_rss_kib()
    count, last = 1, None
    for last in cur:
        count += 1
    assert (count, last) == (1_000_000, (1_000_000, "row"))
    growth = peak_rss_kib() - before
    assert growth < STREAM_PEAK_GROWTH_KIB, f"the peak RSS grew by {growth} KiB while streaming"


def test_a_transaction_is_isolated_and_streams_interleave(url):
    writer = sqlited.connect(url)
    reader = sqlited.connect(url)
    writer.execute("CREATE TABLE t (x)")
    writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5000)])
    assert writer.in_transaction
    assert reader.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchone() == (1,)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    # A cursor mid-stream, and another statement of the same transaction.
    streaming = writer.execute("SELECT x FROM t ORDER BY x")
    assert streaming.fetchone() == (0,)
    writer.execute("INSERT INTO t VALUES (-1)")
    writer.commit()
    assert len(streaming.fetchall()) == 4999
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (5001,)


def test_autocommit_false_keeps_a_transaction_open(url):
    conn = sqlited.connect(url, autocommit=False)
    conn.execute("CREATE TABLE t (x)")
    assert conn.in_transaction
    conn.commit()
    conn.execute("INSERT INTO t VALUES (1)")
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()


def test_errors_carry_the_servers_details(conn, url):
    conn.execute("CREATE TABLE t (x PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    with pytest.raises(sqlited.IntegrityError) as caught:
        conn.execute("INSERT INTO t VALUES (1)")
    error = caught.value
    assert error.sqlite_errorcode == 1555 and error.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY"
    assert error.request_id and error.code is not None
    assert isinstance(error, conn.IntegrityError)
    with pytest.raises(sqlited.OperationalError) as caught:
        sqlited.connect(url + "_missing?mode=rw")
    assert caught.value.reason == "DATABASE_NOT_FOUND" and caught.value.code.name == "NOT_FOUND"
    conn.execute("SAVEPOINT a")
    with pytest.raises(sqlited.OperationalError) as caught:
        conn.execute("RELEASE b")  # the server's SQLite says so
    assert str(caught.value) == "no such savepoint: b" and caught.value.sqlite_errorcode == 1
    assert caught.value.request_id
    conn.rollback()


def test_savepoints_run_in_the_servers_transaction(url):
    conn = sqlited.connect(url)
    other = sqlited.connect(url, autocommit=True)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("SAVEPOINT outer")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("SAVEPOINT inner")
    conn.execute("INSERT INTO t VALUES (2)")
    conn.execute("RELEASE inner")
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)  # not committed yet
    conn.execute("RELEASE outer")
    assert not conn.in_transaction
    assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    # autocommit=False (Python 3.12's sqlite3): always in a transaction, so the outermost
    # savepoint nests inside it and its RELEASE commits nothing.
    manual = sqlited.connect(url, autocommit=False)
    manual.execute("SAVEPOINT s")
    manual.execute("INSERT INTO t VALUES (3)")
    manual.execute("RELEASE s")
    assert manual.in_transaction
    assert other.execute("SELECT count(*) FROM t").fetchone() == (2,)
    manual.rollback()
    manual.execute("SAVEPOINT s")
    manual.execute("INSERT INTO t VALUES (4)")
    manual.execute("ROLLBACK TO s")
    manual.execute("INSERT INTO t VALUES (5)")
    manual.commit()
    assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,), (5,)]
    for c in (conn, other, manual):
        c.close()


def test_module_surface():
    assert (sqlited.apilevel, sqlited.threadsafety, sqlited.paramstyle) == ("2.0", 2, "qmark")
    assert issubclass(sqlited.IntegrityError, sqlited.DatabaseError)
    assert issubclass(sqlited.DatabaseError, sqlited.Error) and issubclass(sqlited.Error, Exception)
    assert sqlited.NUMBER == "INTEGER" and sqlited.STRING == "VARCHAR(10)" and sqlited.BINARY != "TEXT"
    assert sqlited.DateFromTicks(0).year in (1969, 1970)
    assert bytes(sqlited.Binary(b"x")) == b"x"
    for bad in ("ftp://h:1/db", "h:1", "h:1/"):
        with pytest.raises(sqlited.InterfaceError):
            sqlited.connect(bad)


def test_forty_threads_share_one_transaction_and_its_streams(url):
    # One transaction for all (sqlite3's check_same_thread=False): each thread streams a
    # query of it while the others write in it. The server runs a transaction's requests in
    # turn, so the connection reads other cursors' streams to their end first, from
    # whichever thread is about to send; every cursor must still see its rows, in order.
    conn = sqlited.connect(url)
    conn.execute("CREATE TABLE t (thread INTEGER, i INTEGER)")
    conn.executemany("INSERT INTO t VALUES (-1, ?)", [(i,) for i in range(2500)])  # 3 messages
    assert conn.in_transaction

    def work(n):
        cur = conn.cursor()
        for i in range(3):
            cur.execute("SELECT i FROM t WHERE thread = -1 ORDER BY i")
            first = cur.fetchmany(10)
            conn.execute("INSERT INTO t VALUES (?, ?)", (n, i))
            rows = first + cur.fetchall()
            assert rows == [(k,) for k in range(2500)], (n, i, len(rows))

    assert in_threads(work) == []
    conn.commit()
    other = sqlited.connect(url)
    assert other.execute("SELECT count(*), count(DISTINCT thread) FROM t WHERE thread >= 0").fetchone() == (120, 40)


# A program that ends with a query's stream still open: it must exit (gRPC's threads are gone
# by the time the interpreter drops the connection; closing its channel then waited forever).
UNFINISHED = """
import sys, sqlited
conn = sqlited.connect(sys.argv[1])
cur = conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT i FROM n")
assert cur.fetchone() == (1,) and cur._stream is not None
"""


def exits(script, url):
    """Runs ``script`` with ``url`` as its argument; its exit code, bounded in time."""
    done = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.returncode


def test_a_program_exits_with_a_stream_open(conn, url):
    conn.execute("CREATE TABLE made (x)")
    assert exits(UNFINISHED, url) == 0


def test_a_unix_socket_url(tmp_path):
    """``unix:/path?database=NAME`` reaches a server run with ``--listen unix:PATH``, from the
    blocking and the asyncio driver alike."""
    import asyncio

    from conftest import running

    import sqlited.aio

    socket = tmp_path / "sqlited.sock"
    with running(str(tmp_path / "data"), listen=f"unix:{socket}") as address:
        assert address == f"unix:{socket}"
        conn = sqlited.connect(f"unix:{socket}?database=app")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (42)")
        conn.commit()
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
        conn.close()

        async def read():
            aconn = await sqlited.aio.connect(f"unix://{socket}?database=app")
            try:
                cur = await aconn.execute("SELECT x FROM t")
                return await cur.fetchall()
            finally:
                await aconn.close()

        assert asyncio.run(read()) == [(42,)]

        d = sqlited.PersistentDict(f"unix:{socket}?database=app", "m")
        d["k"] = "v"
        assert d["k"] == "v"
        d.close()
    with pytest.raises(sqlited.InterfaceError):
        sqlited.connect(f"unix:{socket}")
