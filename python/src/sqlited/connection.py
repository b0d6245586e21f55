"""Connections: one gRPC channel to one database, and its transaction, as sqlite3 keeps it.

Transactions follow sqlite3's rules, mapped onto the server's Begin/Commit/Rollback:

- ``autocommit=LEGACY_TRANSACTION_CONTROL`` (the default, as in sqlite3): with an
  ``isolation_level`` other than None, a transaction begins before INSERT, UPDATE, DELETE or
  REPLACE and lasts until ``commit()`` or ``rollback()``; other statements run on their own.
- ``autocommit=True``: every statement is its own transaction; ``commit()`` and
  ``rollback()`` do nothing; SQL ``BEGIN`` … ``COMMIT`` still makes one.
- ``autocommit=False``: a transaction is always open (it begins with the next statement, so
  an idle connection holds no writer); ``commit()`` and ``rollback()`` end it.

SQL savepoints work as in SQLite: inside a transaction, ``SAVEPOINT``, ``RELEASE`` and
``ROLLBACK TO`` run in the server's transaction; a ``SAVEPOINT`` outside one begins a
transaction (DEFERRED), which the ``RELEASE`` of that outermost savepoint commits.

A connection may be shared by threads (threadsafety 2): calls travel concurrently on the
channel, and a lock keeps the transaction state whole. Threads sharing a connection share
its transaction too, as with sqlite3's ``check_same_thread=False``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Tuple, TypeVar

import grpc

from . import _backup, _dump, _sql, exceptions
from ._base import _ENDED, LEGACY_TRANSACTION_CONTROL, BaseConnection, _cancelled_here, _sqlite_error
from ._proto import admin_pb2, admin_pb2_grpc, database_pb2, values_pb2
from .cursor import Cursor

_T = TypeVar("_T")


class Connection(BaseConnection):
    """A PEP 249 connection to one sqlited database; see ``sqlited.connect``. Its exception
    classes, and the rules it shares with ``sqlited.aio``, are ``_base.BaseConnection``'s."""

    # Guards _transaction: a Begin, Commit or Rollback in flight, and the id it leaves.
    _new_lock = staticmethod(threading.RLock)

    def _commit_for_setting(self, setting: str) -> None:
        self._end(commit=True)

    # PEP 249.

    def cursor(self, factory: Callable[["Connection"], Cursor] = Cursor) -> Cursor:
        self._check_open()
        return factory(self)

    def commit(self) -> None:
        self._check_open()
        if self._autocommit is not True:
            self._end(commit=True)

    def rollback(self) -> None:
        self._check_open()
        if self._autocommit is not True:
            self._end(commit=False)

    def close(self) -> None:
        """Closes the connection; a transaction still open is rolled back (sqlite3 loses it
        the same way)."""
        if self._closed:
            return
        try:
            self._end(commit=False)
        except exceptions.Error:
            pass  # the server rolls back what it cannot reach the end of
        finally:
            self._closed = True
            self._channel.close()

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return self.cursor().execute(sql, parameters)

    def interrupt(self) -> None:
        """Stops what the connection runs now, from any thread, as sqlite3's
        ``interrupt()``: each call in flight is cancelled (the server stops its statement)
        and raises ``OperationalError("interrupted")``. A statement that was committing may
        still have taken effect; an interrupted statement inside a transaction leaves the
        transaction as the server has it (its next statement says if it is gone)."""
        for call in list(self._running):
            call.cancel()

    def iterdump(self, *, filter: Optional[str] = None) -> Iterator[str]:  # noqa: A002 - sqlite3's name
        """The database as SQL text, a statement at a time, as sqlite3's ``iterdump()``
        writes it (``filter``: a LIKE pattern of the objects to dump). Read in the open
        transaction if there is one, else in a read-only transaction of its own, so the dump
        is one consistent snapshot while writes go on."""
        self._check_open()
        tx = self._current_transaction()
        own = not tx
        if own:
            tx = self._call(self._stub.Begin, self._snapshot_request()).transaction_id
        try:
            yield from _dump.run(_dump.steps(filter), lambda sql, params: self._dump_rows(tx, sql, params))
        finally:
            if own:
                try:
                    self._call(self._stub.Rollback, database_pb2.RollbackRequest(transaction_id=tx))
                except exceptions.Error:
                    pass  # the lease ends it anyway

    def _dump_rows(self, tx: str, sql: str, params: Sequence[Any]) -> Iterator[Tuple[Any, ...]]:
        """The rows of a query of the dump, as plain values (no row or text factory)."""
        request = _dump.request(self.database, tx, sql, params)
        stream = self._stub.Query(request, timeout=self.timeout, metadata=self._metadata)
        for message in self._messages(stream):
            for row in message.rows:
                yield _dump.values_of(row)

    def _messages(self, stream: Any) -> Iterator[Any]:
        """The messages of a streaming call, which interrupt() may cancel until it ends;
        its failure as this module's error. Stopped if the caller stops reading."""
        self._running.add(stream)
        try:
            yield from stream
        except grpc.RpcError as e:
            raise self._failed(e) from None
        finally:
            self._running.discard(stream)
            stream.cancel()  # a no-op once it ended

    def backup(
        self,
        target: Any,
        *,
        pages: int = -1,
        progress: Optional[Callable[[int, int, int], object]] = None,
        name: str = "main",
        sleep: float = 0.250,
    ) -> None:
        """Copies the database into ``target``, as sqlite3's ``backup()``: a
        ``sqlite3.Connection`` (``pages``, ``progress`` and ``sleep`` are its backup's), a
        path, or a binary file. The copy is the server's online backup (Admin.Backup, which
        needs the admin role): one consistent snapshot, checked against the server's
        SHA-256 before it is used."""
        self._check_open()
        _backup.check(self, target, name)
        request = admin_pb2.BackupRequest(database=self.database)
        stub = admin_pb2_grpc.AdminStub(self._channel)
        with _backup.Receiver(target) as receiver:
            for chunk in self._messages(stub.Backup(request, timeout=self.timeout, metadata=self._metadata)):
                receiver.chunk(chunk)
            receiver.deliver(pages=pages, progress=progress, sleep=sleep)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str) -> Cursor:
        return self.cursor().executescript(sql_script)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        """Commits if the block succeeded, rolls back if it raised (and if the commit
        failed), as sqlite3 does."""
        if kind is not None:
            self.rollback()
            return
        try:
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def __del__(self) -> None:
        # Not while the interpreter exits: gRPC's threads are gone then, and closing a
        # channel with a stream still open would wait for them forever.
        if sys.is_finalizing():
            return
        if not getattr(self, "_closed", True) and getattr(self, "_transaction", None) is None:
            try:
                self._channel.close()
            except Exception:
                pass

    # What cursors ask of their connection.

    def _open(self) -> None:
        """Opens the database as sqlite3 opens a file, in the URL's mode."""
        self._call(self._stub.Open, self._open_request())

    def _call(self, method: Any, request: Any) -> Any:
        # A future, so that interrupt() can cancel it from another thread.
        call = method.future(request, timeout=self.timeout, metadata=self._metadata)
        self._running.add(call)
        try:
            return call.result()
        except grpc.RpcError as e:
            raise self._failed(e) from None
        except grpc.FutureCancelledError:
            raise self._interrupted(_cancelled_here()) from None
        finally:
            self._running.discard(call)

    def _failed(self, rpc_error: grpc.RpcError) -> exceptions.Error:
        error = self._interrupted(exceptions.from_rpc_error(rpc_error))
        if error.reason in _ENDED:
            with self._lock:
                self._forget_transaction()
        return error

    def _in_turn(self, send: Callable[[str], _T], sql: Optional[str], implicit: bool = True) -> _T:
        """``send(tx)``: sends a request in the transaction ``sql`` runs in ("" for none;
        begun first if ``implicit`` and sqlite3 would begin one). In a transaction the lock is
        held until ``send`` returns (a query's first message included): the server runs a
        transaction's requests one at a time, and refuses more than a few waiting, so threads
        sharing it take turns here. Outside one, statements go in parallel."""
        with self._lock:
            tx = self._transaction_for(sql) if implicit else self._current_transaction()
            if tx:
                return send(tx)
        return send(tx)

    def _transaction_for(self, sql: Optional[str]) -> str:
        """The transaction a statement runs in ("" for none), begun if sqlite3 would begin
        one before it; other cursors' streams in it are read to their end first."""
        with self._lock:
            self._check_open()
            if self._transaction is None and self._begins_implicitly(sql):
                self._begin(self._isolation_level or "")
            return self._current_transaction()

    def _current_transaction(self) -> str:
        with self._lock:
            if self._transaction is not None:
                for cursor in list(self._streams):
                    cursor._buffer_rest()
            return self._transaction or ""

    def _begin(self, mode: str) -> None:
        self._transaction = self._call(self._stub.Begin, self._begin_request(mode)).transaction_id
        self._savepoints, self._savepoint_began = [], False

    def _end(self, commit: bool) -> None:
        with self._lock:
            if self._transaction is None:
                return
            for cursor in list(self._streams):
                cursor._buffer_rest()
            tx = self._transaction
            self._forget_transaction()
            if commit:
                self._call(self._stub.Commit, database_pb2.CommitRequest(transaction_id=tx))
            else:
                self._call(self._stub.Rollback, database_pb2.RollbackRequest(transaction_id=tx))

    def _control(self, control: _sql.Control) -> None:
        """SQL transaction control, run as the server's transaction RPCs."""
        with self._lock:
            if control.action == "begin":
                if self._transaction is not None:
                    raise _sqlite_error("cannot start a transaction within a transaction")
                self._begin(control.mode)
            elif control.action in ("commit", "rollback"):
                if self._transaction is None:
                    verb = "commit" if control.action == "commit" else "rollback"
                    raise _sqlite_error(f"cannot {verb} - no transaction is active")
                self._end(commit=control.action == "commit")
            else:
                self._savepoint(control)

    def _savepoint(self, control: _sql.Control) -> None:
        """SAVEPOINT, RELEASE or ROLLBACK TO, as ``_base.BaseConnection._savepoint_step``
        says to run it."""
        step = self._savepoint_step(control)
        if step.commit:
            self._end(commit=True)  # the RELEASE of SQLite's transaction savepoint
            return
        if step.begin is not None:
            self._begin(step.begin)
        try:
            self._execute_control(control.sql)
        except BaseException:
            if step.began:
                try:
                    self._end(commit=False)
                except exceptions.Error:
                    pass  # the SAVEPOINT's own error says more; the lease ends it anyway
            raise
        self._savepoint_done(control, step)

    def _execute_control(self, sql: str) -> None:
        self._execute(values_pb2.Statement(sql=sql), self._current_transaction())

    def _execute(self, statement: Any, tx: str) -> None:
        """Runs a statement whose rows are not wanted: Execute, or in mode=ro outside a
        transaction a read-only Query read to its end."""
        if self._read_only and not tx:
            stream = self._stub.Query(self._query_request(statement, tx), timeout=self.timeout, metadata=self._metadata)
            for message in self._messages(stream):
                if message.HasField("summary"):
                    self._changed(message.summary.rows_affected)
            return
        request = database_pb2.ExecuteRequest(database=self.database, statement=statement, transaction_id=tx)
        self._changed(self._call(self._stub.Execute, request).rows_affected)

    def _commit_before_script(self) -> None:
        if self._autocommit == LEGACY_TRANSACTION_CONTROL:
            self._end(commit=True)
