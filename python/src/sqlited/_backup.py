"""``backup()``: the server's online backup (``Admin.Backup``: one consistent snapshot, as
a complete SQLite file, with its SHA-256 on the last chunk) delivered where sqlite3's
``backup(target)`` would put it — into a ``sqlite3.Connection`` — or into a path or a
binary file. Shared by both drivers; the receiving does no network I/O.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from typing import Any, Callable, Optional

from . import exceptions


def check(connection: Any, target: Any, name: str) -> None:
    """Refuses what sqlite3 refuses (another schema) and what a server cannot write into."""
    if name != "main":
        raise exceptions.OperationalError(f"unknown database {name}: a sqlited database has one schema, main")
    if hasattr(target, "_channel") and hasattr(target, "database"):
        raise exceptions.NotSupportedError(
            "backup() into a sqlited database: the server writes no file a client sends; give "
            "a sqlite3.Connection, a path or a binary file (and `sqlited restore` a file into a "
            "server's data directory), or load a dump: target.executescript('\\n'.join("
            "source.iterdump()))"
        )
    if not (isinstance(target, (sqlite3.Connection, str, os.PathLike)) or hasattr(target, "write")):
        raise TypeError(
            f"backup() target must be a sqlite3.Connection, a path or a binary file, not {type(target).__name__}"
        )


class Receiver:
    """Takes a backup's chunks into a file, checks them, and delivers the file to the
    target. A context manager: a temporary file it made is removed at the end."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._sha256 = hashlib.sha256()
        self._received = 0
        self._expected: Optional[tuple] = None
        self._temporary: Optional[str] = None
        self._out: Any = target
        if isinstance(target, (sqlite3.Connection, str, os.PathLike)):
            # sqlite3 backs up from a file; a path gets the file only once it is whole and
            # checked (renamed from beside it, so it never holds half a backup).
            directory = None
            if not isinstance(target, sqlite3.Connection):
                directory = os.path.dirname(os.fspath(target)) or "."
            fd, self._temporary = tempfile.mkstemp(prefix=".sqlited-backup-", suffix=".db", dir=directory)
            self._out = os.fdopen(fd, "wb")

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._temporary is not None:
            if not self._out.closed:
                self._out.close()
            try:
                os.unlink(self._temporary)
            except FileNotFoundError:
                pass  # renamed into place

    def chunk(self, chunk: Any) -> None:
        self._out.write(chunk.data)
        self._sha256.update(chunk.data)
        self._received += len(chunk.data)
        if chunk.sha256:
            self._expected = (chunk.sha256, chunk.total_bytes)

    def deliver(self, *, pages: int, progress: Optional[Callable[[int, int, int], object]], sleep: float) -> None:
        """Checks what came against the server's checksum, then puts it in the target
        (``pages``, ``progress`` and ``sleep`` are sqlite3's backup's, for a sqlite3 target)."""
        got = self._sha256.hexdigest()
        if self._expected is None:
            raise exceptions.OperationalError("the backup stream ended before its checksum; the backup is incomplete")
        sha256, total = self._expected
        if got != sha256 or self._received != total:
            raise exceptions.DataError(
                f"the backup is corrupt: {self._received} bytes with SHA-256 {got}, the server "
                f"sent {total} bytes with {sha256}"
            )
        if self._temporary is None:
            self._out.flush()
            return
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        if isinstance(self.target, sqlite3.Connection):
            source = sqlite3.connect(self._temporary)
            try:
                source.backup(self.target, pages=pages, progress=progress, sleep=sleep)
            finally:
                source.close()
        else:
            os.replace(self._temporary, os.fspath(self.target))
