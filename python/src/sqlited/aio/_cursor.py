"""``sqlited.aio.Cursor``: ``sqlited.Cursor`` on grpc.aio, its calls and fetches awaited.

Rows stream lazily as in the blocking cursor: a fetch awaits the stream's next message only
when the rows received are used up. What a cursor makes of requests and answers is
``_base.BaseCursor``'s, shared with ``sqlited.Cursor``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, List, Mapping, Optional, Sequence, Union

import grpc

from .._base import BaseCursor
from .._proto import database_pb2, statements_pb2

if TYPE_CHECKING:
    from ._connection import Connection


class Cursor(BaseCursor):
    """An asyncio PEP 249 cursor: one task at a time uses it (a connection may be shared)."""

    _connection: "Connection"

    def __init__(self, connection: "Connection") -> None:
        super().__init__(connection)
        # One read of the stream at a time: the connection may read the rest of it
        # (_buffer_rest) while the cursor's own task awaits a fetch.
        self._reading = asyncio.Lock()

    @property
    def connection(self) -> "Connection":
        return self._connection

    # Running statements.

    async def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        self._start()
        control, statement = self._statement(sql, parameters)
        conn = self._connection
        if control is not None:
            await conn._control(control)
            return self
        async def send(tx: str) -> None:
            await self._open(conn._stub.Query, conn._query_request(statement, tx), tx)

        await conn._in_turn(send, sql)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "Cursor":
        """Runs ``sql`` once per parameter set, all in one ExecuteBatch (one transaction)."""
        self._start()
        statements = self._statements(sql, seq_of_parameters)
        conn = self._connection
        conn._check_writable("executemany()")
        async def send(tx: str) -> Any:
            if not statements:
                return None
            request = database_pb2.ExecuteBatchRequest(database=conn.database, statements=statements, transaction_id=tx)
            return await conn._call(conn._stub.ExecuteBatch, request)

        self._batch_done(await conn._in_turn(send, sql))
        return self

    async def executescript(self, sql_script: str) -> "Cursor":
        """Runs a script as sqlite3 does: see ``sqlited.Cursor.executescript``."""
        self._start()
        statements = self._check_script(sql_script)
        conn = self._connection
        await conn._commit_before_script()
        for sql in statements:
            control, statement = self._statement(sql, None)
            if control is not None:
                await conn._control(control)
                continue
            await conn._in_turn(lambda tx: conn._execute(statement, tx), sql, implicit=False)
        return self

    async def callproc(
        self, procname: str, parameters: Optional[Union[Sequence[Any], Mapping[str, Any]]] = None
    ) -> Optional[Union[Sequence[Any], Mapping[str, Any]]]:
        """Calls the exposed statement ``procname``: see ``sqlited.Cursor.callproc``."""
        self._start()
        conn = self._connection
        listed = None
        if self._positional(parameters):
            request = statements_pb2.ListStatementsRequest(database=conn.database)
            listed = await conn._call(conn._statements.ListStatements, request)
        async def send(tx: str) -> None:
            await self._open(conn._statements.Call, self._call_request(procname, parameters, tx, listed), tx)

        await conn._in_turn(send, None)
        return parameters

    async def _open(self, method: Any, request: Any, tx: str) -> None:
        conn = self._connection
        call = method(request, timeout=conn.timeout, metadata=conn._metadata)
        conn._running.add(call)  # interrupt() cancels it, until its last message
        try:
            first = await conn._guarded(call, call.read())
        except BaseException:
            conn._running.discard(call)
            raise
        if first is grpc.aio.EOF:
            conn._running.discard(call)
            return
        self._first(first, call, tx)
        if self._stream is None:
            conn._running.discard(call)

    async def _buffer_rest(self) -> None:
        """Reads the rest of the stream into memory: another request of the same
        transaction is about to run, and the server runs a transaction's requests in turn."""
        while self._stream is not None:
            await self._receive()

    async def _receive(self) -> None:
        async with self._reading:
            if self._stream is None:
                return  # read to its end meanwhile
            try:
                message = await self._connection._guarded(self._stream, self._stream.read())
            except BaseException:
                self._ended()
                raise
            if message is grpc.aio.EOF:
                self._ended()
                return
            self._received(message)

    # Fetching.

    async def fetchone(self) -> Any:
        self._check_fetch()
        while not self._batch:
            if self._stream is None:
                return None
            await self._receive()
        return self._row(self._batch.popleft())

    async def fetchmany(self, size: Optional[int] = None) -> List[Any]:
        size = self.arraysize if size is None else size
        rows: List[Any] = []
        while len(rows) < size:
            row = await self.fetchone()
            if row is None:
                break
            rows.append(row)
        return rows

    async def fetchall(self) -> List[Any]:
        return [row async for row in self]

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    # The rest of PEP 249.

    async def close(self) -> None:
        self._cancel()
        self._closed = True

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
