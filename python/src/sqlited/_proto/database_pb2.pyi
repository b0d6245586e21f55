from sqlited._proto import values_pb2 as _values_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OpenRequest(_message.Message):
    __slots__ = ("database", "create")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    database: str
    create: bool
    def __init__(self, database: _Optional[str] = ..., create: bool = ...) -> None: ...

class OpenResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: bool = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("database", "statement", "transaction_id")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    database: str
    statement: _values_pb2.Statement
    transaction_id: str
    def __init__(self, database: _Optional[str] = ..., statement: _Optional[_Union[_values_pb2.Statement, _Mapping]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("rows_affected", "last_insert_rowid")
    ROWS_AFFECTED_FIELD_NUMBER: _ClassVar[int]
    LAST_INSERT_ROWID_FIELD_NUMBER: _ClassVar[int]
    rows_affected: int
    last_insert_rowid: int
    def __init__(self, rows_affected: _Optional[int] = ..., last_insert_rowid: _Optional[int] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("database", "statement", "transaction_id", "read_only")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    database: str
    statement: _values_pb2.Statement
    transaction_id: str
    read_only: bool
    def __init__(self, database: _Optional[str] = ..., statement: _Optional[_Union[_values_pb2.Statement, _Mapping]] = ..., transaction_id: _Optional[str] = ..., read_only: bool = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("columns", "rows", "summary")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[_values_pb2.Column]
    rows: _containers.RepeatedCompositeFieldContainer[_values_pb2.Row]
    summary: ExecuteResponse
    def __init__(self, columns: _Optional[_Iterable[_Union[_values_pb2.Column, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[_values_pb2.Row, _Mapping]]] = ..., summary: _Optional[_Union[ExecuteResponse, _Mapping]] = ...) -> None: ...

class ExecuteBatchRequest(_message.Message):
    __slots__ = ("database", "statements", "transaction_id")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    database: str
    statements: _containers.RepeatedCompositeFieldContainer[_values_pb2.Statement]
    transaction_id: str
    def __init__(self, database: _Optional[str] = ..., statements: _Optional[_Iterable[_Union[_values_pb2.Statement, _Mapping]]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class ExecuteBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExecuteResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[ExecuteResponse, _Mapping]]] = ...) -> None: ...

class BeginRequest(_message.Message):
    __slots__ = ("database", "mode", "read_only", "lease_ms")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DEFERRED: _ClassVar[BeginRequest.Mode]
        IMMEDIATE: _ClassVar[BeginRequest.Mode]
        EXCLUSIVE: _ClassVar[BeginRequest.Mode]
    DEFERRED: BeginRequest.Mode
    IMMEDIATE: BeginRequest.Mode
    EXCLUSIVE: BeginRequest.Mode
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    database: str
    mode: BeginRequest.Mode
    read_only: bool
    lease_ms: int
    def __init__(self, database: _Optional[str] = ..., mode: _Optional[_Union[BeginRequest.Mode, str]] = ..., read_only: bool = ..., lease_ms: _Optional[int] = ...) -> None: ...

class BeginResponse(_message.Message):
    __slots__ = ("transaction_id", "lease_ms")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    lease_ms: int
    def __init__(self, transaction_id: _Optional[str] = ..., lease_ms: _Optional[int] = ...) -> None: ...

class CommitRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class CommitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("request_id", "execute", "query", "execute_batch", "begin", "commit", "rollback", "more", "cancel", "timeout_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_BATCH_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    execute: ExecuteRequest
    query: QueryRequest
    execute_batch: ExecuteBatchRequest
    begin: BeginRequest
    commit: CommitRequest
    rollback: RollbackRequest
    more: SessionMore
    cancel: SessionCancel
    timeout_ms: int
    def __init__(self, request_id: _Optional[int] = ..., execute: _Optional[_Union[ExecuteRequest, _Mapping]] = ..., query: _Optional[_Union[QueryRequest, _Mapping]] = ..., execute_batch: _Optional[_Union[ExecuteBatchRequest, _Mapping]] = ..., begin: _Optional[_Union[BeginRequest, _Mapping]] = ..., commit: _Optional[_Union[CommitRequest, _Mapping]] = ..., rollback: _Optional[_Union[RollbackRequest, _Mapping]] = ..., more: _Optional[_Union[SessionMore, _Mapping]] = ..., cancel: _Optional[_Union[SessionCancel, _Mapping]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class SessionMore(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: int
    def __init__(self, frames: _Optional[int] = ...) -> None: ...

class SessionCancel(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("request_id", "execute", "query", "execute_batch", "begin", "commit", "rollback", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_BATCH_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    execute: ExecuteResponse
    query: QueryResponse
    execute_batch: ExecuteBatchResponse
    begin: BeginResponse
    commit: CommitResponse
    rollback: RollbackResponse
    error: SessionError
    def __init__(self, request_id: _Optional[int] = ..., execute: _Optional[_Union[ExecuteResponse, _Mapping]] = ..., query: _Optional[_Union[QueryResponse, _Mapping]] = ..., execute_batch: _Optional[_Union[ExecuteBatchResponse, _Mapping]] = ..., begin: _Optional[_Union[BeginResponse, _Mapping]] = ..., commit: _Optional[_Union[CommitResponse, _Mapping]] = ..., rollback: _Optional[_Union[RollbackResponse, _Mapping]] = ..., error: _Optional[_Union[SessionError, _Mapping]] = ...) -> None: ...

class SessionError(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: bytes
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[bytes] = ...) -> None: ...
