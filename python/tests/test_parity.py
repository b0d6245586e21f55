"""The same programs against sqlite3 and sqlited: what they observe must be the same."""

from __future__ import annotations

import datetime
import sqlite3
import tempfile
import warnings

import pytest

import sqlited


def observe(module, connect, program):
    """Runs ``program(conn, module)``, recording what it returns or the error class raised."""
    conn = connect()
    try:
        return program(conn, module)
    finally:
        conn.close()


def both(url, program, **kwargs):
    path = tempfile.mktemp(suffix=".db")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = observe(sqlite3, lambda: sqlite3.connect(path, **kwargs), program)
        got = observe(sqlited, lambda: sqlited.connect(url, **kwargs), program)
    assert got == expected
    return got


def names(description):
    """A description's column names: its type codes differ on purpose (sqlite3 gives None,
    sqlited the declared type, which PEP 249 asks for; see test_dbapi20.py)."""
    return None if description is None else [column[0] for column in description]


def test_rowcount_and_lastrowid(url):
    def program(conn, m):
        cur = conn.cursor()
        seen = [cur.rowcount, cur.lastrowid]
        cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)")
        seen += [cur.rowcount, names(cur.description)]
        cur.execute("INSERT INTO t (x) VALUES (?)", ("a",))
        seen += [cur.rowcount, cur.lastrowid]
        cur.executemany("INSERT INTO t (x) VALUES (?)", [("b",), ("c",)])
        seen += [cur.rowcount, cur.lastrowid]
        cur.execute("UPDATE t SET x = 'z' WHERE id = -1")
        seen.append(cur.rowcount)
        cur.execute("UPDATE t SET x = x || '!'")
        seen.append(cur.rowcount)
        cur.execute("DELETE FROM t WHERE id = 1")
        seen.append(cur.rowcount)
        cur.execute("SELECT id, x FROM t ORDER BY id")
        seen += [cur.rowcount, names(cur.description), cur.fetchall(), cur.rowcount]
        cur.execute("SELECT x FROM t WHERE 0")
        seen += [names(cur.description), cur.fetchone()]
        conn.commit()
        return seen

    both(url, program)


def test_transactions_legacy(url):
    def program(conn, m):
        seen = [conn.isolation_level, conn.in_transaction]
        conn.execute("CREATE TABLE t (x)")
        seen.append(conn.in_transaction)
        conn.execute("INSERT INTO t VALUES (1)")
        seen.append(conn.in_transaction)
        conn.rollback()
        seen += [conn.in_transaction, conn.execute("SELECT count(*) FROM t").fetchone()]
        try:
            with conn:
                conn.execute("INSERT INTO t VALUES (2)")
                raise KeyError
        except KeyError:
            pass
        seen.append(conn.execute("SELECT count(*) FROM t").fetchone())
        with conn:
            conn.execute("INSERT INTO t VALUES (3)")
        seen += [conn.in_transaction, conn.execute("SELECT x FROM t").fetchall()]
        conn.execute("BEGIN")
        seen.append(conn.in_transaction)
        try:
            conn.execute("BEGIN")
        except m.OperationalError as e:
            seen.append(str(e))
        conn.execute("INSERT INTO t VALUES (4)")
        conn.execute("ROLLBACK")
        try:
            conn.execute("COMMIT")
        except m.OperationalError as e:
            seen.append(str(e))
        conn.isolation_level = None
        conn.execute("INSERT INTO t VALUES (5)")
        seen += [conn.in_transaction, conn.execute("SELECT x FROM t").fetchall()]
        return seen

    both(url, program)


def test_explicit_transaction_is_visible_only_after_commit(url, server):
    def program(conn, m):
        conn.isolation_level = None
        conn.execute("CREATE TABLE t (x)")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (1)")
        inside = conn.execute("SELECT count(*) FROM t").fetchone()
        conn.execute("COMMIT")
        return [inside, conn.in_transaction, conn.execute("SELECT count(*) FROM t").fetchone()]

    both(url, program)


def test_row_factory_and_binding(url):
    def program(conn, m):
        conn.row_factory = m.Row
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT, c BLOB, d REAL)")
        conn.execute("INSERT INTO t VALUES (:a, :b, :c, :d)", {"a": 1, "b": "x", "c": b"\x00", "d": 1.5, "unused": 0})
        conn.execute("INSERT INTO t VALUES (?, ?, ?, ?)", (True, None, m.Binary(b"yz"), -0.5))
        row = conn.execute("SELECT a AS A, b, c, d FROM t ORDER BY a DESC").fetchone()
        seen = [row.keys(), row["a"], row["B"], tuple(row), row[1:3], len(row)]
        conn.row_factory = None
        seen.append(conn.execute("SELECT * FROM t ORDER BY a").fetchall())
        seen.append(conn.execute("SELECT $x, @x, :x", {"x": 7}).fetchone())
        try:
            conn.execute("SELECT :missing", {"x": 1})
        except m.ProgrammingError as e:
            seen.append(str(e))
        try:
            conn.execute("SELECT ?", (object(),))
        except m.ProgrammingError:
            seen.append("unsupported type")
        try:
            conn.execute("SELECT ?", (2**64,))
        except OverflowError:
            seen.append("overflow")
        conn.commit()
        return seen

    both(url, program)


def test_dates_and_converters(url):
    def program(conn, m):
        conn.execute("CREATE TABLE t (d date, ts timestamp)")
        day, moment = datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 13, 14, 15, 123456)
        conn.execute("INSERT INTO t VALUES (?, ?)", (day, moment))
        conn.commit()
        seen = [conn.execute("SELECT d, ts, typeof(d) FROM t").fetchone()]
        return seen

    both(url, program)
    both(url + "x", lambda conn, m: (
        conn.execute("CREATE TABLE t (d date, ts timestamp)"),
        conn.execute("INSERT INTO t VALUES (?, ?)", (datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 1, 2, 3))),
        conn.commit(),
        conn.execute("SELECT d, ts, '2020-01-02' AS \"x [date]\" FROM t").fetchone(),
    )[-1], detect_types=sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES)


def test_executescript(url):
    script = """
        CREATE TABLE t (x);  -- a comment; with a semicolon
        CREATE TABLE log (y);
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.x * 10); END;
        BEGIN;
        INSERT INTO t VALUES (1);
        INSERT INTO t VALUES ('a;b');
        COMMIT;
    """

    def program(conn, m):
        conn.executescript(script)
        seen = [conn.in_transaction, conn.execute("SELECT * FROM t").fetchall()]
        seen.append(conn.execute("SELECT * FROM log ORDER BY 1").fetchall())
        conn.execute("INSERT INTO t VALUES (2)")
        conn.executescript("INSERT INTO t VALUES (3);")  # commits the pending INSERT first
        conn.rollback()
        seen.append(conn.execute("SELECT count(*) FROM t").fetchone())
        return seen

    both(url, program)


def test_errors(url):
    def program(conn, m):
        conn.execute("CREATE TABLE t (x UNIQUE)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        seen = []
        for sql, params in [
            ("INSERT INTO t VALUES (1)", ()),
            ("SELEC 1", ()),
            ("SELECT * FROM nope", ()),
            ("SELECT ?", (1, 2)),
        ]:
            try:
                conn.execute(sql, params)
            except m.Error as e:
                seen.append((type(e).__name__, getattr(e, "sqlite_errorcode", None)))
        conn.rollback()
        try:
            conn.executemany("SELECT ?", [(1,)])
        except m.ProgrammingError as e:
            seen.append(str(e))
        cur = conn.cursor()
        cur.close()
        try:
            cur.execute("SELECT 1")
        except m.ProgrammingError as e:
            seen.append(str(e))
        conn.close()
        try:
            conn.execute("SELECT 1")
        except m.ProgrammingError as e:
            seen.append(str(e))
        return seen

    seen = both(url, program)
    assert seen[0] == ("IntegrityError", 2067)


def _attempt(conn, m, sql, seen):
    """Runs ``sql``, recording whether it worked (or SQLite's error) and in_transaction."""
    try:
        conn.execute(sql)
        seen.append((sql, "ok", conn.in_transaction))
    except m.Error as e:
        seen.append((sql, type(e).__name__, str(e), getattr(e, "sqlite_errorcode", None), conn.in_transaction))


def test_savepoints_nest_and_roll_back(url):
    def program(conn, m):
        seen = []
        conn.execute("CREATE TABLE t (x)")
        for sql in [
            "SAVEPOINT a",  # outside a transaction: begins one
            "INSERT INTO t VALUES (1)",
            "SAVEPOINT A",  # names are case-insensitive; the newest of a name wins
            "INSERT INTO t VALUES (2)",
            "SAVEPOINT \"b c\"",
            "INSERT INTO t VALUES (3)",
            "ROLLBACK TRANSACTION TO SAVEPOINT [b c]",
        ]:
            _attempt(conn, m, sql, seen)
        seen.append(conn.execute("SELECT x FROM t ORDER BY x").fetchall())
        for sql in ["RELEASE \"b c\"", "ROLLBACK TO a"]:
            _attempt(conn, m, sql, seen)
        seen.append(conn.execute("SELECT x FROM t ORDER BY x").fetchall())
        # RELEASE of the inner "A", then ROLLBACK TO the outer one keeps the transaction open,
        # and RELEASE of the outermost commits it.
        for sql in ["RELEASE SAVEPOINT a", "ROLLBACK TO a", "INSERT INTO t VALUES (4)", "RELEASE a"]:
            _attempt(conn, m, sql, seen)
        conn.rollback()  # nothing left to roll back
        seen.append(conn.execute("SELECT x FROM t ORDER BY x").fetchall())
        return seen

    both(url, program)


def test_savepoints_inside_a_transaction_do_not_end_it(url):
    def program(conn, m):
        seen = []
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")  # the legacy implicit BEGIN
        for sql in ["SAVEPOINT s", "INSERT INTO t VALUES (2)", "RELEASE s", "SAVEPOINT s", "INSERT INTO t VALUES (3)", "ROLLBACK TO s", "RELEASE s"]:
            _attempt(conn, m, sql, seen)
        conn.rollback()  # all of it: the savepoints were inside the transaction
        seen.append(conn.execute("SELECT count(*) FROM t").fetchone())
        conn.execute("BEGIN")
        for sql in ["SAVEPOINT s", "INSERT INTO t VALUES (5)", "RELEASE s", "COMMIT"]:
            _attempt(conn, m, sql, seen)
        conn.execute("SAVEPOINT s")
        conn.execute("INSERT INTO t VALUES (6)")
        conn.commit()  # commit() ends a transaction a SAVEPOINT began
        seen += [conn.in_transaction, conn.execute("SELECT x FROM t ORDER BY x").fetchall()]
        with conn:
            conn.execute("SAVEPOINT s")
            conn.execute("INSERT INTO t VALUES (7)")
        try:
            with conn:
                conn.execute("SAVEPOINT s")
                conn.execute("INSERT INTO t VALUES (8)")
                raise KeyError
        except KeyError:
            pass
        seen += [conn.in_transaction, conn.execute("SELECT x FROM t ORDER BY x").fetchall()]
        return seen

    both(url, program)


def test_savepoint_errors(url):
    def program(conn, m):
        seen = []
        conn.execute("CREATE TABLE t (x)")
        for sql in [
            "RELEASE a",  # outside a transaction: no such savepoint
            "ROLLBACK TO a",
            "SAVEPOINT",
            "SAVEPOINT a b",
            "SAVEPOINT 1",
            "RELEASE",
            "ROLLBACK TO SAVEPOINT",
            "SAVEPOINT a",
            "RELEASE b",  # inside: SQLite's own error, and the transaction stays
            "ROLLBACK TO b",
            "BEGIN",
            "INSERT INTO t VALUES (1)",
            "RELEASE a",
            "RELEASE a",
            "SAVEPOINT a",
            "ROLLBACK",
            "COMMIT",
        ]:
            _attempt(conn, m, sql, seen)
        seen.append(conn.execute("SELECT x FROM t").fetchall())
        return seen

    both(url, program)


def test_savepoints_without_implicit_transactions(url):
    def program(conn, m):
        seen = []
        conn.execute("CREATE TABLE t (x)")
        for sql in ["SAVEPOINT a", "INSERT INTO t VALUES (1)", "SAVEPOINT b", "INSERT INTO t VALUES (2)", "RELEASE b", "ROLLBACK TO a", "INSERT INTO t VALUES (3)", "RELEASE a", "INSERT INTO t VALUES (4)"]:
            _attempt(conn, m, sql, seen)
        seen.append(conn.execute("SELECT x FROM t ORDER BY x").fetchall())
        return seen

    both(url, program, isolation_level=None)


def test_savepoints_in_a_script(url):
    script = """
        CREATE TABLE t (x);
        SAVEPOINT one;
        INSERT INTO t VALUES (1);
        SAVEPOINT two;
        INSERT INTO t VALUES (2);
        ROLLBACK TO two;
        RELEASE one;
        SAVEPOINT three;
        INSERT INTO t VALUES (3);
    """

    def program(conn, m):
        conn.executescript(script)
        seen = [conn.in_transaction]
        conn.rollback()
        seen.append(conn.execute("SELECT x FROM t").fetchall())
        return seen

    both(url, program)
