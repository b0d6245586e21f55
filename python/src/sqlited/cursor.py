"""Cursors: statements run, and their rows streamed lazily from the server.

A query's rows arrive in batches on one gRPC stream; a cursor holds the stream and the one
batch it is reading, never the whole result, so the first row is there as soon as the
server sends it and memory stays bounded however many rows follow.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import grpc

from . import _sql, values
from ._proto import database_pb2, statements_pb2, values_pb2
from .exceptions import ProgrammingError

if TYPE_CHECKING:
    from .connection import Connection

Description = Tuple[Tuple[str, None, None, None, None, None, None], ...]


class Cursor:
    """A PEP 249 cursor, as sqlite3's: not to be shared between threads (a connection is)."""

    def __init__(self, connection: "Connection") -> None:
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
    def connection(self) -> "Connection":
        return self._connection

    # Running statements.

    def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        self._start()
        if not isinstance(sql, str):
            raise TypeError(f"execute() argument 1 must be str, not {type(sql).__name__}")
        control = _sql.control(sql)
        conn = self._connection
        if control is not None:
            conn._control(control)
            return self
        statement = values_pb2.Statement(sql=sql)
        values.bind(statement, sql, parameters)
        self._dml, self._insert = _sql.is_dml(sql), _sql.is_insert(sql)
        tx = conn._transaction_for(sql)
        request = database_pb2.QueryRequest(database=conn.database, statement=statement, transaction_id=tx)
        self._open(conn._stub.Query, request, tx)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "Cursor":
        """Runs ``sql`` once per parameter set, all in one ExecuteBatch (one transaction)."""
        self._start()
        if _sql.returns_rows(sql) or _sql.control(sql) is not None:
            raise ProgrammingError("executemany() can only execute DML statements.")
        names = _sql.named_parameters(sql)
        statements = []
        for parameters in seq_of_parameters:
            statement = values_pb2.Statement(sql=sql)
            values.bind(statement, sql, parameters, names)
            statements.append(statement)
        conn = self._connection
        dml = _sql.is_dml(sql)
        tx = conn._transaction_for(sql)
        if statements:
            request = database_pb2.ExecuteBatchRequest(database=conn.database, statements=statements, transaction_id=tx)
            response = conn._call(conn._stub.ExecuteBatch, request)
            changed = sum(result.rows_affected for result in response.results)
        else:
            changed = 0
        self.rowcount = changed if dml else -1
        return self

    def executescript(self, sql_script: str) -> "Cursor":
        """Runs a script as sqlite3 does: a pending implicit transaction is committed first,
        then each statement runs as written (its BEGIN and COMMIT on the server's
        transactions), every one outside a transaction its own."""
        self._start()
        if not isinstance(sql_script, str):
            raise ValueError("script argument must be unicode.")
        conn = self._connection
        conn._commit_before_script()
        for sql in _sql.split_script(sql_script):
            control = _sql.control(sql)
            if control is not None:
                conn._control(control)
                continue
            statement = values_pb2.Statement(sql=sql)
            request = database_pb2.ExecuteRequest(database=conn.database, statement=statement, transaction_id=conn._current_transaction())
            conn._call(conn._stub.Execute, request)
        return self

    def callproc(self, procname: str, parameters: Optional[Mapping[str, Any]] = None) -> Optional[Mapping[str, Any]]:
        """Calls the exposed statement ``procname`` (Statements.Call) with named arguments;
        its rows are then fetched as after ``execute``. Returns ``parameters``, as PEP 249
        asks (exposed statements have no output parameters)."""
        self._start()
        if parameters is not None and not isinstance(parameters, Mapping):
            raise ProgrammingError("callproc() takes its arguments by name: pass a mapping")
        conn = self._connection
        tx = conn._transaction_for(None)
        request = statements_pb2.CallRequest(database=conn.database, name=procname, transaction_id=tx)
        for name, value in (parameters or {}).items():
            request.args[name].CopyFrom(values.to_value(value, name))
        self._dml = self._insert = False
        self._open(conn._statements.Call, request, tx)
        return parameters

    def _start(self) -> None:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed cursor.")
        self._connection._check_open()
        self._cancel()
        self.description = None
        self.rowcount = -1

    def _open(self, method: Any, request: Any, tx: str) -> None:
        conn = self._connection
        stream = method(request, timeout=conn.timeout, metadata=conn._metadata)
        try:
            first = next(stream)
        except StopIteration:
            return
        except grpc.RpcError as e:
            raise conn._failed(e) from None
        columns = first.columns
        if columns:
            self.description = tuple((c.name, None, None, None, None, None, None) for c in columns)
            self._converters = conn._converters_for(columns)
        else:
            self._converters = None
        self.rowcount = 0 if self._dml else -1
        self._batch.extend(first.rows)
        if first.HasField("summary"):
            self._finish(first.summary)
        else:
            self._stream = stream
            if tx:
                conn._streams.add(self)

    def _finish(self, summary: Any) -> None:
        self._stream = None
        self._connection._streams.discard(self)
        if self._dml:
            self.rowcount = summary.rows_affected
        if self._insert:
            self.lastrowid = summary.last_insert_rowid

    def _cancel(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
            self._connection._streams.discard(self)
        self._batch.clear()

    def _buffer_rest(self) -> None:
        """Reads the rest of the stream into memory: another request of the same
        transaction is about to run, and the server runs a transaction's requests in turn."""
        while self._stream is not None:
            self._receive()

    def _receive(self) -> None:
        assert self._stream is not None
        try:
            message = next(self._stream)
        except StopIteration:
            self._stream = None
            self._connection._streams.discard(self)
            return
        except grpc.RpcError as e:
            self._stream = None
            self._connection._streams.discard(self)
            raise self._connection._failed(e) from None
        self._batch.extend(message.rows)
        if message.HasField("summary"):
            self._finish(message.summary)

    # Fetching.

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

    def fetchone(self) -> Any:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed cursor.")
        while not self._batch:
            if self._stream is None:
                return None
            self._receive()
        return self._row(self._batch.popleft())

    def fetchmany(self, size: Optional[int] = None) -> List[Any]:
        size = self.arraysize if size is None else size
        rows = []
        while len(rows) < size:
            row = self.fetchone()
            if row is None:
                break
            rows.append(row)
        return rows

    def fetchall(self) -> List[Any]:
        return list(self)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    # The rest of PEP 249.

    def close(self) -> None:
        self._cancel()
        self._closed = True

    def setinputsizes(self, sizes: Sequence[Any]) -> None:
        pass

    def setoutputsize(self, size: int, column: Optional[int] = None) -> None:
        pass

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


