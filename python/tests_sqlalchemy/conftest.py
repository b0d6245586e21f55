"""SQLAlchemy's test plugin, and the real sqlited server the suite runs against.

Without ``--dburi``, a server is started from SQLITED_BINARY (or ../../target/debug/sqlited)
on a free port with a temporary data directory, and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from sqlalchemy.dialects import registry

# The entry point registers it once the package is installed; this makes a checkout work too.
registry.register("sqlite.sqlited", "sqlited.sqlalchemy", "SQLitedDialect")

pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin import pytestplugin as _sqla_plugin  # noqa: E402
from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402,F401,F403

from skips import SkipList  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("SQLITED_BINARY", os.path.join(ROOT, "target", "debug", "sqlited"))
_server = None


def pytest_addoption(parser):
    _sqla_plugin.pytest_addoption(parser)
    parser.addoption("--write-skips", action="store_true", help="rewrite SKIPS.md from this run")


def pytest_configure(config):
    global _server
    config.pluginmanager.register(SkipList(config.option.write_skips), "sqlited-skips")
    if not config.option.dburi:
        if not os.access(BINARY, os.X_OK):
            raise pytest.UsageError(f"no sqlited binary at {BINARY}: build it or set SQLITED_BINARY (or pass --dburi)")
        data = tempfile.mkdtemp(prefix="sqlited-sa-")
        proc = subprocess.Popen(
            [BINARY, "--listen", "127.0.0.1:0", "--data-dir", data],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = proc.stdout.readline()  # blocks until the server listens (or has died)
        if not line.startswith("sqlited listening on "):
            proc.kill()
            raise pytest.UsageError(f"{BINARY} did not start: {line!r}")
        _server = (proc, data)
        config.option.dburi = [f"sqlite+sqlited://{line.split()[-1]}/sa_suite"]
    _sqla_plugin.pytest_configure(config)


def pytest_unconfigure(config):
    _sqla_plugin.pytest_unconfigure(config)
    if _server is not None:
        proc, data = _server
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
