"""A thin DB-API 2.0 (PEP 249) shaped wrapper over sqlited's generated gRPC stubs.

    import sqlited_dbapi
    conn = sqlited_dbapi.connect("127.0.0.1:50051/app")
    cur = conn.cursor()
    cur.execute("SELECT id, name FROM users WHERE id > ?", (0,))
    print(cur.fetchall())

Needs `pip install grpcio grpcio-tools grpcio-status`; run ./generate.sh first: the stubs are
imported from ./gen.

Autocommit is the default (every statement is its own durable transaction), since a
sqlited connection is usually shared; set ``conn.autocommit = False`` for the classic
DB-API behaviour, where the first statement opens a transaction that lasts until
``commit()`` or ``rollback()`` (it holds the database's writer meanwhile).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402  (grpcio-status brings it)
from grpc_status import rpc_status  # noqa: E402
from sqlited.v1 import database_pb2, database_pb2_grpc, statements_pb2, statements_pb2_grpc, values_pb2  # noqa: E402

apilevel = "2.0"
threadsafety = 2  # threads may share the module and connections
paramstyle = "qmark"  # also numeric (?NNN) and named (:name, @name, $name)


class Error(Exception):
    """Base of every error; `code` is the gRPC status code, `sqlite_code` SQLite's."""

    def __init__(self, message, code=None, sqlite_code=None):
        super().__init__(message)
        self.code = code
        self.sqlite_code = sqlite_code


class Warning(Exception):  # noqa: A001 - the name PEP 249 asks for
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class DataError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


def _error(rpc_error):
    """The PEP 249 exception for a gRPC error, as the Rust client maps it."""
    code = rpc_error.code()
    message = rpc_error.details() or str(code)
    reason = ""
    sqlite_code = None
    # The machine-readable part: google.rpc ErrorInfo in the rich error model.
    status = rpc_status.from_call(rpc_error) if hasattr(rpc_error, "trailing_metadata") else None
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
            if "sqlite_code" in info.metadata:
                sqlite_code = int(info.metadata["sqlite_code"])
    S = grpc.StatusCode
    if code == S.INVALID_ARGUMENT:
        cls = DataError if reason in ("SQLITE_MISMATCH", "SQLITE_TOOBIG", "SQLITE_CONSTRAINT_DATATYPE") else ProgrammingError
    elif code == S.RESOURCE_EXHAUSTED and reason == "SQLITE_TOOBIG":
        cls = DataError
    elif code == S.ALREADY_EXISTS or (code == S.FAILED_PRECONDITION and reason.startswith("SQLITE_CONSTRAINT")):
        cls = IntegrityError
    elif code == S.OUT_OF_RANGE:
        cls = DataError
    elif code == S.PERMISSION_DENIED:
        cls = ProgrammingError
    elif code == S.UNIMPLEMENTED:
        cls = NotSupportedError
    elif code in (S.INTERNAL, S.UNKNOWN, S.DATA_LOSS):
        cls = InternalError
    else:
        cls = OperationalError
    return cls(f"{message} ({reason})" if reason else message, code=code, sqlite_code=sqlite_code)


def _value(python_value):
    if python_value is None:
        return values_pb2.Value(null=struct_pb2.NULL_VALUE)
    if isinstance(python_value, bool):
        return values_pb2.Value(integer=int(python_value))
    if isinstance(python_value, int):
        return values_pb2.Value(integer=python_value)
    if isinstance(python_value, float):
        return values_pb2.Value(real=python_value)
    if isinstance(python_value, str):
        return values_pb2.Value(text=python_value)
    if isinstance(python_value, (bytes, bytearray, memoryview)):
        return values_pb2.Value(blob=bytes(python_value))
    raise InterfaceError(f"cannot bind a {type(python_value).__name__}; use None, int, float, str or bytes")


def _python(value):
    kind = value.WhichOneof("kind")
    if kind in (None, "null"):
        return None
    return getattr(value, kind)


def _statement(sql, parameters):
    statement = values_pb2.Statement(sql=sql)
    if parameters is None:
        return statement
    if isinstance(parameters, dict):
        for name, v in parameters.items():
            statement.named_params[name.lstrip(":@$")].CopyFrom(_value(v))
    else:
        statement.params.extend(_value(v) for v in parameters)
    return statement


def connect(target, timeout=None, token=None, root_certificates=None):
    """Connects to ``host:port/database`` (``https://host:port/database`` for TLS).

    ``timeout`` (seconds) bounds every call; ``token`` is sent as ``authorization: Bearer``
    to servers run with ``--credentials``; ``root_certificates`` (PEM bytes) is the CA of a
    TLS server's certificate (default: the system's roots).
    """
    tls = target.startswith("https://")
    target = target.split("://", 1)[-1]
    address, _, database = target.partition("/")
    if not database:
        raise InterfaceError(f"the target must name a database: host:port/<database>, not {target!r}")
    if tls:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates))
    else:
        channel = grpc.insecure_channel(address)
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    return Connection(channel, database, timeout, metadata)


class Connection:
    def __init__(self, channel, database, timeout, metadata=None):
        self._channel = channel
        self._stub = database_pb2_grpc.DatabaseStub(channel)
        self._statements = statements_pb2_grpc.StatementsStub(channel)
        self._metadata = metadata
        self.database = database
        self.timeout = timeout
        self.autocommit = True
        self._transaction = ""
        self._closed = False

    def _call(self, method, request):
        if self._closed:
            raise InterfaceError("the connection is closed")
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise _error(e) from None

    def _transaction_id(self):
        if not self.autocommit and not self._transaction:
            response = self._call(self._stub.Begin, database_pb2.BeginRequest(database=self.database))
            self._transaction = response.transaction_id
        return self._transaction

    def cursor(self):
        return Cursor(self)

    def execute(self, sql, parameters=None):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):
        return self.cursor().executemany(sql, seq_of_parameters)

    def commit(self):
        if self._transaction:
            tx, self._transaction = self._transaction, ""
            self._call(self._stub.Commit, database_pb2.CommitRequest(transaction_id=tx))

    def rollback(self):
        if self._transaction:
            tx, self._transaction = self._transaction, ""
            self._call(self._stub.Rollback, database_pb2.RollbackRequest(transaction_id=tx))

    def close(self):
        if not self._closed:
            self.rollback()
            self._closed = True
            self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commit()
        else:
            self.rollback()


class Cursor:
    arraysize = 1

    def __init__(self, connection):
        self.connection = connection
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self._rows = iter(())

    def execute(self, sql, parameters=None):
        conn = self.connection
        request = database_pb2.QueryRequest(
            database=conn.database, statement=_statement(sql, parameters), transaction_id=conn._transaction_id()
        )
        return self._take(conn._stub.Query, request)

    def callproc(self, procname, parameters=None):
        """Calls the exposed statement ``procname`` with ``parameters`` (a dict of named
        arguments); its rows are fetched as after ``execute``. Arguments that break their
        declarations raise ProgrammingError listing every one."""
        conn = self.connection
        request = statements_pb2.CallRequest(
            database=conn.database, name=procname, transaction_id=conn._transaction_id()
        )
        for name, v in (parameters or {}).items():
            request.args[name].CopyFrom(_value(v))
        self._take(conn._statements.Call, request)
        return parameters

    def _take(self, method, request):
        conn = self.connection
        if conn._closed:
            raise InterfaceError("the connection is closed")
        try:
            messages = list(method(request, timeout=conn.timeout, metadata=conn._metadata))
        except grpc.RpcError as e:
            raise _error(e) from None
        columns = messages[0].columns if messages else []
        self.description = [(c.name, c.decl_type or None, None, None, None, None, None) for c in columns] or None
        rows = [tuple(_python(v) for v in row.values) for m in messages for row in m.rows]
        summary = messages[-1].summary if messages and messages[-1].HasField("summary") else None
        self.rowcount = summary.rows_affected if summary and summary.rows_affected else -1
        if summary and summary.last_insert_rowid and summary.rows_affected:
            self.lastrowid = summary.last_insert_rowid
        self._rows = iter(rows)
        return self

    def executemany(self, sql, seq_of_parameters):
        conn = self.connection
        request = database_pb2.ExecuteBatchRequest(
            database=conn.database,
            statements=[_statement(sql, p) for p in seq_of_parameters],
            transaction_id=conn._transaction_id(),
        )
        response = conn._call(conn._stub.ExecuteBatch, request)
        self.description = None
        self.rowcount = sum(r.rows_affected for r in response.results)
        if response.results and response.results[-1].last_insert_rowid:
            self.lastrowid = response.results[-1].last_insert_rowid
        self._rows = iter(())
        return self

    def fetchone(self):
        return next(self._rows, None)

    def fetchmany(self, size=None):
        size = self.arraysize if size is None else size
        return [row for _, row in zip(range(size), self._rows)]

    def fetchall(self):
        return list(self._rows)

    def __iter__(self):
        return self._rows

    def close(self):
        self._rows = iter(())

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass
