"""sqlited.aio against the real server: the same observations as sqlite3 (through a shim that
awaits it), streaming, tasks sharing a connection, errors."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile

import pytest

import sqlited
import sqlited.aio
from test_server import MILLION, STREAM_PEAK_GROWTH_KIB, exits, peak_rss_kib

AWAITED = {"execute", "executemany", "executescript", "fetchone", "fetchmany", "fetchall", "commit", "rollback", "close", "callproc"}


class Awaited:
    """A sqlite3 connection or cursor with sqlited.aio's surface: the same async program
    runs on both."""

    def __init__(self, target):
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if name in AWAITED:
            async def call(*args, **kwargs):
                result = attr(*args, **kwargs)
                return Awaited(result) if isinstance(result, sqlite3.Cursor) else result
            return call
        return attr

    def __setattr__(self, name, value):
        setattr(self._target, name, value)

    def cursor(self):
        return Awaited(self._target.cursor())

    def __aiter__(self):
        return self

    async def __anext__(self):
        row = self._target.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self._target.__exit__(*exc)


def both(url, program, **kwargs):
    """Runs the async ``program(conn, module)`` on sqlite3 and on sqlited.aio: what each
    observes must be the same."""

    async def on(connect, module):
        conn = await connect()
        try:
            return await program(conn, module)
        finally:
            await conn.close()

    async def sqlite():
        return Awaited(sqlite3.connect(tempfile.mktemp(suffix=".db"), **kwargs))

    expected = asyncio.run(on(sqlite, sqlite3))
    got = asyncio.run(on(lambda: sqlited.aio.connect(url, **kwargs), sqlited))
    assert got == expected
    return got


def test_rowcount_lastrowid_and_fetching(url):
    async def program(conn, m):
        cur = conn.cursor()
        seen = [cur.rowcount, cur.lastrowid, cur.arraysize]
        await cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)")
        await cur.execute("INSERT INTO t (x) VALUES (?)", ("a",))
        seen += [cur.rowcount, cur.lastrowid]
        await cur.executemany("INSERT INTO t (x) VALUES (:x)", [{"x": c} for c in "bcdef"])
        seen.append(cur.rowcount)
        await cur.execute("UPDATE t SET x = 'z' WHERE id = -1")
        seen.append(cur.rowcount)
        await cur.execute("SELECT id, x FROM t ORDER BY id")
        seen += [[d[0] for d in cur.description], await cur.fetchone(), await cur.fetchmany(2)]
        seen.append([row async for row in cur])
        seen.append(await cur.fetchall())
        conn.row_factory = m.Row
        row = await (await conn.execute("SELECT id AS Id, x FROM t WHERE id = 2")).fetchone()
        seen += [row.keys(), row["id"], tuple(row)]
        await conn.commit()
        return seen

    both(url, program)


def test_transactions(url):
    async def program(conn, m):
        seen = [conn.in_transaction, conn.isolation_level]
        await conn.execute("CREATE TABLE t (x)")
        await conn.execute("INSERT INTO t VALUES (1)")
        seen.append(conn.in_transaction)
        await conn.rollback()
        try:
            async with conn:
                await conn.execute("INSERT INTO t VALUES (2)")
                raise KeyError
        except KeyError:
            pass
        async with conn:
            await conn.execute("INSERT INTO t VALUES (3)")
        seen += [conn.in_transaction, await (await conn.execute("SELECT x FROM t")).fetchall()]
        await conn.execute("BEGIN IMMEDIATE")
        await conn.execute("INSERT INTO t VALUES (4)")
        try:
            await conn.execute("BEGIN")
        except m.OperationalError as e:
            seen.append(str(e))
        await conn.execute("COMMIT")
        try:
            await conn.execute("ROLLBACK")
        except m.OperationalError as e:
            seen.append(str(e))
        await conn.executescript("BEGIN; INSERT INTO t VALUES (5); COMMIT; INSERT INTO t VALUES (6);")
        seen += [conn.in_transaction, await (await conn.execute("SELECT x FROM t ORDER BY x")).fetchall()]
        conn.isolation_level = None
        await conn.execute("INSERT INTO t VALUES (7)")
        seen.append(conn.in_transaction)
        return seen

    both(url, program)


def test_savepoints(url):
    async def program(conn, m):
        conn.isolation_level = None
        await conn.execute("CREATE TABLE t (x)")
        seen = []
        await conn.execute("SAVEPOINT outer_sp")  # begins a transaction
        seen.append(conn.in_transaction)
        await conn.execute("INSERT INTO t VALUES (1)")
        await conn.execute("SAVEPOINT inner_sp")
        await conn.execute("INSERT INTO t VALUES (2)")
        await conn.execute("ROLLBACK TO inner_sp")
        await conn.execute("RELEASE inner_sp")
        seen.append(conn.in_transaction)
        try:
            await conn.execute("RELEASE never_made")
        except m.OperationalError as e:
            seen.append(str(e))
        await conn.execute("RELEASE OUTER_SP")  # commits
        seen.append(conn.in_transaction)
        await conn.execute("BEGIN")
        await conn.execute("SAVEPOINT a")
        await conn.execute("INSERT INTO t VALUES (3)")
        await conn.execute("RELEASE a")  # nested in BEGIN: commits nothing
        seen.append(conn.in_transaction)
        await conn.execute("ROLLBACK")
        try:
            await conn.execute("ROLLBACK TO a")
        except m.OperationalError as e:
            seen.append(str(e))
        seen.append(await (await conn.execute("SELECT x FROM t ORDER BY x")).fetchall())
        return seen

    assert both(url, program)[-1] == [(1,)]


def test_errors(url):
    async def program(conn, m):
        await conn.execute("CREATE TABLE t (x UNIQUE)")
        await conn.execute("INSERT INTO t VALUES (1)")
        await conn.commit()
        seen = []
        for sql, params in [("INSERT INTO t VALUES (1)", ()), ("SELEC 1", ()), ("SELECT ?", (2**64,))]:
            try:
                await conn.execute(sql, params)
            except (m.Error, OverflowError) as e:
                seen.append((isinstance(e, m.IntegrityError), isinstance(e, m.OperationalError), isinstance(e, OverflowError)))
        await conn.rollback()
        cur = conn.cursor()
        await cur.close()
        try:
            await cur.execute("SELECT 1")
        except m.ProgrammingError as e:
            seen.append(str(e))
        return seen

    both(url, program)


def test_errors_carry_the_servers_details(url):
    async def main():
        conn = await sqlited.aio.connect(url)
        await conn.execute("CREATE TABLE t (x PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES (1)")
        await conn.commit()
        with pytest.raises(sqlited.IntegrityError) as caught:
            await conn.execute("INSERT INTO t VALUES (1)")
        assert caught.value.sqlite_errorcode == 1555 and caught.value.request_id
        assert conn.IntegrityError is sqlited.aio.IntegrityError is sqlited.IntegrityError
        with pytest.raises(sqlited.ProgrammingError, match="no result set"):
            await conn.cursor().fetchone()
        await conn.rollback()
        with pytest.raises(sqlited.OperationalError) as caught:
            await sqlited.aio.connect(url + "_missing?mode=rw")
        assert caught.value.reason == "DATABASE_NOT_FOUND"
        await conn.execute("INSERT INTO t VALUES (2)")
        with pytest.raises(sqlited.ProgrammingError, match="await conn.commit"):
            conn.autocommit = True
        await conn.commit()
        conn.autocommit = True
        await conn.close()
        with pytest.raises(sqlited.ProgrammingError, match="closed database"):
            await conn.execute("SELECT 1")

    asyncio.run(main())


def test_a_million_rows_stream_lazily_in_bounded_memory(url):
    async def main():
        conn = await sqlited.aio.connect(url)
        await conn.execute("CREATE TABLE made (x)")
        cur = await conn.execute(MILLION)
        assert await cur.fetchone() == (1, "row")
        assert cur._stream is not None  # the rest still on the server's side
        before = peak_rss_kib()
        count, last = 1, None
        async for last in cur:
            count += 1
        assert (count, last) == (1_000_000, (1_000_000, "row"))
        growth = peak_rss_kib() - before
        assert growth < STREAM_PEAK_GROWTH_KIB, f"the peak RSS grew by {growth} KiB while streaming"
        # A cursor closed mid-stream cancels it; the connection goes on.
        async with conn.cursor() as early:
            await early.execute(MILLION)
            assert await early.fetchmany(3) == [(1, "row"), (2, "row"), (3, "row")]
        assert early._stream is None
        assert await (await conn.execute("SELECT 42")).fetchone() == (42,)
        await conn.close()

    asyncio.run(main())


def test_forty_tasks_share_one_connection(url):
    async def main():
        conn = await sqlited.aio.connect(url, autocommit=True)
        await conn.execute("CREATE TABLE t (task INTEGER, i INTEGER)")

        async def work(n):
            cur = conn.cursor()
            for i in range(10):
                await cur.execute("INSERT INTO t VALUES (?, ?)", (n, i))
                assert cur.rowcount == 1
                await cur.execute("SELECT count(*) FROM t WHERE task = ?", (n,))
                assert await cur.fetchone() == (i + 1,)

        await asyncio.gather(*(work(n) for n in range(40)))
        cur = await conn.execute("SELECT count(*), count(DISTINCT task) FROM t")
        assert await cur.fetchone() == (400, 40)
        await conn.close()

    asyncio.run(main())


def test_forty_tasks_share_one_transaction_and_its_streams(url):
    # As test_server's threads: each task streams a query of the one transaction while the
    # others write in it; the connection reads other cursors' streams to their end before a
    # request of the transaction goes, and tasks take turns (the server refuses more than a
    # few requests waiting in one transaction).
    async def main():
        conn = await sqlited.aio.connect(url)
        other = await sqlited.aio.connect(url)
        await conn.execute("CREATE TABLE t (task INTEGER, i INTEGER)")
        await conn.executemany("INSERT INTO t VALUES (-1, ?)", [(i,) for i in range(2500)])
        assert conn.in_transaction
        assert await (await other.execute("SELECT count(*) FROM t")).fetchone() == (0,)

        async def work(n):
            cur = conn.cursor()
            for i in range(3):
                await cur.execute("SELECT i FROM t WHERE task = -1 ORDER BY i")
                first = await cur.fetchmany(10)
                await conn.execute("INSERT INTO t VALUES (?, ?)", (n, i))
                rows = first + await cur.fetchall()
                assert rows == [(k,) for k in range(2500)], (n, i, len(rows))

        await asyncio.gather(*(work(n) for n in range(40)))
        async with conn:
            pass  # commits
        cur = await other.execute("SELECT count(*), count(DISTINCT task) FROM t WHERE task >= 0")
        assert await cur.fetchone() == (120, 40)
        await conn.close()
        await other.close()

    asyncio.run(main())

UNFINISHED = """
import asyncio, sys, sqlited.aio
async def main():
    global conn, cur  # still referenced when the interpreter exits
    conn = await sqlited.aio.connect(sys.argv[1])
    cur = await conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT i FROM n")
    assert await cur.fetchone() == (1,) and cur._stream is not None
asyncio.run(main())
"""


def test_a_program_exits_with_a_stream_open(url):
    async def make():
        conn = await sqlited.aio.connect(url)
        await conn.execute("CREATE TABLE made (x)")
        await conn.close()

    asyncio.run(make())
    assert exits(UNFINISHED, url) == 0
