"""What only a server shows: threads, streaming, transactions across connections, errors."""

from __future__ import annotations

import resource
import threading

import pytest

import sqlited


def test_forty_threads_share_one_connection(url):
    conn = sqlited.connect(url, autocommit=True)
    conn.execute("CREATE TABLE t (thread INTEGER, i INTEGER)")
    errors = []

    def work(n):
        try:
            cur = conn.cursor()
            for i in range(10):
                cur.execute("INSERT INTO t VALUES (?, ?)", (n, i))
                assert cur.rowcount == 1
                cur.execute("SELECT count(*) FROM t WHERE thread = ?", (n,))
                assert cur.fetchone() == (i + 1,)
        except Exception as e:  # reported below, with the thread's number
            errors.append((n, e))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert conn.execute("SELECT count(*), count(DISTINCT thread) FROM t").fetchone() == (400, 40)


def _rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_rows_stream_lazily_in_bounded_memory(conn):
    conn.execute("CREATE TABLE made (x)")
    rows = 300_000
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i, printf('%080d', i) FROM n"
    cur = conn.execute(sql, (rows,))
    assert cur.fetchone() == (1, "%080d" % 1)  # the first row, before the rest is read
    assert cur._stream is not None
    before = _rss_kib()
    count = 1
    for i, _ in cur:
        count += 1
        if count == rows // 2:
            middle = _rss_kib()
    assert count == rows and i == rows
    # The whole result is ~30 MB of Python objects; streaming keeps a batch at a time.
    assert middle - before < 20_000, (before, middle)


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
    missing = sqlited.connect(url + "_missing")
    with pytest.raises(sqlited.OperationalError) as caught:
        missing.execute("SELECT 1")
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
