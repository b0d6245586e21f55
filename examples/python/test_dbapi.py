"""The example, and the sqlited package as it uses it, against a real sqlited server: tokens and
exposed statements too (python/tests has the package's own suites)."""

import os
import subprocess
import sys
import tempfile

import pytest

import sqlited

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# SQLITED_BINARY, as python/tests reads it (SQLITED_BIN, the older name, too).
BINARY = os.environ.get("SQLITED_BINARY") or os.environ.get("SQLITED_BIN") or os.path.join(ROOT, "target", "debug", "sqlited")


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp()
    proc = subprocess.Popen(
        [BINARY, "--listen", "127.0.0.1:0", "--data-dir", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # blocks until the server is listening (or has died)
    assert line.startswith("sqlited listening on "), line
    yield line.split()[-1]
    proc.terminate()
    assert proc.wait(timeout=60) == 0


def test_values_round_trip(server):
    conn = sqlited.connect(f"{server}/values")
    cur = conn.cursor()
    # Reads create nothing: a write makes the database first.
    cur.execute("CREATE TABLE made (x)")
    for value in [None, 0, -(2**63), 2**63 - 1, 1.5, "", "héllo ✓", b"", b"\x00\xff"]:
        cur.execute("SELECT ?1, typeof(?1)", (value,))
        got, _ = cur.fetchone()
        assert got == value and type(got) is type(value)


def test_cursor_dbapi_surface(server):
    conn = sqlited.connect(f"{server}/surface")
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    assert cur.description is None
    cur.execute("INSERT INTO t (name) VALUES (?)", ("a",))
    assert cur.rowcount == 1 and cur.lastrowid == 1
    cur.executemany("INSERT INTO t (name) VALUES (:name)", [{"name": "b"}, {"name": "c"}])
    assert cur.rowcount == 2
    cur.execute("SELECT id, name FROM t ORDER BY id")
    assert [d[0] for d in cur.description] == ["id", "name"]
    assert cur.fetchone() == (1, "a")
    cur.arraysize = 1
    assert cur.fetchmany() == [(2, "b")]
    assert cur.fetchall() == [(3, "c")]
    assert cur.fetchone() is None


def test_errors_map_to_pep249(server):
    cur = sqlited.connect(f"{server}/errors").cursor()
    cur.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)")
    cur.execute("INSERT INTO u VALUES (1)")
    with pytest.raises(sqlited.IntegrityError) as caught:
        cur.execute("INSERT INTO u VALUES (1)")
    assert caught.value.sqlite_errorcode == 1555
    assert caught.value.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY"
    with pytest.raises(sqlited.OperationalError, match="syntax error"):  # as sqlite3
        cur.execute("SELEC 1")
    with pytest.raises(sqlited.ProgrammingError):
        cur.execute("SELECT ?, ?", (1,))
    with pytest.raises(sqlited.InterfaceError):
        sqlited.connect(server)
    assert issubclass(sqlited.IntegrityError, sqlited.DatabaseError)


def test_commit_and_rollback(server):
    conn = sqlited.connect(f"{server}/tx")
    other = sqlited.connect(f"{server}/tx")
    conn.execute("CREATE TABLE t (x)")
    conn.autocommit = False
    conn.execute("INSERT INTO t VALUES (1)")
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.commit()
    assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.execute("INSERT INTO t VALUES (2)")
    conn.rollback()
    assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()


def run_example(name, url):
    """What the example program ``name`` prints, run against ``url``; it must exit 0."""
    path = os.path.join(os.path.dirname(__file__), name)
    return subprocess.run([sys.executable, path, url], check=True, capture_output=True, text=True).stdout


def test_example_program_runs(server):
    out = run_example("example.py", f"{server}/example")
    assert "inserted 2 notes" in out and "as expected" in out


def test_asyncio_example_program_runs(server):
    out = run_example("example_aio.py", f"{server}/example_aio")
    assert "inserted 2 notes" in out and "counts [(1,), (1,)]" in out and "(2, 'second')" in out


def test_a_token_is_sent_and_checked():
    data = tempfile.mkdtemp()
    token = "sqlited_python-test-token"
    digest = subprocess.run([BINARY, "token", "hash"], input=token, capture_output=True, text=True, check=True)
    credentials = os.path.join(data, "credentials.toml")
    with open(credentials, "w") as f:
        f.write(f'[[token]]\nname = "py"\nsha256 = "{digest.stdout.strip()}"\nroles = {{ "*" = "admin" }}\n')
    # Reads create nothing: the database the test reads exists.
    open(os.path.join(data, "auth.db"), "w").close()
    proc = subprocess.Popen(
        [BINARY, "--listen", "127.0.0.1:0", "--data-dir", data, "--credentials", credentials],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("sqlited listening on "), line
        address = line.split()[-1]
        conn = sqlited.connect(f"{address}/auth", token=token)
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
        # Without a token the connection is refused at once: connect() opens the database.
        with pytest.raises(sqlited.Error) as refused:
            sqlited.connect(f"{address}/auth")
        assert "token" in str(refused.value)
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0


def test_callproc_calls_exposed_statements():
    data = tempfile.mkdtemp()
    setup = subprocess.Popen([BINARY, "--listen", "127.0.0.1:0", "--data-dir", data], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    address = setup.stdout.readline().split()[-1]
    sqlited.connect(f"{address}/shop").execute("CREATE TABLE users (name TEXT, age INTEGER)")
    setup.terminate()
    assert setup.wait(timeout=60) == 0
    statements = os.path.join(data, "statements.toml")
    with open(statements, "w") as f:
        f.write('''
[databases.shop.statements.add_user]
sql = "INSERT INTO users (name, age) VALUES (:name, :age)"
writes = true
params.name = { type = "text", min_length = 1 }
params.age = { type = "integer", min = 0 }

[databases.shop.statements.names]
sql = "SELECT name FROM users ORDER BY name"
''')
    proc = subprocess.Popen([BINARY, "--listen", "127.0.0.1:0", "--data-dir", data, "--statements", statements],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = proc.stdout.readline().split()[-1]
        cursor = sqlited.connect(f"{address}/shop").cursor()
        cursor.callproc("add_user", {"name": "ann", "age": 42})
        assert cursor.rowcount == 1
        cursor.callproc("names")
        assert cursor.fetchall() == [("ann",)]
        with pytest.raises(sqlited.ProgrammingError) as wrong:
            cursor.callproc("add_user", {"name": "", "age": -1})
        assert "args.name" in str(wrong.value) and "args.age" in str(wrong.value)
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
