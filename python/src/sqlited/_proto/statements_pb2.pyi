from sqlited._proto import database_pb2 as _database_pb2
from sqlited._proto import values_pb2 as _values_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallRequest(_message.Message):
    __slots__ = ("database", "name", "args", "transaction_id")
    class ArgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _values_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ...) -> None: ...
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    database: str
    name: str
    args: _containers.MessageMap[str, _values_pb2.Value]
    transaction_id: str
    def __init__(self, database: _Optional[str] = ..., name: _Optional[str] = ..., args: _Optional[_Mapping[str, _values_pb2.Value]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class ListStatementsRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: str
    def __init__(self, database: _Optional[str] = ...) -> None: ...

class ListStatementsResponse(_message.Message):
    __slots__ = ("statements",)
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[ExposedStatement]
    def __init__(self, statements: _Optional[_Iterable[_Union[ExposedStatement, _Mapping]]] = ...) -> None: ...

class ExposedStatement(_message.Message):
    __slots__ = ("database", "name", "sql", "writes", "description", "params", "exposed_only", "unavailable")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_ONLY_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    database: str
    name: str
    sql: str
    writes: bool
    description: str
    params: _containers.RepeatedCompositeFieldContainer[Parameter]
    exposed_only: bool
    unavailable: str
    def __init__(self, database: _Optional[str] = ..., name: _Optional[str] = ..., sql: _Optional[str] = ..., writes: bool = ..., description: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ..., exposed_only: bool = ..., unavailable: _Optional[str] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "type", "nullable", "default", "coerce", "min", "max", "min_length", "max_length", "regex", "one_of", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    COERCE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    ONE_OF_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    nullable: bool
    default: _values_pb2.Value
    coerce: bool
    min: float
    max: float
    min_length: int
    max_length: int
    regex: str
    one_of: _containers.RepeatedCompositeFieldContainer[_values_pb2.Value]
    description: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., nullable: bool = ..., default: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., coerce: bool = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., min_length: _Optional[int] = ..., max_length: _Optional[int] = ..., regex: _Optional[str] = ..., one_of: _Optional[_Iterable[_Union[_values_pb2.Value, _Mapping]]] = ..., description: _Optional[str] = ...) -> None: ...

class ReloadStatementsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadStatementsResponse(_message.Message):
    __slots__ = ("statements",)
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    statements: int
    def __init__(self, statements: _Optional[int] = ...) -> None: ...
