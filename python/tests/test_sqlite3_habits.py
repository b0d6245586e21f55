"""What a sqlite3 user reaches for first: connect() creating the database (and the URI's
mode=), a URL without a port, iterdump(), backup(), total_changes, interrupt(), and a clear
answer for create_function(). Each is checked against sqlite3 itself where sqlite3 has it."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sqlite3
import tempfile
import threading
import time

import pytest

import sqlited
import sqlited.aio
import sqlited.url
from conftest import running

# sqlite3's own words for a write to a database opened read-only.
READ_ONLY = "attempt to write a readonly database"


def sqlite3_file(name):
    return os.path.join(tempfile.mkdtemp(prefix="sqlited-py-sqlite3-"), name)


# connect() and its modes.


def test_connect_creates_a_missing_database_as_sqlite3_does(url):
    # The README's smoke test, on a database nobody made.
    assert sqlited.connect(url).execute("SELECT 1").fetchone() == (1,)
    assert sqlited.connect(url + "?mode=rwc").execute("SELECT 2").fetchone() == (2,)

    async def main():
        conn = await sqlited.aio.connect(url + "_aio")
        try:
            return await (await conn.execute("SELECT 3")).fetchone()
        finally:
            await conn.close()

    assert asyncio.run(main()) == (3,)


def test_mode_rw_and_ro_refuse_a_missing_database_as_sqlite3_does(url):
    for mode in ("rw", "ro"):
        with pytest.raises(sqlite3.OperationalError):
            sqlite3.connect(f"file:{sqlite3_file('missing.db')}?mode={mode}", uri=True)
        with pytest.raises(sqlited.OperationalError) as caught:
            sqlited.connect(f"{url}?mode={mode}")
        assert caught.value.reason == "DATABASE_NOT_FOUND"
        assert "mode=rw or mode=ro" in str(caught.value)

        async def main(mode=mode):
            await sqlited.aio.connect(f"{url}?mode={mode}")

        with pytest.raises(sqlited.OperationalError):
            asyncio.run(main())
    # It was not created: mode=rw still refuses it.
    with pytest.raises(sqlited.OperationalError):
        sqlited.connect(f"{url}?mode=rw")
    sqlited.connect(url).close()  # rwc creates it
    sqlited.connect(f"{url}?mode=rw").close()


def _read_only_program(conn):
    """What a program observes writing to a database opened read-only."""
    seen = [conn.execute("SELECT count(*) FROM t").fetchone()]
    for write in (
        lambda: conn.execute("INSERT INTO t VALUES (2)"),
        lambda: conn.execute("UPDATE t SET x = 5"),
        lambda: conn.execute("CREATE TABLE u (y)"),
        lambda: conn.executemany("INSERT INTO t VALUES (?)", [(3,), (4,)]),
        lambda: conn.executescript("INSERT INTO t VALUES (5);"),
    ):
        with pytest.raises(Exception) as caught:
            write()
        seen.append((type(caught.value).__name__, str(caught.value).split(":")[0], caught.value.sqlite_errorcode))
        conn.rollback()
    conn.execute("BEGIN")
    seen.append(conn.execute("SELECT count(*) FROM t").fetchone())
    with pytest.raises(Exception) as caught:
        conn.execute("DELETE FROM t")
    seen.append((type(caught.value).__name__, caught.value.sqlite_errorcode))
    conn.rollback()
    seen.append(conn.execute("SELECT x FROM t").fetchall())
    conn.close()
    return seen


def test_mode_ro_refuses_writes_as_sqlite3_does(url):
    path = sqlite3_file("ro.db")
    for connect in (lambda: sqlite3.connect(path), lambda: sqlited.connect(url)):
        conn = connect()
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        conn.close()
    expected = _read_only_program(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    got = _read_only_program(sqlited.connect(f"{url}?mode=ro"))
    assert got == expected
    assert got[1] == ("OperationalError", READ_ONLY, 8)


def test_mode_ro_on_asyncio(url):
    async def main():
        conn = await sqlited.aio.connect(url)
        await conn.execute("CREATE TABLE t (x)")
        await conn.close()
        ro = await sqlited.aio.connect(url + "?mode=ro")
        try:
            assert await (await ro.execute("SELECT count(*) FROM t")).fetchone() == (0,)
            with pytest.raises(sqlited.OperationalError, match=READ_ONLY):
                await ro.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(sqlited.OperationalError, match=READ_ONLY):
                await ro.executemany("INSERT INTO t VALUES (?)", [(1,)])
            with pytest.raises(sqlited.OperationalError, match=READ_ONLY):
                await ro.executescript("INSERT INTO t VALUES (1);")
        finally:
            await ro.close()

    asyncio.run(main())


def test_a_token_that_may_not_create_is_told_at_connect(tmp_path):
    tokens = {"admin": "tok-admin-0123456789", "write": "tok-write-0123456789"}
    credentials = tmp_path / "credentials.toml"
    credentials.write_text("".join(
        f'[[token]]\nname = "{role}"\nsha256 = "{hashlib.sha256(t.encode()).hexdigest()}"\nroles = {{ "*" = "{role}" }}\n'
        for role, t in tokens.items()
    ))
    with running(str(tmp_path / "data"), "--credentials", str(credentials)) as address:
        with pytest.raises(sqlited.ProgrammingError) as caught:
            sqlited.connect(f"{address}/app", token=tokens["write"])
        assert caught.value.code.name == "PERMISSION_DENIED"
        assert "ask an admin to create it" in str(caught.value) and "admin token" in str(caught.value)
        admin = sqlited.connect(f"{address}/app", token=tokens["admin"])
        admin.execute("CREATE TABLE t (x)")
        admin.close()
        # Once it exists, the write token connects and writes as before.
        writer = sqlited.connect(f"{address}/app", token=tokens["write"])
        writer.execute("INSERT INTO t VALUES (1)")
        writer.commit()
        assert writer.execute("SELECT count(*) FROM t").fetchone() == (1,)
        writer.close()


def test_urls_without_a_port_and_file_names():
    assert sqlited.url.parse("127.0.0.1/app") == ("127.0.0.1:50051", "app", False, "rwc")
    assert sqlited.url.parse("https://db.internal/app?mode=ro") == ("db.internal:50051", "app", True, "ro")
    assert sqlited.url.parse("[::1]/app").address == "[::1]:50051"
    assert sqlited.url.parse("[::1]:7/app").address == "[::1]:7"
    assert sqlited.url.parse("unix:/run/s.sock?database=app&mode=rw").mode == "rw"
    for bad, says in [
        ("app.db", "SQLite file"),
        ("h:1/app?mode=memory", "mode=memory is not available"),
        ("h:1/app?mode=wr", "unknown mode"),
        ("h:1/app?cache=shared", "unknown URL parameter"),
    ]:
        with pytest.raises(sqlited.InterfaceError, match=says):
            sqlited.connect(bad)
    with pytest.raises(sqlited.InterfaceError, match="no mode=ro"):
        sqlited.PersistentDict("h:1/app?mode=ro", "m")


# iterdump(), backup(), total_changes.


SCHEMA = '''
CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, price REAL, data BLOB);
CREATE TABLE "odd ""name""" ("a b" TEXT);
CREATE INDEX items_name ON items (name);
CREATE VIEW cheap AS SELECT name FROM items WHERE price < 2;
CREATE TRIGGER items_upper AFTER INSERT ON items BEGIN UPDATE items SET name = upper(name) WHERE id = new.id; END;
'''


def _fill(conn):
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO items (name, price, data) VALUES (?, ?, ?)", ("it's", 1.5, b"\x00\xff"))
    conn.execute("INSERT INTO items (name, price, data) VALUES (?, ?, ?)", ("line\nbreak", None, None))
    conn.execute("INSERT INTO items (name, price) VALUES (?, ?)", ("big", 1e300))
    conn.execute("DELETE FROM items WHERE name = 'BIG'")
    conn.execute('INSERT INTO "odd ""name""" VALUES (?)', ("x",))
    conn.commit()


def test_iterdump_writes_what_sqlite3_writes(url):
    lite = sqlite3.connect(sqlite3_file("dump.db"))
    _fill(lite)
    conn = sqlited.connect(url)
    _fill(conn)
    expected = list(lite.iterdump())
    got = list(conn.iterdump())
    assert got == expected
    assert 'INSERT INTO "sqlite_sequence" VALUES(\'items\',3);' in got
    # It loads back into sqlite3 as the same database.
    copy = sqlite3.connect(":memory:")
    copy.executescript("\n".join(got))
    assert list(copy.iterdump()) == expected
    # Inside a transaction it sees the transaction's own writes, as sqlite3's does.
    for c in (lite, conn):
        c.execute("INSERT INTO items (name) VALUES ('uncommitted')")
        assert any("UNCOMMITTED" in line for line in c.iterdump())
        c.rollback()


def test_iterdump_with_a_filter_and_on_asyncio(url):
    conn = sqlited.connect(url)
    _fill(conn)
    only = list(conn.iterdump(filter="items%"))
    assert only[0] == "BEGIN TRANSACTION;" and only[-1] == "COMMIT;"
    assert any(line.startswith("CREATE TABLE items") for line in only)
    assert not any("odd" in line for line in only)
    assert any(line.startswith("CREATE INDEX items_name") for line in only)

    async def main():
        aconn = await sqlited.aio.connect(url)
        try:
            return [line async for line in aconn.iterdump()]
        finally:
            await aconn.close()

    assert asyncio.run(main()) == list(conn.iterdump())


def test_backup_into_sqlite3_a_path_and_a_file(url, tmp_path):
    conn = sqlited.connect(url)
    _fill(conn)
    expected = list(conn.iterdump())
    target = sqlite3.connect(tmp_path / "copy.db")
    calls = []
    conn.backup(target, pages=1, progress=lambda status, remaining, total: calls.append(total))
    assert list(target.iterdump()) == expected and calls
    path = tmp_path / "by-path.db"
    conn.backup(path)
    assert list(sqlite3.connect(path).iterdump()) == expected
    buffer = io.BytesIO()
    conn.backup(buffer)
    assert buffer.getvalue().startswith(b"SQLite format 3\x00")
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".sqlited-backup-")]
    with pytest.raises(sqlited.OperationalError, match="unknown database temp"):
        conn.backup(path, name="temp")
    with pytest.raises(sqlited.NotSupportedError, match="iterdump"):
        conn.backup(sqlited.connect(url + "_other"))

    async def main():
        aconn = await sqlited.aio.connect(url)
        try:
            await aconn.backup(tmp_path / "aio.db")
        finally:
            await aconn.close()

    asyncio.run(main())
    assert list(sqlite3.connect(tmp_path / "aio.db").iterdump()) == expected


def _changes(conn):
    seen = [conn.total_changes]
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1), (2), (3)")
    seen.append(conn.total_changes)
    conn.execute("UPDATE t SET x = x + 1 WHERE x < 3")
    conn.executemany("INSERT INTO t VALUES (?)", [(7,), (8,)])
    conn.execute("DELETE FROM t WHERE x = 7")
    conn.execute("SELECT * FROM t").fetchall()
    conn.commit()
    conn.executescript("INSERT INTO t VALUES (9); DELETE FROM t;")
    seen.append(conn.total_changes)
    return seen


def test_total_changes_counts_as_sqlite3_does(url):
    expected = _changes(sqlite3.connect(sqlite3_file("changes.db")))
    assert _changes(sqlited.connect(url)) == expected == [0, 3, 14]


# interrupt() and create_function().

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def test_interrupt_stops_what_the_connection_runs(url):
    conn = sqlited.connect(url)
    outcome = {}

    def run():
        try:
            conn.execute(FOREVER).fetchall()
        except sqlited.Error as e:
            outcome["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.is_alive():  # until the query is under way and interrupt() reaches it
        assert time.monotonic() < deadline, "interrupt() did not stop the query"
        conn.interrupt()
        thread.join(0.05)
    error = outcome["error"]
    assert isinstance(error, sqlited.OperationalError) and str(error) == "interrupted"
    assert error.sqlite_errorcode == 9 and error.sqlite_errorname == "SQLITE_INTERRUPT"
    # The connection goes on.
    assert conn.execute("SELECT 1").fetchone() == (1,)
    conn.interrupt()  # nothing running: nothing happens
    assert conn.execute("SELECT 2").fetchone() == (2,)


def test_interrupt_on_asyncio(url):
    async def main():
        conn = await sqlited.aio.connect(url)
        try:
            task = asyncio.ensure_future(conn.execute(FOREVER))
            deadline = time.monotonic() + 30
            while not task.done():
                assert time.monotonic() < deadline, "interrupt() did not stop the query"
                conn.interrupt()
                await asyncio.wait([task], timeout=0.05)
            with pytest.raises(sqlited.OperationalError, match="^interrupted$"):
                task.result()
            return await (await conn.execute("SELECT 1")).fetchone()
        finally:
            await conn.close()

    assert asyncio.run(main()) == (1,)


def test_python_functions_inside_sql_name_exposed_statements(url):
    conn = sqlited.connect(url)
    for register in (
        lambda: conn.create_function("double", 1, lambda x: 2 * x),
        lambda: conn.create_aggregate("mysum", 1, object),
        lambda: conn.create_window_function("mysum", 1, object),
        lambda: conn.create_collation("reverse", lambda a, b: 0),
    ):
        with pytest.raises(sqlited.NotSupportedError, match="exposed statement") as caught:
            register()
        assert "callproc" in str(caught.value)
    # What the server's SQLite has instead, such as the math functions.
    assert conn.execute("SELECT floor(2.7), sqrt(16)").fetchone() == (2.0, 4.0)
