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

import threading
import weakref
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import grpc

from . import _sql, exceptions, values
from ._proto import database_pb2, database_pb2_grpc, statements_pb2_grpc, values_pb2
from .cursor import Cursor
from .exceptions import OperationalError, ProgrammingError

LEGACY_TRANSACTION_CONTROL = -1

_MODES = {
    "": database_pb2.BeginRequest.DEFERRED,
    "DEFERRED": database_pb2.BeginRequest.DEFERRED,
    "IMMEDIATE": database_pb2.BeginRequest.IMMEDIATE,
    "EXCLUSIVE": database_pb2.BeginRequest.EXCLUSIVE,
}

# Reasons after which the server holds the transaction no more.
_ENDED = ("TRANSACTION_NOT_FOUND", "TRANSACTION_ENDED", "TRANSACTION_ABORTED")


class Connection:
    """A PEP 249 connection to one sqlited database; see ``sqlited.connect``."""

    Warning = exceptions.Warning
    Error = exceptions.Error
    InterfaceError = exceptions.InterfaceError
    DatabaseError = exceptions.DatabaseError
    DataError = exceptions.DataError
    OperationalError = exceptions.OperationalError
    IntegrityError = exceptions.IntegrityError
    InternalError = exceptions.InternalError
    ProgrammingError = exceptions.ProgrammingError
    NotSupportedError = exceptions.NotSupportedError

    def __init__(
        self,
        channel: grpc.Channel,
        database: str,
        *,
        timeout: Optional[float] = None,
        token: Optional[str] = None,
        lease_ms: int = 0,
        autocommit: Union[bool, int] = LEGACY_TRANSACTION_CONTROL,
        isolation_level: Optional[str] = "",
        detect_types: int = 0,
    ) -> None:
        self._channel = channel
        self._stub = database_pb2_grpc.DatabaseStub(channel)
        self._statements = statements_pb2_grpc.StatementsStub(channel)
        self._metadata: Optional[Tuple[Tuple[str, str], ...]] = (
            (("authorization", f"Bearer {token}"),) if token else None
        )
        self.database = database
        self.timeout = timeout
        self.lease_ms = lease_ms
        self.detect_types = detect_types
        self.row_factory: Optional[Callable[[Any, Tuple[Any, ...]], Any]] = None
        self.text_factory: Callable[[bytes], Any] = str
        # Guards _transaction: a Begin, Commit or Rollback in flight, and the id it leaves.
        self._lock = threading.RLock()
        self._transaction: Optional[str] = None
        # The savepoints open in the transaction, oldest first, and whether the oldest began
        # the transaction (then its RELEASE commits it, as in SQLite).
        self._savepoints: List[str] = []
        self._savepoint_began = False
        # Cursors still streaming rows inside the transaction (see Cursor._buffer_rest).
        self._streams: "weakref.WeakSet[Cursor]" = weakref.WeakSet()
        self._closed = False
        self._autocommit = _check_autocommit(autocommit)
        self._isolation_level = _check_isolation_level(isolation_level)

    # sqlite3's transaction attributes.

    @property
    def autocommit(self) -> Union[bool, int]:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: Union[bool, int]) -> None:
        value = _check_autocommit(value)
        if value is True:
            self._end(commit=True)
        self._autocommit = value

    @property
    def isolation_level(self) -> Optional[str]:
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Optional[str]) -> None:
        value = _check_isolation_level(value)
        if value is None and self._autocommit == LEGACY_TRANSACTION_CONTROL:
            self._end(commit=True)
        self._isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self._transaction is not None

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
        if not getattr(self, "_closed", True) and getattr(self, "_transaction", None) is None:
            try:
                self._channel.close()
            except Exception:
                pass

    # What cursors ask of their connection.

    def _check_open(self) -> None:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed database.")

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise self._failed(e) from None

    def _failed(self, rpc_error: grpc.RpcError) -> exceptions.Error:
        error = exceptions.from_rpc_error(rpc_error)
        if error.reason in _ENDED:
            with self._lock:
                self._forget_transaction()
        return error

    def _transaction_for(self, sql: Optional[str]) -> str:
        """The transaction a statement runs in ("" for none), begun if sqlite3 would begin
        one before it; other cursors' streams in it are read to their end first."""
        with self._lock:
            self._check_open()
            if self._transaction is None:
                implicit = self._autocommit is False or (
                    self._autocommit == LEGACY_TRANSACTION_CONTROL
                    and self._isolation_level is not None
                    and sql is not None
                    and _sql.is_dml(sql)
                )
                if implicit:
                    self._begin(self._isolation_level or "")
            return self._current_transaction()

    def _current_transaction(self) -> str:
        with self._lock:
            if self._transaction is not None:
                for cursor in list(self._streams):
                    cursor._buffer_rest()
            return self._transaction or ""

    def _begin(self, mode: str) -> None:
        request = database_pb2.BeginRequest(database=self.database, mode=_MODES[mode], lease_ms=self.lease_ms)
        self._transaction = self._call(self._stub.Begin, request).transaction_id
        self._savepoints, self._savepoint_began = [], False

    def _forget_transaction(self) -> None:
        self._transaction = None
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
        """SAVEPOINT, RELEASE and ROLLBACK TO as SQLite runs them: sent with Execute in the
        server's transaction, one begun for a SAVEPOINT outside any (as SQLite's own
        SAVEPOINT begins one), and committed by the RELEASE of the savepoint that began it.
        Outside a transaction RELEASE and ROLLBACK TO name no savepoint, as in SQLite."""
        if control.error is not None:
            raise _sqlite_error(control.error)
        if control.action == "savepoint":
            began = False
            if self._transaction is None:
                if self._autocommit is False:
                    self._begin(self._isolation_level or "")
                else:
                    self._begin("DEFERRED")
                    began = True
            try:
                self._execute_control(control.sql)
            except BaseException:
                if began:
                    try:
                        self._end(commit=False)
                    except exceptions.Error:
                        pass  # the SAVEPOINT's own error says more; the lease ends it anyway
                raise
            self._savepoints.append(control.name)
            self._savepoint_began = self._savepoint_began or began
            return
        if self._transaction is None:
            raise _sqlite_error(f"no such savepoint: {control.name}")
        found = [i for i, name in enumerate(self._savepoints) if _sql.same_name(name, control.name)]
        if not found:
            self._execute_control(control.sql)  # the server's own "no such savepoint"
            return
        at = found[-1]
        if control.action == "release" and at == 0 and self._savepoint_began:
            self._end(commit=True)  # the RELEASE of SQLite's transaction savepoint
            return
        self._execute_control(control.sql)
        del self._savepoints[at if control.action == "release" else at + 1 :]

    def _execute_control(self, sql: str) -> None:
        statement = values_pb2.Statement(sql=sql)
        tx = self._current_transaction()
        request = database_pb2.ExecuteRequest(database=self.database, statement=statement, transaction_id=tx)
        self._call(self._stub.Execute, request)

    def _commit_before_script(self) -> None:
        if self._autocommit == LEGACY_TRANSACTION_CONTROL:
            self._end(commit=True)

    def _converters_for(self, columns: Sequence[Any]) -> Optional[List[Optional[values.Converter]]]:
        """The converter of each column under ``detect_types``, as sqlite3 chooses them:
        a ``name [type]`` column name first (PARSE_COLNAMES), then the declared type's
        first word (PARSE_DECLTYPES)."""
        if not self.detect_types:
            return None
        chosen: List[Optional[values.Converter]] = []
        for column in columns:
            converter = None
            if self.detect_types & values.PARSE_COLNAMES and "[" in column.name:
                typename = column.name.split("[", 1)[1].split("]", 1)[0]
                converter = values.converters.get(typename.upper())
            if converter is None and self.detect_types & values.PARSE_DECLTYPES and column.decl_type:
                typename = column.decl_type.split("(", 1)[0].split()[0]
                converter = values.converters.get(typename.upper())
            chosen.append(converter)
        return chosen if any(chosen) else None


def _sqlite_error(message: str) -> OperationalError:
    """The error SQLite gives for a transaction control statement, where the driver answers
    for it (SQLITE_ERROR)."""
    error = OperationalError(message)
    error.sqlite_errorcode, error.sqlite_errorname = 1, "SQLITE_ERROR"
    return error


def _check_autocommit(value: Union[bool, int]) -> Union[bool, int]:
    if value is True or value is False or value == LEGACY_TRANSACTION_CONTROL:
        return value
    raise ValueError("autocommit must be True, False, or sqlited.LEGACY_TRANSACTION_CONTROL")


def _check_isolation_level(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("isolation_level must be str or None")
    if value.upper() not in _MODES:
        raise ValueError("isolation_level string must be '', 'DEFERRED', 'IMMEDIATE', or 'EXCLUSIVE'")
    return value.upper() if value else ""
