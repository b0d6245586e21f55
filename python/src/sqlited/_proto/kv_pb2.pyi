from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MapRef(_message.Message):
    __slots__ = ("database", "map")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    database: str
    map: str
    def __init__(self, database: _Optional[str] = ..., map: _Optional[str] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("key", "value", "version")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    version: int
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., version: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("map", "key")
    MAP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    key: bytes
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., key: _Optional[bytes] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("found", "entry")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    found: bool
    entry: Entry
    def __init__(self, found: bool = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class SetRequest(_message.Message):
    __slots__ = ("map", "key", "value", "if_absent", "if_version")
    MAP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    IF_ABSENT_FIELD_NUMBER: _ClassVar[int]
    IF_VERSION_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    key: bytes
    value: bytes
    if_absent: bool
    if_version: int
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., if_absent: bool = ..., if_version: _Optional[int] = ...) -> None: ...

class SetResponse(_message.Message):
    __slots__ = ("applied", "previous", "version")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    previous: Entry
    version: int
    def __init__(self, applied: bool = ..., previous: _Optional[_Union[Entry, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("map", "key")
    MAP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    key: bytes
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., key: _Optional[bytes] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("found", "previous")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    found: bool
    previous: Entry
    def __init__(self, found: bool = ..., previous: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class ContainsRequest(_message.Message):
    __slots__ = ("map", "key")
    MAP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    key: bytes
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., key: _Optional[bytes] = ...) -> None: ...

class ContainsResponse(_message.Message):
    __slots__ = ("found",)
    FOUND_FIELD_NUMBER: _ClassVar[int]
    found: bool
    def __init__(self, found: bool = ...) -> None: ...

class LenRequest(_message.Message):
    __slots__ = ("map",)
    MAP_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ...) -> None: ...

class LenResponse(_message.Message):
    __slots__ = ("len",)
    LEN_FIELD_NUMBER: _ClassVar[int]
    len: int
    def __init__(self, len: _Optional[int] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("map", "start", "start_exclusive", "end", "prefix", "limit")
    MAP_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    START_EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    start: bytes
    start_exclusive: bool
    end: bytes
    prefix: bytes
    limit: int
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., start: _Optional[bytes] = ..., start_exclusive: bool = ..., end: _Optional[bytes] = ..., prefix: _Optional[bytes] = ..., limit: _Optional[int] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class SetManyRequest(_message.Message):
    __slots__ = ("map", "entries", "return_previous")
    MAP_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RETURN_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    return_previous: bool
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., return_previous: bool = ...) -> None: ...

class SetManyResponse(_message.Message):
    __slots__ = ("count", "results")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    count: int
    results: _containers.RepeatedCompositeFieldContainer[SetResponse]
    def __init__(self, count: _Optional[int] = ..., results: _Optional[_Iterable[_Union[SetResponse, _Mapping]]] = ...) -> None: ...

class DeleteManyRequest(_message.Message):
    __slots__ = ("map", "keys")
    MAP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DeleteManyResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class ClearRequest(_message.Message):
    __slots__ = ("map",)
    MAP_FIELD_NUMBER: _ClassVar[int]
    map: MapRef
    def __init__(self, map: _Optional[_Union[MapRef, _Mapping]] = ...) -> None: ...

class ClearResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...
