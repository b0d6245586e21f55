"""sqlited.aio: the PEP 249 driver on asyncio (grpc.aio), with sqlited's surface awaited.

    import sqlited.aio

    conn = await sqlited.aio.connect("127.0.0.1:50051/app")
    async with conn:                                   # commits, or rolls back if it raises
        await conn.execute("INSERT INTO users (name) VALUES (?)", ("ada",))
    cur = await conn.execute("SELECT id, name FROM users")
    async for row in cur:                              # rows stream lazily
        print(row)
    await conn.close()

The same as ``sqlited`` where PEP 249 allows it: what does I/O is a coroutine (``execute*``,
``fetch*``, ``callproc``, ``commit``, ``rollback``, ``close``), ``async with conn`` is
``with conn``, ``async for`` iterates a cursor; the rest (``cursor()``, ``description``,
``rowcount``, ``lastrowid``, ``row_factory``, the exceptions, types and constructors) is
``sqlited``'s own. One difference: setting ``autocommit`` or ``isolation_level`` where sqlite3
would commit raises while a transaction is open (see ``Connection``).
"""

from __future__ import annotations

from typing import Optional, Union

import grpc

from .. import (  # noqa: F401 - the module's PEP 249 surface, as sqlited's
    BINARY,
    DATETIME,
    LEGACY_TRANSACTION_CONTROL,
    NUMBER,
    PARSE_COLNAMES,
    PARSE_DECLTYPES,
    ROWID,
    STRING,
    Binary,
    DatabaseError,
    DataError,
    Date,
    DateFromTicks,
    Error,
    IntegerOverflowError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Row,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
    Warning,
    apilevel,
    paramstyle,
    threadsafety,
)
from ..url import open_channel, parse
from ._connection import Connection
from ._cursor import Cursor


async def connect(
    url: str,
    *,
    timeout: Optional[float] = None,
    token: Optional[str] = None,
    root_certificates: Optional[bytes] = None,
    lease_ms: int = 0,
    autocommit: Union[bool, int] = LEGACY_TRANSACTION_CONTROL,
    isolation_level: Optional[str] = "",
    detect_types: int = 0,
) -> Connection:
    """Connects to the database named by ``url`` and opens it, as ``sqlited.connect``
    does (the same arguments, and the URL's ``mode=``), on a grpc.aio channel of the running
    event loop; use the connection from that loop only."""
    target = parse(url)
    channel = open_channel(grpc.aio, target, root_certificates)
    connection = Connection(
        channel,
        target.database,
        timeout=timeout,
        token=token,
        lease_ms=lease_ms,
        autocommit=autocommit,
        isolation_level=isolation_level,
        detect_types=detect_types,
        mode=target.mode,
    )
    try:
        await connection._open()
    except BaseException:
        await connection.close()
        raise
    return connection


__all__ = [
    "BINARY", "DATETIME", "LEGACY_TRANSACTION_CONTROL", "NUMBER", "PARSE_COLNAMES",
    "PARSE_DECLTYPES", "ROWID", "STRING", "Binary", "Connection", "Cursor", "DataError",
    "DatabaseError", "Date", "DateFromTicks", "Error", "IntegerOverflowError",
    "IntegrityError", "InterfaceError", "InternalError", "NotSupportedError",
    "OperationalError", "ProgrammingError", "Row", "Time", "TimeFromTicks", "Timestamp",
    "TimestampFromTicks", "Warning", "apilevel", "connect", "paramstyle", "threadsafety",
]
