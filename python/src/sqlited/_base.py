"""What the blocking driver (``sqlited.Connection``, ``sqlited.Cursor``) and the asyncio one
(``sqlited.aio``) share: everything but the calls themselves.

A cursor here builds the requests a statement needs and makes sense of the answers
(``description``, ``rowcount``, ``lastrowid``, rows as Python values); a connection decides
when sqlite3 would begin a transaction and which converters ``detect_types`` picks. The
subclasses send the requests, blocking or awaiting, and keep the stream open between
fetches. Nothing here does I/O.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable, Deque, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import grpc

from . import _sql, exceptions, values
from ._proto import database_pb2, database_pb2_grpc, statements_pb2, statements_pb2_grpc, values_pb2
from .exceptions import ProgrammingError

LEGACY_TRANSACTION_CONTROL = -1

_MODES = {
    "": database_pb2.BeginRequest.DEFERRED,
    "DEFERRED": database_pb2.BeginRequest.DEFERRED,
    "IMMEDIATE": database_pb2.BeginRequest.IMMEDIATE,
    "EXCLUSIVE": database_pb2.BeginRequest.EXCLUSIVE,
}

# Reasons after which the server holds the transaction no more.
_ENDED = ("TRANSACTION_NOT_FOUND", "TRANSACTION_ENDED", "TRANSACTION_ABORTED")

# A column's name and its declared type ("INTEGER", "VARCHAR(20)"; None for an expression),
# which compares equal to the type object of its affinity (sqlited.NUMBER == "INTEGER").
Description = Tuple[Tuple[str, Optional[str], None, None, None, None, None], ...]


class BaseConnection:
    """A connection's state, the exception classes as attributes (PEP 249's optional
    extension) and the rules that need no server. ``channel`` is a ``grpc`` or a
    ``grpc.aio`` channel (the generated stubs take either); ``_new_lock`` makes the lock
    that guards the transaction, a thread's or a task's."""

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

    _new_lock: Callable[[], Any]

    def __init__(
        self,
        channel: Any,
        database: str,
        *,
        timeout: Optional[float] = None,
        token: Optional[str] = None,
        lease_ms: int = 0,
        autocommit: Union[bool, int] = LEGACY_TRANSACTION_CONTROL,
        isolation_level: Optional[str] = "",
        detect_types: int = 0,
        mode: str = "rwc",
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
        # Held while a Begin, Commit or Rollback is in flight, and while other cursors'
        # streams of the transaction are read to their end before its next request.
        self._lock = self._new_lock()
        self._transaction: Optional[str] = None
        # The savepoints open in the transaction, oldest first, and whether the oldest began
        # the transaction (then its RELEASE commits it, as in SQLite).
        self._savepoints: List[str] = []
        self._savepoint_began = False
        # Cursors still streaming rows inside the transaction (see Cursor._buffer_rest).
        self._streams: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._closed = False
        self._autocommit = _check_autocommit(autocommit)
        self._isolation_level = _check_isolation_level(isolation_level)
        # sqlite3's open mode (the URL's mode=): "ro" sends every statement read-only.
        self._mode = mode
        self._read_only = mode == "ro"
        # The rows the connection's statements changed, as sqlite3's total_changes.
        self._total_changes = 0
        # The calls running now, which interrupt() cancels.
        self._running: "set[Any]" = set()

    # sqlite3's transaction attributes. Setting them commits where sqlite3 commits: the
    # subclasses' _commit_for_setting.

    @property
    def autocommit(self) -> Union[bool, int]:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: Union[bool, int]) -> None:
        value = _check_autocommit(value)
        if value is True:
            self._commit_for_setting("autocommit = True")
        self._autocommit = value

    @property
    def isolation_level(self) -> Optional[str]:
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Optional[str]) -> None:
        value = _check_isolation_level(value)
        if value is None and self._autocommit == LEGACY_TRANSACTION_CONTROL:
            self._commit_for_setting("isolation_level = None")
        self._isolation_level = value

    def _commit_for_setting(self, setting: str) -> None:
        raise NotImplementedError  # each subclass commits its own way

    @property
    def in_transaction(self) -> bool:
        return self._transaction is not None

    @property
    def total_changes(self) -> int:
        """The rows inserted, modified or deleted by the connection's statements since it
        was opened, as sqlite3's ``total_changes`` (each statement's own count, as
        ``rowcount``: rows changed by triggers are not in it)."""
        return self._total_changes

    def _changed(self, rows: int) -> None:
        self._total_changes += rows

    # What sqlite3 offers and a server cannot: the program's Python code inside SQLite.

    def create_function(self, name: str, narg: int, func: Any, *, deterministic: bool = False) -> None:
        raise _runs_on_the_server("create_function")

    def create_aggregate(self, name: str, n_arg: int, aggregate_class: Any) -> None:
        raise _runs_on_the_server("create_aggregate")

    def create_window_function(self, name: str, num_params: int, aggregate_class: Any, /) -> None:
        raise _runs_on_the_server("create_window_function")

    def create_collation(self, name: str, callable: Any, /) -> None:  # noqa: A002 - sqlite3's name
        raise _runs_on_the_server("create_collation")

    # The requests, as the open mode makes them.

    def _open_request(self) -> Any:
        """The Open of this connection's database: created if missing in mode=rwc."""
        return database_pb2.OpenRequest(database=self.database, create=self._mode == "rwc")

    def _query_request(self, statement: Any, tx: str) -> Any:
        """A statement's QueryRequest: read-only outside a transaction in mode=ro (a
        transaction of a read-only connection is read-only itself)."""
        return database_pb2.QueryRequest(
            database=self.database, statement=statement, transaction_id=tx,
            read_only=self._read_only and not tx,
        )

    def _begin_request(self, mode: str) -> Any:
        return database_pb2.BeginRequest(
            database=self.database, mode=_MODES[mode], lease_ms=self.lease_ms, read_only=self._read_only,
        )

    def _snapshot_request(self) -> Any:
        """A read-only transaction of its own (iterdump's): one snapshot, no writer held."""
        return database_pb2.BeginRequest(database=self.database, read_only=True, lease_ms=self.lease_ms)

    def _check_writable(self, what: str) -> None:
        """Refuses ``what`` (a request that exists to write) in mode=ro, as SQLite refuses a
        write to a database opened read-only."""
        if self._read_only:
            error = exceptions.OperationalError(
                f"attempt to write a readonly database: {what} writes, and the database was "
                "opened with mode=ro"
            )
            error.sqlite_errorcode, error.sqlite_errorname = 8, "SQLITE_READONLY"
            raise error

    def _interrupted(self, error: exceptions.Error) -> exceptions.Error:
        """sqlite3's error for a statement interrupt() stopped: a call this side cancelled
        (CANCELLED without the server's details)."""
        if error.code == grpc.StatusCode.CANCELLED and error.sqlite_errorname is None:
            interrupted = exceptions.OperationalError("interrupted")
            interrupted.sqlite_errorcode, interrupted.sqlite_errorname = 9, "SQLITE_INTERRUPT"
            interrupted.code = error.code
            return interrupted
        return error

    def _forget_transaction(self) -> None:
        self._transaction = None
        self._savepoints, self._savepoint_began = [], False

    def _savepoint_step(self, control: _sql.Control) -> "SavepointStep":
        """How to run SAVEPOINT, RELEASE or ROLLBACK TO as SQLite runs them: sent with
        Execute in the server's transaction; a SAVEPOINT outside one begins one (as SQLite's
        own SAVEPOINT does), which the RELEASE of that savepoint commits. Outside a
        transaction RELEASE and ROLLBACK TO name no savepoint, as in SQLite."""
        if control.error is not None:
            raise _sqlite_error(control.error)
        if control.action == "savepoint":
            if self._transaction is not None:
                return SavepointStep(push=True)
            if self._autocommit is False:
                return SavepointStep(begin=self._isolation_level or "", push=True)
            return SavepointStep(begin="DEFERRED", began=True, push=True)
        if self._transaction is None:
            raise _sqlite_error(f"no such savepoint: {control.name}")
        found = [i for i, name in enumerate(self._savepoints) if _sql.same_name(name, control.name)]
        if not found:
            return SavepointStep()  # the server answers its own "no such savepoint"
        at = found[-1]
        if control.action == "release" and at == 0 and self._savepoint_began:
            return SavepointStep(commit=True)
        return SavepointStep(keep=at if control.action == "release" else at + 1)

    def _savepoint_done(self, control: _sql.Control, step: "SavepointStep") -> None:
        """Follows the server's savepoint stack once ``step`` ran."""
        if step.push:
            self._savepoints.append(control.name)
            self._savepoint_began = self._savepoint_began or step.began
        elif step.keep is not None:
            del self._savepoints[step.keep :]

    def _check_open(self) -> None:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed database.")

    def _begins_implicitly(self, sql: Optional[str]) -> bool:
        """Whether sqlite3 would begin a transaction before ``sql`` (None: a call of an
        exposed statement) when none is open."""
        return self._autocommit is False or (
            self._autocommit == LEGACY_TRANSACTION_CONTROL
            and self._isolation_level is not None
            and sql is not None
            and _sql.is_dml(sql)
        )

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


class BaseCursor:
    """A cursor's state, as sqlite3 keeps it, and what turns statements into requests and
    answers into that state. ``_stream`` is the subclass's open response stream (anything
    with ``cancel()``), None once the summary came."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self.arraysize = 1
        self.row_factory: Optional[Callable[[Any, Tuple[Any, ...]], Any]] = connection.row_factory
        self.description: Optional[Description] = None
        self.rowcount = -1
        self.lastrowid: Optional[int] = None
        self._closed = False
        self._stream: Optional[Any] = None  # the open gRPC response stream, if rows remain
        self._batch: Deque[Any] = deque()  # rows received and not fetched yet
        self._dml = False
        self._insert = False
        self._converters: Optional[List[Optional[values.Converter]]] = None

    @property
    def connection(self) -> Any:
        return self._connection

    # Before a statement.

    def _start(self) -> None:
        """Checks the cursor may run a statement, and forgets the previous one's result."""
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed cursor.")
        self._connection._check_open()
        self._cancel()
        self.description = None
        self.rowcount = -1

    def _statement(self, sql: str, parameters: Any) -> Tuple[Optional[_sql.Control], Any]:
        """The transaction control ``sql`` is, or else its bound ``Statement``."""
        if not isinstance(sql, str):
            raise TypeError(f"execute() argument 1 must be str, not {type(sql).__name__}")
        control = _sql.control(sql)
        if control is not None:
            return control, None
        statement = values_pb2.Statement(sql=sql)
        values.bind(statement, sql, parameters)
        self._dml, self._insert = _sql.is_dml(sql), _sql.is_insert(sql)
        return None, statement

    def _statements(self, sql: str, seq_of_parameters: Iterable[Any]) -> List[Any]:
        """executemany's statements, one per parameter set (for one ExecuteBatch)."""
        if _sql.returns_rows(sql) or _sql.control(sql) is not None:
            raise ProgrammingError("executemany() can only execute DML statements.")
        names = _sql.named_parameters(sql)
        statements = []
        for parameters in seq_of_parameters:
            statement = values_pb2.Statement(sql=sql)
            values.bind(statement, sql, parameters, names)
            statements.append(statement)
        self._dml, self._insert = _sql.is_dml(sql), False
        return statements

    def _batch_done(self, response: Optional[Any]) -> None:
        changed = sum(result.rows_affected for result in response.results) if response is not None else 0
        self._connection._changed(changed)
        self.rowcount = changed if self._dml else -1

    @staticmethod
    def _check_script(sql_script: Any) -> List[str]:
        if not isinstance(sql_script, str):
            raise ValueError("script argument must be unicode.")
        return _sql.split_script(sql_script)

    @staticmethod
    def _positional(parameters: Any) -> bool:
        """Whether callproc's arguments come by position (PEP 249's sequence)."""
        if parameters is None or isinstance(parameters, Mapping):
            return False
        if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Sequence):
            raise ProgrammingError("callproc() takes its arguments as a sequence or a mapping")
        return True

    def _call_request(
        self, procname: str, parameters: Any, tx: str, listed: Optional[Any] = None
    ) -> Any:
        """The CallRequest of ``callproc``: arguments by name, or by position onto the
        parameters in the order they first stand in the statement's SQL (``listed``, the
        ListStatementsResponse, says what that SQL is)."""
        conn = self._connection
        request = statements_pb2.CallRequest(database=conn.database, name=procname, transaction_id=tx)
        if listed is not None:
            found = [s for s in listed.statements if s.name == procname]
            if not found:
                raise ProgrammingError(f"no exposed statement {procname!r} on database {conn.database!r}")
            names = [name for _, name in _sql.named_parameters(found[0].sql)]
            if len(names) != len(parameters):
                raise ProgrammingError(
                    f"{procname} takes {len(names)} arguments ({', '.join(names)}), "
                    f"{len(parameters)} given"
                )
            parameters = dict(zip(names, parameters))
        for name, value in (parameters or {}).items():
            request.args[name].CopyFrom(values.to_value(value, name))
        # rowcount: the rows the statement changed (the server's rows_affected; 0 for a read).
        self._dml, self._insert = True, False
        return request

    # The answer.

    def _first(self, first: Any, stream: Any, tx: str) -> None:
        """Takes a statement's first message; the stream stays open if rows remain."""
        columns = first.columns
        if columns:
            self.description = tuple(
                (c.name, c.decl_type or None, None, None, None, None, None) for c in columns
            )
            self._converters = self._connection._converters_for(columns)
        else:
            self._converters = None
        self.rowcount = 0 if self._dml else -1
        self._batch.extend(first.rows)
        if first.HasField("summary"):
            self._finish(first.summary)
        else:
            self._stream = stream
            if tx:
                self._connection._streams.add(self)

    def _received(self, message: Any) -> None:
        self._batch.extend(message.rows)
        if message.HasField("summary"):
            self._finish(message.summary)

    def _finish(self, summary: Any) -> None:
        self._ended()
        self._connection._changed(summary.rows_affected)
        if self._dml:
            self.rowcount = summary.rows_affected
        if self._insert:
            self.lastrowid = summary.last_insert_rowid

    def _ended(self) -> None:
        if self._stream is not None:
            self._connection._running.discard(self._stream)
        self._stream = None
        self._connection._streams.discard(self)

    def _cancel(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._ended()
        self._batch.clear()

    # Fetching.

    def _check_fetch(self) -> None:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed cursor.")
        if self.description is None:
            # PEP 249 asks for an error here; sqlite3 returns None (or []) instead.
            raise ProgrammingError(
                "no result set to fetch from: the last statement returned no rows, or none ran"
            )

    def _row(self, message: Any) -> Any:
        row = tuple(values.from_value(v) for v in message.values)
        conn = self._connection
        if conn.text_factory is not str:
            row = tuple(conn.text_factory(v.encode()) if isinstance(v, str) else v for v in row)
        if self._converters is not None:
            row = tuple(
                v if convert is None or v is None else convert(values.to_bytes(v))
                for v, convert in zip(row, self._converters)
            )
        return row if self.row_factory is None else self.row_factory(self, row)

    def __del__(self) -> None:
        # Dropped mid-stream: the server stops the query (as sqlite3 finalizes a dropped
        # cursor's statement) rather than keep it until the channel closes.
        stream = getattr(self, "_stream", None)
        if stream is not None:
            try:
                stream.cancel()
            except Exception:
                pass  # the call or its event loop is gone already

    # The rest of PEP 249.

    def setinputsizes(self, sizes: Sequence[Any]) -> None:
        """Does nothing: values travel whole, in their own types."""

    def setoutputsize(self, size: int, column: Optional[int] = None) -> None:
        """Does nothing: long values arrive whole."""


class SavepointStep(NamedTuple):
    """What a savepoint statement takes (``BaseConnection._savepoint_step``)."""

    #: Begin a server transaction in this mode first.
    begin: Optional[str] = None
    #: That transaction is the savepoint's own: its RELEASE commits it.
    began: bool = False
    #: Commit the transaction instead of sending the statement.
    commit: bool = False
    #: A SAVEPOINT: its name joins the stack.
    push: bool = False
    #: A RELEASE or ROLLBACK TO of an open savepoint: the stack keeps this many.
    keep: Optional[int] = None


def _runs_on_the_server(what: str) -> exceptions.NotSupportedError:
    return exceptions.NotSupportedError(
        f"{what}: the SQL runs on the server, which cannot call into this program. Write the "
        "logic in SQL — the server's SQLite has the JSON, FTS5, R*Tree and math functions "
        "(floor, sqrt, pow, …) — and give it a name as an exposed statement in the server's "
        "statements file, which cursor.callproc(name, args) calls; or compute it in Python "
        "on the rows a query returns"
    )


def _cancelled_here() -> exceptions.Error:
    """The error of a call this side cancelled (by interrupt()), which gRPC reports as a
    cancelled future or task rather than a status."""
    error = exceptions.OperationalError("cancelled")
    error.code = grpc.StatusCode.CANCELLED
    return error


def _sqlite_error(message: str) -> exceptions.OperationalError:
    """The error SQLite gives for a transaction control statement, where the driver answers
    for it (SQLITE_ERROR)."""
    error = exceptions.OperationalError(message)
    error.sqlite_errorcode, error.sqlite_errorname = 1, "SQLITE_ERROR"
    return error
