"""Cursors: statements run, and rows streamed lazily from the server as they are fetched.

A query's rows stay in the server's stream until the program fetches them: the cursor holds
the batch received last, not the result. What a cursor makes of requests and answers is
``_base.BaseCursor``'s, shared with ``sqlited.aio``; here are the calls.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import grpc

from ._base import BaseCursor
from ._proto import database_pb2, statements_pb2

if TYPE_CHECKING:
    from .connection import Connection


class Cursor(BaseCursor):
    """A PEP 249 cursor, as sqlite3's: not to be shared between threads (a connection is)."""

    _connection: "Connection"

    def __init__(self, connection: "Connection") -> None:
        super().__init__(connection)
        # One read of the stream at a time: another thread sending in the same transaction
        # reads its rest (_buffer_rest) while this cursor's thread may be fetching.
        self._reading = threading.Lock()

    @property
    def connection(self) -> "Connection":
        return self._connection

    # Running statements.

    def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        self._start()
        control, statement = self._statement(sql, parameters)
        conn = self._connection
        if control is not None:
            conn._control(control)
            return self
        def send(tx: str) -> None:
            self._open(conn._stub.Query, conn._query_request(statement, tx), tx)

        conn._in_turn(send, sql)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "Cursor":
        """Runs ``sql`` once per parameter set, all in one ExecuteBatch (one transaction)."""
        self._start()
        statements = self._statements(sql, seq_of_parameters)
        conn = self._connection
        conn._check_writable("executemany()")
        def send(tx: str) -> Any:
            if not statements:
                return None
            request = database_pb2.ExecuteBatchRequest(database=conn.database, statements=statements, transaction_id=tx)
            return conn._call(conn._stub.ExecuteBatch, request)

        self._batch_done(conn._in_turn(send, sql))
        return self

    def executescript(self, sql_script: str) -> "Cursor":
        """Runs a script as sqlite3 does: a pending implicit transaction is committed first,
        then each statement runs as written (its BEGIN and COMMIT on the server's
        transactions), every one outside a transaction its own."""
        self._start()
        statements = self._check_script(sql_script)
        conn = self._connection
        conn._commit_before_script()
        for sql in statements:
            control, statement = self._statement(sql, None)
            if control is not None:
                conn._control(control)
                continue
            conn._in_turn(lambda tx: conn._execute(statement, tx), sql, implicit=False)
        return self

    def callproc(
        self, procname: str, parameters: Optional[Union[Sequence[Any], Mapping[str, Any]]] = None
    ) -> Optional[Union[Sequence[Any], Mapping[str, Any]]]:
        """Calls the exposed statement ``procname`` (Statements.Call), with arguments by name
        (a mapping) or by position (a sequence, bound to the parameters in the order they
        first stand in the statement's SQL); its rows are then fetched as after
        ``execute``. Returns ``parameters``, as PEP 249 asks (exposed statements have no
        output parameters)."""
        self._start()
        conn = self._connection
        listed = None
        if self._positional(parameters):
            request = statements_pb2.ListStatementsRequest(database=conn.database)
            listed = conn._call(conn._statements.ListStatements, request)
        def send(tx: str) -> None:
            self._open(conn._statements.Call, self._call_request(procname, parameters, tx, listed), tx)

        conn._in_turn(send, None)
        return parameters

    def _open(self, method: Any, request: Any, tx: str) -> None:
        conn = self._connection
        stream = method(request, timeout=conn.timeout, metadata=conn._metadata)
        conn._running.add(stream)  # interrupt() cancels it, until its last message
        try:
            first = next(stream)
        except StopIteration:
            conn._running.discard(stream)
            return
        except grpc.RpcError as e:
            conn._running.discard(stream)
            raise conn._failed(e) from None
        self._first(first, stream, tx)
        if self._stream is None:
            conn._running.discard(stream)

    def _buffer_rest(self) -> None:
        """Reads the rest of the stream into memory: another request of the same
        transaction is about to run, and the server runs a transaction's requests in turn."""
        while self._stream is not None:
            self._receive()

    def _receive(self) -> None:
        with self._reading:
            if self._stream is None:
                return  # read to its end meanwhile, by the connection
            try:
                self._received(next(self._stream))
                return
            except StopIteration:
                self._ended()
                return
            except grpc.RpcError as e:
                self._ended()
                failed = e
        # Outside the read lock: _failed takes the connection's, which the thread reading
        # this stream's rest holds while it waits for the read lock.
        raise self._connection._failed(failed) from None

    # Fetching.

    def fetchone(self) -> Any:
        self._check_fetch()
        while not self._batch:
            if self._stream is None:
                return None
            self._receive()
        return self._row(self._batch.popleft())

    def fetchmany(self, size: Optional[int] = None) -> List[Any]:
        size = self.arraysize if size is None else size
        rows: List[Any] = []
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

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
