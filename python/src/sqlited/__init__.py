"""sqlited: a PEP 249 (DB-API 2.0) driver for sqlited servers, which behaves like sqlite3.

    import sqlited
    conn = sqlited.connect("127.0.0.1:50051/app")
    with conn:
        conn.execute("INSERT INTO users (name) VALUES (?)", ("ada",))
    for row in conn.execute("SELECT id, name FROM users"):
        print(row)

Layout:
- ``connection``: ``Connection`` and its transaction, as sqlite3 keeps it;
- ``cursor``: ``Cursor``, statements run and rows streamed lazily;
- ``aio``: the same driver on asyncio (grpc.aio): ``await sqlited.aio.connect(url)``;
- ``_base``: what ``connection``/``cursor`` and ``aio`` share: all but the calls;
- ``values``: Python values to the wire and back (adapters, converters, binding);
- ``exceptions``: the PEP 249 hierarchy, and gRPC statuses mapped onto it;
- ``types``: PEP 249's constructors and type objects;
- ``row``: ``Row``, the row factory like sqlite3.Row;
- ``url``: ``[http[s]://]host[:port]/database[?mode=rwc|rw|ro]`` or ``unix:/path?database=NAME``, and the channel to it;
- ``_dump``: ``iterdump()``, written once for both drivers; ``_backup``: ``backup()``'s file and its target;
- ``persistent_dict``: ``PersistentDict``, a MutableMapping over a map of the KeyValue service;
- ``codecs``, ``postcard``: its keys and values as bytes (pickle, json, raw, postcard);
- ``_sql``: the little lexing a driver needs (statement kinds, named parameters, scripts);
- ``_proto``: the generated gRPC stubs;
- ``sqlalchemy``: the SQLAlchemy dialect, ``sqlite+sqlited://`` (needs the ``sqlalchemy`` extra).
"""

from __future__ import annotations

from typing import Optional, Union

import grpc

from .connection import LEGACY_TRANSACTION_CONTROL, Connection
from .cursor import Cursor
from .exceptions import (
    DatabaseError,
    DataError,
    Error,
    IntegerOverflowError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)
from .row import Row
from .codecs import Codec, CodecError, DecodeError, EncodeError, Postcard
from .persistent_dict import CodecMismatchError, PersistentDict, ValueTooLargeError
from .types import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
)
from .url import open_channel as _open_channel
from .url import parse as _parse_url
from .values import PARSE_COLNAMES, PARSE_DECLTYPES, PrepareProtocol, adapt, adapters, converters, register_adapter, register_converter

__version__ = "0.1.0"

apilevel = "2.0"
# Threads may share the module and connections, not cursors: a connection's calls are
# independent gRPC calls on a thread-safe channel, its transaction state is behind a lock; a
# cursor is a position in one result stream, as in sqlite3 and psycopg.
threadsafety = 2
# As sqlite3: ``?`` (and ``?NNN``), with ``:name``, ``@name`` and ``$name`` taken from a mapping.
paramstyle = "qmark"


def connect(
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
    """Connects to the database named by ``url`` and opens it as ``sqlite3.connect()``
    opens a file: ``http://host:port/db``, ``host:port/db`` (the port defaults to sqlited's,
    50051), ``https://host:port/db`` for TLS, or ``unix:/path/to.sock?database=db`` for a
    server's Unix socket (``--listen unix:PATH``) on this host.

    ``?mode=`` (``&mode=`` after ``database=``) is sqlite3's URI parameter: ``rwc`` (the
    default) creates the database if it does not exist, ``rw`` needs it to exist, ``ro``
    needs it to exist and refuses writes ("attempt to write a readonly database",
    OperationalError). Creating needs the admin role: a token that may not create a missing
    database gets a ProgrammingError here saying what to do.

    - ``timeout``: seconds each call may take (a query's whole stream included); None: no limit.
    - ``token``: sent as ``authorization: Bearer`` to a server run with ``--credentials``.
    - ``root_certificates``: PEM bytes of the CA that signed a TLS server's certificate
      (default: the system's roots).
    - ``lease_ms``: the idle lease asked for transactions (0: the server's default).
    - ``autocommit``, ``isolation_level``, ``detect_types``: as sqlite3's.
    """
    target = _parse_url(url)
    channel = _open_channel(grpc, target, root_certificates)
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
        connection._open()
    except BaseException:
        connection.close()
        raise
    return connection


__all__ = [
    "BINARY", "DATETIME", "LEGACY_TRANSACTION_CONTROL", "NUMBER", "PARSE_COLNAMES",
    "PARSE_DECLTYPES", "ROWID", "STRING", "Binary", "Connection", "Cursor", "DataError",
    "DatabaseError", "Date", "DateFromTicks", "Error", "IntegerOverflowError",
    "IntegrityError", "InterfaceError", "InternalError", "NotSupportedError",
    "OperationalError", "PrepareProtocol", "ProgrammingError", "Row", "Time",
    "TimeFromTicks", "Timestamp", "TimestampFromTicks", "Warning", "adapt", "adapters",
    "apilevel", "connect", "converters", "paramstyle", "register_adapter",
    "register_converter", "threadsafety",
    # PersistentDict (persistent_dict.py, codecs.py, postcard.py)
    "Codec", "CodecError", "CodecMismatchError", "DecodeError", "EncodeError",
    "PersistentDict", "Postcard", "ValueTooLargeError",
]
