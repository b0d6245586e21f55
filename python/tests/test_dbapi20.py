"""The DB-API 2.0 compliance suite against the real server.

The suite is Stuart Bishop's public-domain ``dbapi20.py``, as PyPI's ``dbapi-compliance``
1.15.0 ships it (``pip install dbapi-compliance==1.15.0``, or ``pip install './python[test]'``).
Every test of it runs; the two it leaves to drivers are written here, and the one it skips is
named with its reason (also in python/README.md, "DB-API 2.0 compliance").
"""

from __future__ import annotations

import os
import tempfile
import unittest

import pytest

import sqlited
from conftest import running

try:
    import dbapi20
except ImportError as e:  # pragma: no cover - what to do about it
    raise ImportError(
        "the DB-API 2.0 suite is missing: pip install dbapi-compliance==1.15.0 "
        "(or pip install './python[test]')"
    ) from e

# test_callproc calls `lower` with one positional argument: an exposed statement here.
STATEMENTS = """
[databases.dbapi20.statements.lower]
description = "dbapi20's test_callproc: the argument in lower case."
sql = "SELECT lower(:string)"
params.string = { type = "text" }
"""


@pytest.fixture(scope="module")
def statements_server():
    data = tempfile.mkdtemp(prefix="sqlited-dbapi20-")
    # Exposed statements are prepared when the server starts: their database must exist.
    open(os.path.join(data, "dbapi20.db"), "w").close()
    statements = os.path.join(data, "statements.toml")
    with open(statements, "w") as f:
        f.write(STATEMENTS)
    with running(data, "--statements", statements) as address:
        yield address


class TestDBAPI20(dbapi20.DatabaseAPI20Test):
    driver = sqlited

    @pytest.fixture(autouse=True)
    def _database(self, statements_server):
        # Every test connects anew to this database; the suite's tearDown drops its tables.
        self.connect_args = (f"{statements_server}/dbapi20",)

    @unittest.skip(
        "close() twice is a no-op, as in sqlite3 and psycopg (code written for sqlite3 "
        "closes in finally blocks and context managers alike); the suite itself says "
        "'reasonable persons differ' about this test"
    )
    def test_non_idempotent_close(self):
        pass  # pragma: no cover

    def test_close_twice_is_a_no_op_and_the_connection_stays_closed(self):
        con = self._connect()
        con.close()
        con.close()
        self.assertRaises(self.driver.ProgrammingError, con.cursor)

    @unittest.skip(
        "nextset() is an optional extension sqlited does not offer: a statement (or an "
        "exposed statement) returns one result set, as in sqlite3, which has no nextset()"
    )
    def test_nextset(self):
        pass  # pragma: no cover

    def test_setoutputsize(self):
        # The suite leaves this to drivers: setoutputsize does nothing, long values arrive whole.
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsize(10)
            cur.setoutputsize(10, 0)
            cur.execute("SELECT zeroblob(100000), printf('%.*c', 100000, 'x')")
            blob, text = cur.fetchone()
            self.assertEqual((len(blob), text), (100000, "x" * 100000))
        finally:
            con.close()

    def test_description_type_codes(self):
        # Beyond test_description: each column's type code is its declared type, equal to
        # the type object of its affinity; expressions have none.
        con = self._connect()
        try:
            cur = con.cursor()
            cur.execute("create table %stypes (i integer, r real, t varchar(9), b blob, d date)" % self.table_prefix)
            cur.execute("select i, r, t, b, d, 1 + 1 from %stypes" % self.table_prefix)
            codes = [column[1] for column in cur.description]
            self.assertEqual([code.upper() for code in codes[:5]], ["INTEGER", "REAL", "VARCHAR(9)", "BLOB", "DATE"])
            d = self.driver
            self.assertEqual((codes[0], codes[1], codes[2], codes[3], codes[4]), (d.NUMBER, d.NUMBER, d.STRING, d.BINARY, d.DATETIME))
            self.assertNotEqual(codes[2], d.NUMBER)
            self.assertIsNone(codes[5])
            cur.execute("drop table %stypes" % self.table_prefix)
        finally:
            con.close()

    def test_callproc_arguments(self):
        # Beyond test_callproc: by name too, and a wrong count says what the statement takes.
        con = self._connect()
        try:
            cur = con.cursor()
            self.assertEqual(cur.callproc("lower", {"string": "ABC"}), {"string": "ABC"})
            self.assertEqual((cur.fetchall(), cur.rowcount), ([("abc",)], 0))  # a read changes nothing
            with self.assertRaises(self.driver.ProgrammingError) as caught:
                cur.callproc("lower", ("A", "B"))
            self.assertIn("takes 1 arguments (string), 2 given", str(caught.exception))
            with self.assertRaises(self.driver.ProgrammingError) as caught:
                cur.callproc("upper", ("A",))
            self.assertIn("no exposed statement 'upper'", str(caught.exception))
        finally:
            con.close()
