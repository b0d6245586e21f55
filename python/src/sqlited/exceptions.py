"""The PEP 249 exceptions, and the one place a gRPC status becomes one of them.

The classes are sqlite3's, and so is the choice among them when SQLite itself failed: it
goes by the primary result code (``sqlite_errorcode & 0xff``), as CPython's ``_sqlite``
does. Failures of the service (a database that does not exist, a bad token, a server that
cannot be reached) go by their gRPC status code.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import grpc
from google.rpc import error_details_pb2, status_pb2


class Warning(Exception):  # noqa: A001 - the name PEP 249 gives it
    """Important warnings; nothing raises it today."""


class Error(Exception):
    """The base of every error of this module.

    Besides the message, an error says what the server said, machine-readably:

    - ``sqlite_errorcode``: SQLite's extended result code (``2067`` for
      SQLITE_CONSTRAINT_UNIQUE), ``None`` when SQLite did not fail;
    - ``sqlite_errorname``: the same code's name, or the server's reason otherwise
      (``"DATABASE_NOT_FOUND"``); ``reason`` is an alias;
    - ``request_id``: the server's id of the request, to find it in the server's log;
    - ``code``: the gRPC status code; ``retryable``: whether trying again later can help;
    - ``violations``: ``(field, message)`` pairs naming the parameters at fault.
    """

    sqlite_errorcode: Optional[int] = None
    sqlite_errorname: Optional[str] = None
    request_id: Optional[str] = None
    code: Optional[grpc.StatusCode] = None
    retryable: bool = False
    violations: Tuple[Tuple[str, str], ...] = ()

    @property
    def reason(self) -> Optional[str]:
        return self.sqlite_errorname


class InterfaceError(Error):
    """Misuse of this module rather than a failure of the database."""


class DatabaseError(Error):
    """An error of the database."""


class DataError(DatabaseError):
    """A value that cannot be stored: too big, out of range, of the wrong type."""


class OperationalError(DatabaseError):
    """Not the program's fault: the database is unreachable, missing, busy, …"""


class IntegrityError(DatabaseError):
    """A constraint failed."""


class InternalError(DatabaseError):
    """The server is in trouble."""


class ProgrammingError(DatabaseError):
    """The program's fault: bad SQL, the wrong parameters, a closed cursor, …"""


class NotSupportedError(DatabaseError):
    """Something sqlited does not offer."""


class IntegerOverflowError(DataError, OverflowError):
    """An int outside SQLite's 64 bits; an OverflowError too, as sqlite3 raises."""


# SQLite's primary result codes, and sqlite3's exception for each (Modules/_sqlite/util.c).
_BY_PRIMARY_CODE: Dict[int, type] = {
    1: OperationalError,  # SQLITE_ERROR: syntax errors, no such table, …
    2: InternalError,  # SQLITE_INTERNAL
    3: OperationalError,  # SQLITE_PERM
    4: OperationalError,  # SQLITE_ABORT
    5: OperationalError,  # SQLITE_BUSY
    6: OperationalError,  # SQLITE_LOCKED
    8: OperationalError,  # SQLITE_READONLY
    9: OperationalError,  # SQLITE_INTERRUPT
    10: OperationalError,  # SQLITE_IOERR
    11: DatabaseError,  # SQLITE_CORRUPT
    12: InternalError,  # SQLITE_NOTFOUND
    13: OperationalError,  # SQLITE_FULL
    14: OperationalError,  # SQLITE_CANTOPEN
    15: OperationalError,  # SQLITE_PROTOCOL
    16: OperationalError,  # SQLITE_EMPTY
    17: OperationalError,  # SQLITE_SCHEMA
    18: DataError,  # SQLITE_TOOBIG
    19: IntegrityError,  # SQLITE_CONSTRAINT
    20: IntegrityError,  # SQLITE_MISMATCH
    21: InterfaceError,  # SQLITE_MISUSE
    25: InterfaceError,  # SQLITE_RANGE
}

_BY_STATUS: Dict[grpc.StatusCode, type] = {
    grpc.StatusCode.INVALID_ARGUMENT: ProgrammingError,
    # The token's role falls short, or the sandbox forbids it: the program asked for what it
    # may not have (the Rust client's ErrorKind::Programming too).
    grpc.StatusCode.PERMISSION_DENIED: ProgrammingError,
    grpc.StatusCode.OUT_OF_RANGE: DataError,
    grpc.StatusCode.ALREADY_EXISTS: IntegrityError,
    grpc.StatusCode.UNIMPLEMENTED: NotSupportedError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
}

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _details(rpc_error: grpc.RpcError) -> Tuple[Optional[Any], List[Tuple[str, str]]]:
    """The ErrorInfo and the BadRequest violations of a status, from its trailers."""
    trailers = rpc_error.trailing_metadata() if hasattr(rpc_error, "trailing_metadata") else None
    info = None
    violations: List[Tuple[str, str]] = []
    for key, value in trailers or ():
        if key != _STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend((v.field, v.description) for v in bad.field_violations)
    return info, violations


def from_rpc_error(rpc_error: grpc.RpcError) -> Error:
    """The PEP 249 exception for a failed call, with everything the server said."""
    code = rpc_error.code() if hasattr(rpc_error, "code") else None
    message = (rpc_error.details() if hasattr(rpc_error, "details") else None) or str(code)
    info, violations = _details(rpc_error)
    metadata = dict(info.metadata) if info is not None else {}
    sqlite_code = int(metadata["sqlite_code"]) if "sqlite_code" in metadata else None
    if sqlite_code is not None:
        cls = _BY_PRIMARY_CODE.get(sqlite_code & 0xFF, DatabaseError)
    elif info is not None and info.reason == "STATEMENT_NOT_FOUND":
        cls = ProgrammingError  # an exposed statement that is not there: a wrong name
    else:
        cls = _BY_STATUS.get(code, OperationalError)  # type: ignore[arg-type]
    error = cls(message)
    error.sqlite_errorcode = sqlite_code
    error.sqlite_errorname = info.reason if info is not None and info.reason else None
    error.request_id = metadata.get("request_id")
    error.code = code
    error.retryable = metadata.get("retryable") == "true"
    error.violations = tuple(violations)
    return error
