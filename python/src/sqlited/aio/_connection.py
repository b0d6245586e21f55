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
from typing import Any, Awaitable, Callable, Iterable, Optional, TypeVar

import grpc

from .. import _sql, exceptions
from .._base import _ENDED, _MODES, LEGACY_TRANSACTION_CONTROL, BaseConnection, _sqlite_error
from .._proto import database_pb2, values_pb2
from ..exceptions import ProgrammingError
from ._cursor import Cursor

_T = TypeVar("_T")


class Connection(BaseConnection):
    """An asyncio PEP 249 connection to one sqlited database; see ``sqlited.aio.connect``."""

    # Guards _transaction, and the streams read to their end before its next request.
    _new_lock = staticmethod(asyncio.Lock)

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

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise self._failed(e) from None

    def _failed(self, rpc_error: grpc.RpcError) -> exceptions.Error:
        error = exceptions.from_rpc_error(rpc_error)
        if error.reason in _ENDED:
            self._forget_transaction()
        return error

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
        request = database_pb2.BeginRequest(database=self.database, mode=_MODES[mode], lease_ms=self.lease_ms)
        self._transaction = (await self._call(self._stub.Begin, request)).transaction_id
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
            statement = values_pb2.Statement(sql=control.sql)
            request = database_pb2.ExecuteRequest(database=self.database, statement=statement, transaction_id=tx)
            await self._call(self._stub.Execute, request)
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
