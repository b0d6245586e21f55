"""``sqlite+sqlited://``: SQLAlchemy's pysqlite dialect, with ``sqlited`` as its DBAPI.

The SQL, the types, the reflection (``PRAGMA table_info`` and friends, which the server's
sandbox allows) and sqlite3's transaction model are SQLite's, so almost everything is
inherited. What differs is what a network service cannot give or gives differently:

- the URL names a server and a database: ``sqlite+sqlited://[:TOKEN@]host[:port]/db``,
  with the query parameters of ``create_connect_args``;
- a database that does not exist yet is created by the first connection, as sqlite3
  creates a file (the driver's open mode ``rwc``; creating needs the ``admin`` role);
  ``mode=rw`` in the URL makes a missing database an error instead, ``mode=ro`` opens it
  read only, as in sqlite3's URIs;
- the server's SQLite version is asked of the server (``SELECT sqlite_version()``) on the
  first connection, and the version-dependent features (RETURNING, multi-row VALUES, …) are
  set from it;
- no Python functions inside SQLite: pysqlite registers ``regexp`` and ``floor`` with
  ``create_function`` on each connection, which a server cannot run; the server's SQLite
  has the math functions, so ``func.floor()`` works, and REGEXP does not; the ``//``
  operator, which SQLAlchemy compiles to FLOOR() for non-integers, is compiled to plain SQL
  (it needs no math functions);
- isolation levels: ``SERIALIZABLE`` (the server's transactions) and ``AUTOCOMMIT``; SQLite's
  ``READ UNCOMMITTED`` needs a shared cache on one process and is refused by the sandbox;
- schemas: only ``main`` (the sandbox refuses ATTACH);
- reflection asks ``SELECT * FROM pragma_index_info(?, ?)`` and the like rather than
  ``PRAGMA main.index_info(…)``: the server answers from several SQLite connections, and the
  PRAGMA statement on one whose schema is older than the last DDL answers from that old
  schema (an index made since then has no columns, a table no foreign keys), where the
  table-valued function reads the current one;
- savepoints: ``begin_nested()`` works. A SAVEPOINT with no transaction open begins a server
  transaction first (``BEGIN``), so that releasing it does not commit the enclosing
  SQLAlchemy transaction, as sqlite3's own rule (the RELEASE of an outermost savepoint
  commits) would;
- pooling: a ``QueuePool`` (SQLAlchemy's default for file databases); each pooled
  connection is a ``sqlited.Connection``, with its own channel and its own transaction.
"""

from __future__ import annotations

import re
import weakref
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import exc, pool, util
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import reflection
from sqlalchemy.sql import sqltypes

import sqlited
from sqlited.url import DEFAULT_PORT, MODES

# The tables Litestream keeps in a database it replicates.
LITESTREAM_PREFIX = "_litestream_"

# What each URL query parameter becomes: its connect() argument and how it is read.
_QUERY_PARAMETERS = {
    "mode": str,  # sqlite3's open mode, rwc (the default), rw or ro: passed in the driver's URL
    "token": str,
    "tls": bool,
    "root_certificates": str,  # a path to a PEM file, read when the engine is made
    "timeout": float,
    "lease_ms": int,
    "isolation_level": str,
    "detect_types": int,
}

# The SQLite version the dialect assumes until its first connection asks the server for
# the real one (the first version with RETURNING, which SQLAlchemy's choices hinge on).
_ASSUMED_VERSION = (3, 35, 0)


class _DBAPI:
    """The ``sqlited`` module as SQLAlchemy's SQLite dialect expects a DBAPI module: with
    ``sqlite_version_info``, which a network driver cannot know before it connects."""

    sqlite_version_info = _ASSUMED_VERSION
    sqlite_version = ".".join(map(str, _ASSUMED_VERSION))

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlited, name)

    def __repr__(self) -> str:
        return "<the sqlited module, as sqlite+sqlited's DBAPI>"


class SQLitedCompiler(SQLiteCompiler):
    def visit_floordiv_binary(self, binary: Any, operator: Any, **kw: Any) -> str:
        """``a // b`` without FLOOR(), which SQLite has only when built with its math
        functions: the quotient truncated toward zero (CAST … AS INTEGER), less one when
        truncation went up (a negative quotient with a fraction)."""
        integers = all(side.type._type_affinity is sqltypes.Integer for side in (binary.left, binary.right))
        if integers:
            return super().visit_floordiv_binary(binary, operator, **kw)
        # Each occurrence is compiled on its own, so that bound parameters are sent for each.
        q = [f"({self.process(binary.left, **kw)} / {self.process(binary.right, **kw)})" for _ in range(3)]
        return f"(CAST({q[0]} AS INTEGER) - ({q[1]} < CAST({q[2]} AS INTEGER)))"


class SQLitedDialect(SQLiteDialect_pysqlite):
    """SQLAlchemy's SQLite dialect on a sqlited server; see the module's docstring."""

    driver = "sqlited"
    supports_statement_cache = True
    statement_compiler = SQLitedCompiler

    _isolation_lookup = util.immutabledict({"SERIALIZABLE": 0, "AUTOCOMMIT": None})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Each connection's BEGIN mode (its isolation_level) as it was made, to come back to
        # when SERIALIZABLE follows AUTOCOMMIT.
        self._begin_modes: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()

    @classmethod
    def import_dbapi(cls) -> Any:
        return _DBAPI()

    @classmethod
    def get_pool_class(cls, url: Any) -> Any:
        return pool.QueuePool

    # Connecting.

    def create_connect_args(self, url: Any) -> Tuple[List[Any], Dict[str, Any]]:
        """``sqlite+sqlited://[:TOKEN@]host[:port]/database[?param=value…]``.

        Query parameters: ``mode=rw`` (a database that does not exist is an error, rather
        than created by the first connection) or ``mode=ro`` (read only), as in sqlite3's URIs;
        ``token`` (better as the URL's password, which SQLAlchemy hides
        when it prints the URL), ``tls=true`` (https), ``root_certificates=/path/ca.pem``,
        ``timeout`` (seconds per call), ``lease_ms`` (the transactions' idle lease),
        ``isolation_level`` (sqlite3's: the BEGIN mode of implicit transactions) and
        ``detect_types``. ``connect_args`` passes any ``sqlited.connect`` argument.
        """
        if not url.host:
            raise exc.ArgumentError(
                f"Invalid sqlite+sqlited URL {url!r}: it needs a server, "
                "sqlite+sqlited://host:port/database"
            )
        database = url.database or ""
        if not database or "/" in database:
            raise exc.ArgumentError(
                f"Invalid sqlite+sqlited URL {url!r}: it needs one database name after the "
                "server, sqlite+sqlited://host:port/database"
            )
        if url.username:
            raise exc.ArgumentError(
                "sqlited has no user names: give the token as the URL's password "
                "(sqlite+sqlited://:TOKEN@host:port/database) or as token=…"
            )
        unknown = sorted(set(url.query) - set(_QUERY_PARAMETERS))
        if unknown:
            raise exc.ArgumentError(
                f"Unknown sqlite+sqlited URL parameter(s) {', '.join(unknown)}: the known ones "
                f"are {', '.join(sorted(_QUERY_PARAMETERS))}; pass others in connect_args"
            )
        opts: Dict[str, Any] = {}
        for key, kind in _QUERY_PARAMETERS.items():
            if kind is str and key in url.query:
                opts[key] = str(url.query[key])  # coerce_kw_type copies only what it converts
            else:
                util.coerce_kw_type(url.query, key, kind, dest=opts)
        if url.password:
            if "token" in opts:
                raise exc.ArgumentError("the token is given twice: as the URL's password and as token=")
            opts["token"] = str(url.password)
        mode = opts.pop("mode", None)
        if mode is not None and mode not in MODES:
            raise exc.ArgumentError(f"mode={mode}: sqlite3's open modes are rwc (the default), rw and ro")
        tls = opts.pop("tls", False)
        if "root_certificates" in opts:
            path = opts["root_certificates"]
            try:
                with open(path, "rb") as pem:
                    opts["root_certificates"] = pem.read()
            except OSError as e:
                raise exc.ArgumentError(f"root_certificates={path}: cannot read it ({e})") from None
            tls = True
        host = f"[{url.host}]" if ":" in url.host else url.host
        target = f"{'https' if tls else 'http'}://{host}:{url.port or DEFAULT_PORT}/{database}"
        if mode is not None:
            target += f"?mode={mode}"
        return [target], opts

    def on_connect(self) -> Any:
        """Records each connection's BEGIN mode; registers no SQL functions (pysqlite's
        ``regexp`` and ``floor`` are Python callbacks, which a server cannot run)."""

        def record(dbapi_connection: Any) -> None:
            if dbapi_connection.isolation_level is not None:
                self._begin_modes[dbapi_connection] = dbapi_connection.isolation_level

        return record

    def _get_server_version_info(self, connection: Any) -> Tuple[int, ...]:
        """The server's SQLite version."""
        version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
        return tuple(int(part) for part in re.findall(r"\d+", version)[:3])

    def initialize(self, connection: Any) -> None:
        super().initialize(connection)
        self._apply_version(self.server_version_info)

    def _apply_version(self, version: Tuple[int, ...]) -> None:
        """The version-dependent choices SQLiteDialect makes from ``sqlite_version_info``,
        made again from the server's version."""
        self._broken_dotted_colnames = version < (3, 10, 0)
        self.supports_default_values = version >= (3, 3, 8)
        self.supports_cast = version >= (3, 2, 3)
        self.supports_multivalues_insert = version >= (3, 7, 11)
        self._broken_fk_pragma_quotes = version < (3, 6, 14)
        returning = version >= (3, 35)
        self.update_returning = self.delete_returning = self.insert_returning = returning
        self.insertmanyvalues_max_parameters = 999 if version < (3, 32, 0) else 32766

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        """A closed connection, or a server that cannot be reached (UNAVAILABLE with no
        SQLite error: a busy database is not a lost connection)."""
        if isinstance(e, sqlited.ProgrammingError) and "Cannot operate on a closed database." in str(e):
            return True
        code = getattr(e, "code", None)
        return getattr(code, "name", None) == "UNAVAILABLE" and getattr(e, "sqlite_errorcode", None) is None

    # Isolation: the server's transactions, or none.

    def get_isolation_level_values(self, dbapi_connection: Any) -> List[str]:
        return list(self._isolation_lookup)

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        # The server's transactions are SERIALIZABLE (one writer, snapshot reads); SQLite's
        # other level, READ UNCOMMITTED, needs a shared cache in one process.
        return "SERIALIZABLE"

    def set_isolation_level(self, dbapi_connection: Any, level: Any) -> None:
        if level == "AUTOCOMMIT":
            dbapi_connection.isolation_level = None
        else:
            dbapi_connection.isolation_level = self._begin_modes.get(dbapi_connection, "")

    # Schemas: main only (no ATTACH).

    def get_schema_names(self, connection: Any, **kw: Any) -> List[str]:
        return ["main"]

    # Reflection.

    @reflection.cache
    def get_table_names(self, connection: Any, schema: Optional[str] = None, sqlite_include_internal: bool = False, **kw: Any) -> List[str]:
        """SQLite's, without Litestream's tables (``_litestream_seq``, ``_litestream_lock``),
        which a replicating server refuses to every client: reflecting them would fail."""
        names = super().get_table_names(
            connection, schema=schema, sqlite_include_internal=sqlite_include_internal, **kw
        )
        return [name for name in names if not name.startswith(LITESTREAM_PREFIX)]

    def _get_table_pragma(self, connection: Any, pragma: str, table_name: str, schema: Optional[str] = None) -> Any:
        """The rows of ``PRAGMA schema.<pragma>(table_name)``, read through the PRAGMA's
        table-valued function (see the module's docstring); main then temp when no schema
        is given, as SQLite's dialect does."""
        if not re.fullmatch(r"[a-z_]+", pragma):
            raise exc.ArgumentError(f"not a PRAGMA name: {pragma!r}")
        for name in [schema] if schema is not None else ["main", "temp"]:
            rows = connection.exec_driver_sql(f"SELECT * FROM pragma_{pragma}(?, ?)", (table_name, name)).fetchall()
            if rows:
                return rows
        return []

    # Savepoints inside the SQLAlchemy transaction.

    def do_savepoint(self, connection: Any, name: str) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        mode = dbapi_connection.isolation_level
        if mode is not None and not dbapi_connection.in_transaction:
            # Nothing has begun the transaction on the server yet (pysqlite begins at the
            # first INSERT, UPDATE or DELETE): begin it now, so that this SAVEPOINT nests in
            # it and its RELEASE leaves the commit to the SQLAlchemy transaction.
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"BEGIN {mode}".strip())
            finally:
                cursor.close()
        super().do_savepoint(connection, name)


dialect = SQLitedDialect
