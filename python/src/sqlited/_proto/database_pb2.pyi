from sqlited._proto import values_pb2 as _values_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("database", "statement", "transaction_id")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    database: str
    statement: _values_pb2.Statement
    transaction_id: str
    def __init__(self, database: _Optional[str] = ..., statement: _Optional[_Union[_values_pb2.Statement, _Mapping]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

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
