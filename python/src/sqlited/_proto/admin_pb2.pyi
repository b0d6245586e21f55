from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListDatabasesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDatabasesResponse(_message.Message):
    __slots__ = ("databases",)
    DATABASES_FIELD_NUMBER: _ClassVar[int]
    databases: _containers.RepeatedCompositeFieldContainer[DatabaseInfo]
    def __init__(self, databases: _Optional[_Iterable[_Union[DatabaseInfo, _Mapping]]] = ...) -> None: ...

class DatabaseInfo(_message.Message):
    __slots__ = ("name", "file_bytes", "wal_bytes", "open", "replication")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    WAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    file_bytes: int
    wal_bytes: int
    open: bool
    replication: ReplicationStatus
    def __init__(self, name: _Optional[str] = ..., file_bytes: _Optional[int] = ..., wal_bytes: _Optional[int] = ..., open: bool = ..., replication: _Optional[_Union[ReplicationStatus, _Mapping]] = ...) -> None: ...

class ReplicationStatus(_message.Message):
    __slots__ = ("synchronous", "registered", "replica_txid", "local_txid", "lag_ms", "lag_writes", "last_sync_unix_ms", "sync_failures", "error", "failing_ms", "lag_frames", "generation", "replica_url", "sync_waits", "sync_wait_mean_ms", "sync_wait_max_ms")
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    REPLICA_TXID_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TXID_FIELD_NUMBER: _ClassVar[int]
    LAG_MS_FIELD_NUMBER: _ClassVar[int]
    LAG_WRITES_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SYNC_FAILURES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILING_MS_FIELD_NUMBER: _ClassVar[int]
    LAG_FRAMES_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    REPLICA_URL_FIELD_NUMBER: _ClassVar[int]
    SYNC_WAITS_FIELD_NUMBER: _ClassVar[int]
    SYNC_WAIT_MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    SYNC_WAIT_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    synchronous: bool
    registered: bool
    replica_txid: int
    local_txid: int
    lag_ms: int
    lag_writes: int
    last_sync_unix_ms: int
    sync_failures: int
    error: str
    failing_ms: int
    lag_frames: int
    generation: int
    replica_url: str
    sync_waits: int
    sync_wait_mean_ms: float
    sync_wait_max_ms: float
    def __init__(self, synchronous: bool = ..., registered: bool = ..., replica_txid: _Optional[int] = ..., local_txid: _Optional[int] = ..., lag_ms: _Optional[int] = ..., lag_writes: _Optional[int] = ..., last_sync_unix_ms: _Optional[int] = ..., sync_failures: _Optional[int] = ..., error: _Optional[str] = ..., failing_ms: _Optional[int] = ..., lag_frames: _Optional[int] = ..., generation: _Optional[int] = ..., replica_url: _Optional[str] = ..., sync_waits: _Optional[int] = ..., sync_wait_mean_ms: _Optional[float] = ..., sync_wait_max_ms: _Optional[float] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: str
    def __init__(self, database: _Optional[str] = ...) -> None: ...

class CheckpointResponse(_message.Message):
    __slots__ = ("wal_frames", "checkpointed_frames")
    WAL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    wal_frames: int
    checkpointed_frames: int
    def __init__(self, wal_frames: _Optional[int] = ..., checkpointed_frames: _Optional[int] = ...) -> None: ...

class OptimizeRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: str
    def __init__(self, database: _Optional[str] = ...) -> None: ...

class OptimizeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VacuumRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: str
    def __init__(self, database: _Optional[str] = ...) -> None: ...

class VacuumResponse(_message.Message):
    __slots__ = ("bytes_before", "bytes_after")
    BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    bytes_before: int
    bytes_after: int
    def __init__(self, bytes_before: _Optional[int] = ..., bytes_after: _Optional[int] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: str
    def __init__(self, database: _Optional[str] = ...) -> None: ...

class BackupChunk(_message.Message):
    __slots__ = ("data", "sha256", "total_bytes")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    sha256: str
    total_bytes: int
    def __init__(self, data: _Optional[bytes] = ..., sha256: _Optional[str] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class CreateDatabaseRequest(_message.Message):
    __slots__ = ("database", "if_not_exists")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    IF_NOT_EXISTS_FIELD_NUMBER: _ClassVar[int]
    database: str
    if_not_exists: bool
    def __init__(self, database: _Optional[str] = ..., if_not_exists: bool = ...) -> None: ...

class CreateDatabaseResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: bool = ...) -> None: ...

class DropDatabaseRequest(_message.Message):
    __slots__ = ("database", "if_exists")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    IF_EXISTS_FIELD_NUMBER: _ClassVar[int]
    database: str
    if_exists: bool
    def __init__(self, database: _Optional[str] = ..., if_exists: bool = ...) -> None: ...

class DropDatabaseResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: bool
    def __init__(self, dropped: bool = ...) -> None: ...
