"""The real sqlited server for the tests: SQLITED_BINARY, or ../target/debug/sqlited."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import tempfile

import pytest

import sqlited

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("SQLITED_BINARY", os.path.join(ROOT, "target", "debug", "sqlited"))
_names = itertools.count()


@contextlib.contextmanager
def running(data, *flags, listen="127.0.0.1:0"):
    """A sqlited process serving ``data`` (with more ``flags``) on ``listen``, at its address
    (``unix:PATH`` for a socket); stopped, and checked to stop cleanly, at the end."""
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no sqlited binary at {BINARY}: build it (cargo build -p sqlited) or set SQLITED_BINARY")
    proc = subprocess.Popen(
        [BINARY, "--listen", listen, "--data-dir", data, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the server listens (or has died)
        assert line.startswith("sqlited listening on "), line
        yield line.split()[-1]
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0


@pytest.fixture(scope="session")
def server():
    with running(tempfile.mkdtemp(prefix="sqlited-py-")) as address:
        yield address


@pytest.fixture
def url(server, request):
    """A fresh database's URL (it exists once something writes to it)."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:50]
    return f"{server}/{name}_{next(_names)}"


@pytest.fixture
def conn(url):
    connection = sqlited.connect(url)
    yield connection
    connection.close()
