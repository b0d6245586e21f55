"""``sqlited.aio.Connection``: ``sqlited.Connection`` on grpc.aio, its calls awaited.

The transaction rules are sqlite3's, as in the blocking driver (``_base.BaseConnection``
decides when one begins); tasks sharing a connection share its transaction, as threads do
with ``sqlited.Connection``, and an ``asyncio.Lock`` keeps its state whole while a Begin,
Commit or Rollback is in flight.

Setting ``autocommit`` or ``isolation_level`` cannot await the commit sqlite3 makes there:
with a transaction open, it asks for ``await conn.commit()`` (or ``rollback()``) first.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Optional, Sequence, Tuple, TypeVar

import grpc

from .. import _backup, _dump, _sql, exceptions
from .._base import _ENDED, LEGACY_TRANSACTION_CONTROL, BaseConnection, _cancelled_here, _sqlite_error
from .._proto import admin_pb2, admin_pb2_grpc, database_pb2, values_pb2
from ..exceptions import ProgrammingError
from ._cursor import Cursor

_T = TypeVar("_T")


class Connection(BaseConnection):
    """An asyncio PEP 249 connection to one sqlited database; see ``sqlited.aio.connect``."""

    # Guards _transaction, and the streams read to their end before its next request.
    _new_lock = staticmethod(asyncio.Lock)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The loop the connection's calls run on: interrupt() cancels them there.
        try:
            self._loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        # The calls interrupt() cancelled, whose CancelledError is an "interrupted" error.
        self._interrupted_calls: "set[Any]" = set()

    def _commit_for_setting(self, setting: str) -> None:
        if self._transaction is not None:
            raise ProgrammingError(
                f"{setting} would commit the open transaction, which an attribute cannot "
                "await: await conn.commit() (or conn.rollback()) first"
            )

    # PEP 249, awaited.

    def cursor(self, factory: Callable[["Connection"], Cursor] = Cursor) -> Cursor:
        self._check_open()
        return factory(self)

    async def commit(self) -> None:
        self._check_open()
        if self._autocommit is not True:
            await self._end(commit=True)

    async def rollback(self) -> None:
        self._check_open()
        if self._autocommit is not True:
            await self._end(commit=False)

    async def close(self) -> None:
        """Closes the connection; a transaction still open is rolled back."""
        if self._closed:
            return
        try:
            await self._end(commit=False)
        except exceptions.Error:
            pass  # the server rolls back what it cannot reach the end of
        finally:
            self._closed = True
            await self._channel.close()

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    def interrupt(self) -> None:
        """Stops what the connection runs now, as ``sqlited.Connection.interrupt()``: each
        call in flight is cancelled and its awaiter gets ``OperationalError("interrupted")``.
        Not a coroutine, as sqlite3's; callable from the loop or from another thread."""

        def cancel() -> None:
            for call in list(self._running):
                self._interrupted_calls.add(call)
                call.cancel()

        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if self._loop is None or here is self._loop:
            cancel()
        else:
            self._loop.call_soon_threadsafe(cancel)

    async def iterdump(self, *, filter: Optional[str] = None) -> AsyncIterator[str]:  # noqa: A002 - sqlite3's name
        """``sqlited.Connection.iterdump()``, as an async iterator: ``async for line in
        conn.iterdump()``."""
        self._check_open()
        async with self._lock:
            tx = await self._drain()
        own = not tx
        if own:
            tx = (await self._call(self._stub.Begin, self._snapshot_request())).transaction_id
        try:
            async for line in _dump.arun(_dump.steps(filter), lambda sql, params: self._dump_rows(tx, sql, params)):
                yield line
        finally:
            if own:
                try:
                    await self._call(self._stub.Rollback, database_pb2.RollbackRequest(transaction_id=tx))
                except exceptions.Error:
                    pass  # the lease ends it anyway

    async def _dump_rows(self, tx: str, sql: str, params: Sequence[Any]) -> AsyncIterator[Tuple[Any, ...]]:
        call = self._stub.Query(_dump.request(self.database, tx, sql, params), timeout=self.timeout, metadata=self._metadata)
        async for message in self._messages(call):
            for row in message.rows:
                yield _dump.values_of(row)

    async def _messages(self, call: Any) -> AsyncIterator[Any]:
        """The messages of a streaming call, which interrupt() may cancel until it ends;
        its failure as this module's error. Stopped if the caller stops reading."""
        self._running.add(call)
        try:
            while True:
                message = await self._guarded(call, call.read())
                if message is grpc.aio.EOF:
                    return
                yield message
        finally:
            self._running.discard(call)
            call.cancel()  # a no-op once it ended

    async def backup(
        self,
        target: Any,
        *,
        pages: int = -1,
        progress: Optional[Callable[[int, int, int], object]] = None,
        name: str = "main",
        sleep: float = 0.250,
    ) -> None:
        """``sqlited.Connection.backup()``, awaited (a sqlite3 target is written on a
        thread of its own, as sqlite3's backup blocks)."""
        self._check_open()
        _backup.check(self, target, name)
        stub = admin_pb2_grpc.AdminStub(self._channel)
        with _backup.Receiver(target) as receiver:
            call = stub.Backup(admin_pb2.BackupRequest(database=self.database), timeout=self.timeout, metadata=self._metadata)
            async for chunk in self._messages(call):
                receiver.chunk(chunk)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: receiver.deliver(pages=pages, progress=progress, sleep=sleep)
            )

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        return await self.cursor().executemany(sql, seq_of_parameters)

    async def executescript(self, sql_script: str) -> Cursor:
        return await self.cursor().executescript(sql_script)

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, kind: Any, value: Any, traceback: Any) -> None:
        """Commits if the block succeeded, rolls back if it raised (and if the commit
        failed), as ``with conn:`` does in sqlite3."""
        if kind is not None:
            await self.rollback()
            return
        try:
            await self.commit()
        except BaseException:
            await self.rollback()
            raise

    # What cursors ask of their connection.

    async def _open(self) -> None:
        """Opens the database as sqlite3 opens a file, in the URL's mode."""
        await self._call(self._stub.Open, self._open_request())

    async def _call(self, method: Any, request: Any) -> Any:
        call = method(request, timeout=self.timeout, metadata=self._metadata)
        self._running.add(call)
        try:
            return await self._guarded(call, call)
        finally:
            self._running.discard(call)

    async def _guarded(self, call: Any, awaitable: Awaitable[_T]) -> _T:
        """``await awaitable`` (a step of ``call``), its failure as this module's error:
        the server's, or "interrupted" for a call interrupt() cancelled."""
        try:
            return await awaitable
        except grpc.RpcError as e:
            raise self._failed(e) from None
        except asyncio.CancelledError:
            if call not in self._interrupted_calls:
                raise  # the task itself is cancelled
            self._interrupted_calls.discard(call)
            raise self._interrupted(_cancelled_here()) from None

    def _failed(self, rpc_error: grpc.RpcError) -> exceptions.Error:
        error = self._interrupted(exceptions.from_rpc_error(rpc_error))
        if error.reason in _ENDED:
            self._forget_transaction()
        return error

    async def _execute(self, statement: Any, tx: str) -> None:
        """Runs a statement whose rows are not wanted: Execute, or in mode=ro outside a
        transaction a read-only Query read to its end."""
        if self._read_only and not tx:
            call = self._stub.Query(self._query_request(statement, tx), timeout=self.timeout, metadata=self._metadata)
            async for message in self._messages(call):
                if message.HasField("summary"):
                    self._changed(message.summary.rows_affected)
            return
        request = database_pb2.ExecuteRequest(database=self.database, statement=statement, transaction_id=tx)
        self._changed((await self._call(self._stub.Execute, request)).rows_affected)

    async def _in_turn(self, send: Callable[[str], Awaitable[_T]], sql: Optional[str], implicit: bool = True) -> _T:
        """``await send(tx)``: sends a request in the transaction ``sql`` runs in ("" for
        none; begun first if ``implicit`` and sqlite3 would begin one), other cursors'
        streams in it read to their end first. In a transaction the lock is held until
        ``send`` returns (a query's first message included): the server runs a
        transaction's requests one at a time, and refuses more than a few waiting, so tasks
        sharing it take turns here. Outside one, statements go concurrently."""
        async with self._lock:
            self._check_open()
            if implicit and self._transaction is None and self._begins_implicitly(sql):
                await self._begin(self._isolation_level or "")
            tx = await self._drain()
            if tx:
                return await send(tx)
        return await send(tx)

    async def _drain(self) -> str:
        if self._transaction is not None:
            for cursor in list(self._streams):
                await cursor._buffer_rest()
        return self._transaction or ""

    async def _begin(self, mode: str) -> None:
        self._transaction = (await self._call(self._stub.Begin, self._begin_request(mode))).transaction_id
        self._savepoints, self._savepoint_began = [], False

    async def _end(self, commit: bool) -> None:
        async with self._lock:
            await self._end_locked(commit)

    async def _end_locked(self, commit: bool) -> None:
        if self._transaction is None:
            return
        await self._drain()
        tx = self._transaction
        self._forget_transaction()
        if commit:
            await self._call(self._stub.Commit, database_pb2.CommitRequest(transaction_id=tx))
        else:
            await self._call(self._stub.Rollback, database_pb2.RollbackRequest(transaction_id=tx))

    async def _control(self, control: _sql.Control) -> None:
        """SQL transaction control, run as the server's transaction RPCs."""
        async with self._lock:
            if control.action == "begin":
                if self._transaction is not None:
                    raise _sqlite_error("cannot start a transaction within a transaction")
                await self._begin(control.mode)
            elif control.action in ("commit", "rollback"):
                if self._transaction is None:
                    raise _sqlite_error(f"cannot {control.action} - no transaction is active")
                await self._end_locked(commit=control.action == "commit")
            else:
                await self._savepoint(control)

    async def _savepoint(self, control: _sql.Control) -> None:
        """SAVEPOINT, RELEASE or ROLLBACK TO, as ``_base.BaseConnection._savepoint_step``
        says to run it (the lock is held)."""
        step = self._savepoint_step(control)
        if step.commit:
            await self._end_locked(commit=True)  # the RELEASE of SQLite's transaction savepoint
            return
        if step.begin is not None:
            await self._begin(step.begin)
        try:
            tx = await self._drain()
            await self._execute(values_pb2.Statement(sql=control.sql), tx)
        except BaseException:
            if step.began:
                try:
                    await self._end_locked(commit=False)
                except exceptions.Error:
                    pass  # the SAVEPOINT's own error says more; the lease ends it anyway
            raise
        self._savepoint_done(control, step)

    async def _commit_before_script(self) -> None:
        if self._autocommit == LEGACY_TRANSACTION_CONTROL:
            await self._end(commit=True)
