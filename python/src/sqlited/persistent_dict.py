"""``PersistentDict``: a ``MutableMapping`` whose entries live in a map of a sqlited database
(the KeyValue service), durable when each write returns and shared by every thread and
process that opens the map.

    d = sqlited.PersistentDict("127.0.0.1:50051/app", "sessions")
    d["ada"] = {"visits": 1}                       # durable when it returns
    d.update_value("ada", lambda s: {**s, "visits": s["visits"] + 1})   # compare-and-set

**Writes from many threads travel together.** ``d[k] = v`` made at the same time by many
threads through one PersistentDict go out as one ``SetMany``, as the Rust client's batcher
sends them: a write made while fewer than ``MAX_IN_FLIGHT`` requests are out leaves at once
(one thread alone sees the latency of one call); the writes made meanwhile queue up, and the
next thread to be free takes them all as the next request (leader and followers, no
background thread). Each caller returns once the server committed its entry.

**A map records its codec** in the map ``sqlited_codecs`` of the same database (key: the map's
name in lower case, as SQLite's table names ignore case; value: JSON such as
``{"codec": "pickle"}``), written once, if absent, before the first write. Opening a map with
another codec than its record is ``CodecMismatchError``. The map itself holds only its
entries, so a Rust ``PersistentMap`` over it is not disturbed; a map that has no record
(written by a Rust program, or by raw KeyValue calls) is opened if its first entry decodes
with the codec given, and is recorded at the first write.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
from collections import deque
from collections.abc import ItemsView, KeysView, MutableMapping, ValuesView
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from . import exceptions
from ._proto import kv_pb2, kv_pb2_grpc
from .codecs import Codec, codec_of, describe
from .exceptions import DataError, Error, OperationalError, ProgrammingError
from .url import open_channel as _open_channel
from .url import parse as _parse_url

#: The map, in each database, that records the codec of every PersistentDict map.
CODECS_MAP = "sqlited_codecs"
#: Requests one PersistentDict's batcher has on the wire at once (the Rust client's choice,
#: measured in BENCHMARKS.md: a second batch leaves while the first is committing).
MAX_IN_FLIGHT = 2
#: Entries per batched request at most.
MAX_ENTRIES = 512
#: Key and value bytes per batched request at most (a larger entry goes alone).
MAX_BYTES = 1 << 20
#: Entries fetched per page when iterating.
PAGE = 1000
#: Compare-and-set attempts of ``update_value`` before it gives up.
MAX_ATTEMPTS = 1000

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}\Z")
_MISSING: Any = object()
# Statuses that refuse a whole request before anything ran (one entry too large, say).
_REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OUT_OF_RANGE)


class CodecMismatchError(ProgrammingError):
    """The map was written with another codec than the one it is opened with."""


class ValueTooLargeError(DataError):
    """An entry larger than the server accepts (its ``--max-message-bytes``)."""


def _check_name(what: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProgrammingError(
            f"invalid {what} name {name!r}: a name is 1 to 64 characters from A-Z, a-z, 0-9, "
            "'_' and '-', and does not start with '-'"
        )
    return name


def _show(key: bytes) -> str:
    digits = key[:32].hex()
    return f"0x{digits}…" if len(key) > 32 else f"0x{digits}"


class _Pending:
    """One caller's write, waiting for its batch. Its state changes under the batcher's lock."""

    __slots__ = ("key", "value", "event", "finished", "promoted", "error")

    def __init__(self, key: bytes, value: bytes) -> None:
        self.key = key
        self.value = value
        self.event = threading.Event()
        self.finished = False
        self.promoted = False  # handed a request slot: this caller sends the next batch
        self.error: Optional[BaseException] = None


class _Batcher:
    """Client-side group commit of ``d[k] = v`` (see the module's docstring).

    At most ``MAX_IN_FLIGHT`` callers lead at a time, each holding a slot while it sends one
    batch from the front of the queue; when its batch is answered it hands its slot to the
    first caller still queued (who then sends the next batch, its own entry in it), or gives
    the slot back when nobody waits. So no caller leads for longer than one request, and no
    write waits for company when a slot is free.
    """

    def __init__(self, send: Callable[[List[_Pending]], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._queue: Deque[_Pending] = deque()
        self._leaders = 0

    def set(self, key: bytes, value: bytes) -> None:
        pending = _Pending(key, value)
        with self._lock:
            self._queue.append(pending)
            leading = self._leaders < MAX_IN_FLIGHT
            if leading:
                self._leaders += 1
        while True:
            if leading:
                self._lead()
            pending.event.wait()
            with self._lock:
                leading, pending.promoted = pending.promoted, False
                finished = pending.finished
                if not finished:
                    pending.event.clear()
            if finished and not leading:
                break
        if pending.error is not None:
            # Each caller of a failed batch raises its own copy (a traceback is per raise).
            raise copy.copy(pending.error)

    def _lead(self) -> None:
        with self._lock:
            batch = [self._queue.popleft()] if self._queue else []
            size = sum(len(p.key) + len(p.value) for p in batch)
            while self._queue and len(batch) < MAX_ENTRIES:
                nxt = self._queue[0]
                size += len(nxt.key) + len(nxt.value)
                if size > MAX_BYTES:
                    break
                batch.append(self._queue.popleft())
        error: Optional[BaseException] = None
        try:
            if batch:
                self._send(batch)
        except BaseException as e:  # answered to every caller of the batch, below
            error = e
        with self._lock:
            for p in batch:
                if error is not None and p.error is None:
                    p.error = error
                p.finished = True
                p.event.set()
            for waiting in self._queue:
                if not waiting.promoted:
                    waiting.promoted = True
                    waiting.event.set()
                    break
            else:
                self._leaders -= 1


class PersistentDict(MutableMapping):
    """A dictionary kept in the map ``name`` of a sqlited database.

    ``url_or_connection`` is a URL (``[http[s]://]host:port/database``, as for
    ``sqlited.connect``) or a ``sqlited.Connection``, whose channel, token and timeout it
    shares. ``codec`` is ``"pickle"`` (the default; **unsafe for maps untrusted parties can
    write**), ``"json"``, ``"raw"`` or ``sqlited.Postcard(key, value)``; see
    ``sqlited.codecs``. ``timeout``, ``token`` and ``root_certificates`` are as for
    ``sqlited.connect``, when a URL is given.

    Opening reads the map's codec record (and, when there is none, its first entry), so a
    server that cannot be reached, or a map opened with another codec, fails here.
    Every write is durable when it returns. One PersistentDict may be shared by any number
    of threads; their concurrent ``d[k] = v`` travel together. Reads of a database or map
    that does not exist see an empty map and create nothing; the first write creates them.
    Iteration reads ``PAGE`` entries at a time, in the order of the keys' bytes, and sees
    writes made meanwhile after its position.
    """

    def __init__(
        self,
        url_or_connection: Any,
        name: str,
        *,
        codec: Union[str, Codec] = "pickle",
        timeout: Optional[float] = None,
        token: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
    ) -> None:
        self._owned_channel: Optional[grpc.Channel] = None
        self._connection: Any = None
        self.name = _check_name("map", name)
        if name.lower() == CODECS_MAP:
            raise ProgrammingError(f"the map {CODECS_MAP!r} holds the codecs of the other maps; choose another name")
        self.codec = codec_of(codec)
        if isinstance(url_or_connection, str):
            target = _parse_url(url_or_connection)
            if target.mode != "rwc":
                raise exceptions.InterfaceError(
                    f"PersistentDict takes no mode={target.mode}: its reads of a database that "
                    "does not exist see an empty map and create nothing, and its first write "
                    "creates the database"
                )
            channel = _open_channel(grpc, target, root_certificates)
            self._owned_channel = channel
            self.database = target.database
            self._metadata: Optional[Tuple[Tuple[str, str], ...]] = (
                (("authorization", f"Bearer {token}"),) if token else None
            )
            self.timeout = timeout
        elif hasattr(url_or_connection, "_channel") and hasattr(url_or_connection, "database"):
            conn = url_or_connection
            self._connection = conn  # kept alive: closing it (or collecting it) closes the channel
            channel = conn._channel
            self.database = conn.database
            self._metadata = getattr(conn, "_metadata", None)
            self.timeout = timeout if timeout is not None else getattr(conn, "timeout", None)
        else:
            raise exceptions.InterfaceError(
                f"PersistentDict needs a URL or a sqlited.Connection, not {type(url_or_connection).__name__}"
            )
        _check_name("database", self.database)
        self._stub = kv_pb2_grpc.KeyValueStub(channel)
        self._ref = kv_pb2.MapRef(database=self.database, map=self.name)
        self._codecs_ref = kv_pb2.MapRef(database=self.database, map=CODECS_MAP)
        self._record_lock = threading.RLock()  # _forget_record calls len() under it
        self._recorded = False
        self._created_record = False  # this object wrote the record (and nothing else yet)
        self._batcher = _Batcher(self._send_batch)
        self._check_codec()

    # -- calls ---------------------------------------------------------------------------

    def _call(self, method: Any, request: Any, *, read: bool = False) -> Any:
        """One call; None when ``read`` and the database does not exist (an empty map)."""
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            if read and e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise self._error(e) from None
        except ValueError as e:  # grpc's "Cannot invoke RPC: Channel closed!"
            raise self._closed(e) from None

    def _closed(self, error: ValueError) -> Exception:
        if "closed" in str(error).lower():
            return exceptions.InterfaceError(
                f"PersistentDict {self.name!r} is closed (or the Connection it was opened on is)"
            )
        return error

    def _error(self, rpc_error: grpc.RpcError) -> Error:
        error = exceptions.from_rpc_error(rpc_error)
        if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max-message-bytes" in str(error):
            # The server says what happened and which limit; the class says it is the data's.
            bigger = ValueTooLargeError(str(error))
            bigger.__dict__.update(error.__dict__)
            return bigger
        return error

    def _scan(self, after: Optional[bytes], limit: int) -> List[Any]:
        request = kv_pb2.ScanRequest(
            map=self._ref, start=after or b"", start_exclusive=after is not None, limit=limit
        )
        try:
            return [e for message in self._stub.Scan(request, timeout=self.timeout, metadata=self._metadata) for e in message.entries]
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return []
            raise self._error(e) from None
        except ValueError as e:
            raise self._closed(e) from None

    def _entries(self) -> Iterator[Any]:
        after: Optional[bytes] = None
        while True:
            page = self._scan(after, PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].key

    def _decode_value(self, key: bytes, data: bytes) -> Any:
        try:
            return self.codec.decode_value(data)
        except DataError as e:
            raise type(e)(f"map {self.name!r}, key {_show(key)}: {e}") from None

    def _decode_key(self, key: bytes) -> Any:
        try:
            return self.codec.decode_key(key)
        except DataError as e:
            raise type(e)(f"map {self.name!r}, key {_show(key)}: {e}") from None

    # -- the codec record -----------------------------------------------------------------

    def _check_codec(self) -> None:
        request = kv_pb2.GetRequest(map=self._codecs_ref, key=self.name.lower().encode())
        try:
            response = self._call(self._stub.Get, request, read=True)
        except Error as e:
            raise self._codecs_map_error(e) from None
        if response is not None and response.found:
            self._compare(response.entry.value)
            self._recorded = True
            return
        first = self._scan(None, 1)
        if first:
            why = self.codec.sniff(first[0].key, first[0].value)
            if why is not None:
                raise CodecMismatchError(
                    f"map {self.name!r} of database {self.database!r} records no codec, and its first "
                    f"entry (key {_show(first[0].key)}) is not {self.codec!r}: {why}. Open it with the "
                    "codec that wrote it"
                )

    def _compare(self, recorded_bytes: bytes) -> None:
        try:
            recorded = json.loads(recorded_bytes.decode("utf-8"))
            if not isinstance(recorded, dict):
                raise ValueError("not an object")
        except ValueError:
            raise CodecMismatchError(
                f"the record of map {self.name!r} in {CODECS_MAP!r} is not a codec record: "
                f"{recorded_bytes[:100]!r}"
            ) from None
        ours = self.codec.record()
        if any(recorded.get(k) != v for k, v in ours.items()):
            raise CodecMismatchError(
                f"map {self.name!r} of database {self.database!r} was written with codec "
                f"{describe(recorded)}, not {self.codec!r}: open it with "
                f"codec={describe(recorded)}"
            )

    def _codecs_map_error(self, error: Error) -> Error:
        """``error`` of a call on the codecs map; if the map itself is refused, that error."""
        if error.code != grpc.StatusCode.PERMISSION_DENIED or "declare" not in str(error):
            return error  # not about declarations (a token's role falls short, say): as it is
        try:
            self._call(self._stub.Contains, kv_pb2.ContainsRequest(map=self._ref, key=b""), read=True)
        except Error as own:
            return own
        hint = type(error)(
            f"{error} — PersistentDict records each map's codec in the map {CODECS_MAP!r} of the "
            f"database: declare it beside {self.name!r} in the statements file "
            f"(maps = [\"{self.name}\", \"{CODECS_MAP}\"])"
        )
        hint.__dict__.update(error.__dict__)
        return hint

    def _ensure_recorded(self) -> None:
        if self._recorded:
            return
        with self._record_lock:
            if self._recorded:
                return
            request = kv_pb2.SetRequest(
                map=self._codecs_ref,
                key=self.name.lower().encode(),
                value=json.dumps(self.codec.record(), sort_keys=True).encode(),
                if_absent=True,
            )
            try:
                response = self._call(self._stub.Set, request)
            except Error as e:
                raise self._codecs_map_error(e) from None
            if not response.applied:
                self._compare(response.previous.value)
            self._created_record = response.applied
            self._recorded = True

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Around a write: the codec recorded first; if the write is refused and the record
        was this object's doing on a map still empty, the record goes again, so that a
        refused first write leaves no record of a map that was never written."""
        self._ensure_recorded()
        try:
            yield
        except Error as e:
            if e.code == grpc.StatusCode.PERMISSION_DENIED and self._created_record:
                self._forget_record()
            raise
        self._created_record = False  # written: the record is the map's now

    def _forget_record(self) -> None:
        with self._record_lock:
            if not self._created_record:
                return
            try:
                if len(self) == 0:
                    key = self.name.lower().encode()
                    self._call(self._stub.Delete, kv_pb2.DeleteRequest(map=self._codecs_ref, key=key))
                    self._recorded = self._created_record = False
            except Error:
                pass  # the refusal is the error to report; the record stays

    # -- writes ----------------------------------------------------------------------------

    def _send_batch(self, batch: List[_Pending]) -> None:
        entries = [kv_pb2.Entry(key=p.key, value=p.value) for p in batch]
        try:
            self._call(self._stub.SetMany, kv_pb2.SetManyRequest(map=self._ref, entries=entries))
        except Error as e:
            if len(batch) == 1 or e.code not in _REFUSED:
                raise
            # Refused whole, nothing applied: let each entry get its own answer.
            for p in batch:
                try:
                    self._call(self._stub.SetMany, kv_pb2.SetManyRequest(map=self._ref, entries=[kv_pb2.Entry(key=p.key, value=p.value)]))
                except Error as alone:
                    p.error = alone

    def __setitem__(self, key: Any, value: Any) -> None:
        encoded_key = self.codec.encode_key(key)
        encoded = self.codec.encode_value(value)
        with self._writing():
            self._batcher.set(encoded_key, encoded)

    def __delitem__(self, key: Any) -> None:
        response = self._call(self._stub.Delete, kv_pb2.DeleteRequest(map=self._ref, key=self.codec.encode_key(key)))
        if not response.found:
            raise KeyError(key)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        encoded_key = self.codec.encode_key(key)
        response = self._call(self._stub.Delete, kv_pb2.DeleteRequest(map=self._ref, key=encoded_key))
        if not response.found:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return self._decode_value(encoded_key, response.previous.value)

    def popitem(self) -> Tuple[Any, Any]:
        """Removes and returns the entry of the smallest key (KeyError when empty)."""
        while True:
            first = self._scan(None, 1)
            if not first:
                raise KeyError("popitem(): the map is empty")
            entry = first[0]
            response = self._call(self._stub.Delete, kv_pb2.DeleteRequest(map=self._ref, key=entry.key))
            if response.found:  # else another caller took it first: the next one
                return self._decode_key(entry.key), self._decode_value(entry.key, response.previous.value)

    def clear(self) -> None:
        """Removes every entry, in one request (the map keeps its codec)."""
        self._call(self._stub.Clear, kv_pb2.ClearRequest(map=self._ref))

    def update(self, other: Any = (), /, **kwargs: Any) -> None:  # type: ignore[override]
        """Sets every entry of ``other`` (a mapping or ``(key, value)`` pairs) and ``kwargs``
        in one atomic ``SetMany``: all of them, or none if it fails. One request: an update
        larger than the server's ``--max-message-bytes`` (16 MiB by default) is refused whole,
        ``ValueTooLargeError``; split it to store it in parts."""
        if hasattr(other, "keys"):
            pairs: Iterable[Tuple[Any, Any]] = ((k, other[k]) for k in other.keys())
        else:
            pairs = other
        entries = [kv_pb2.Entry(key=self.codec.encode_key(k), value=self.codec.encode_value(v)) for k, v in pairs]
        entries += [kv_pb2.Entry(key=self.codec.encode_key(k), value=self.codec.encode_value(v)) for k, v in kwargs.items()]
        if not entries:
            return
        with self._writing():
            self._call(self._stub.SetMany, kv_pb2.SetManyRequest(map=self._ref, entries=entries))

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``; if absent, sets it to ``default`` first, atomically (of
        callers racing, all get the value that was set first)."""
        encoded_key = self.codec.encode_key(key)
        response = self._call(self._stub.Get, kv_pb2.GetRequest(map=self._ref, key=encoded_key), read=True)
        if response is not None and response.found:
            return self._decode_value(encoded_key, response.entry.value)
        encoded = self.codec.encode_value(default)
        request = kv_pb2.SetRequest(map=self._ref, key=encoded_key, value=encoded, if_absent=True)
        with self._writing():
            response = self._call(self._stub.Set, request)
        if response.applied:
            return default
        return self._decode_value(encoded_key, response.previous.value)

    def update_value(self, key: Any, fn: Callable[[Any], Any], default: Any = _MISSING, *, attempts: int = MAX_ATTEMPTS) -> Any:
        """Replaces the value of ``key`` by ``fn(value)`` with compare-and-set, and returns
        the new value. When another writer changed the key in between, it reads the key
        again and calls ``fn`` again (so ``fn`` may run more than once, and must not have
        side effects), up to ``attempts`` times; then ``OperationalError``. An absent key is
        ``fn(default)``, or ``KeyError`` without a default.

            d.update_value("hits", lambda n: n + 1, default=0)   # no lost updates
        """
        encoded_key = self.codec.encode_key(key)
        response = self._call(self._stub.Get, kv_pb2.GetRequest(map=self._ref, key=encoded_key), read=True)
        current = response.entry if response is not None and response.found else None
        if current is None and default is _MISSING:
            raise KeyError(key)
        for _ in range(attempts):
            if current is None:
                if default is _MISSING:
                    raise KeyError(key)
                new = fn(default)
                request = kv_pb2.SetRequest(map=self._ref, key=encoded_key, value=self.codec.encode_value(new), if_absent=True)
            else:
                new = fn(self._decode_value(encoded_key, current.value))
                request = kv_pb2.SetRequest(
                    map=self._ref, key=encoded_key, value=self.codec.encode_value(new), if_version=current.version
                )
            with self._writing():
                response = self._call(self._stub.Set, request)
            if response.applied:
                return new
            current = response.previous if response.HasField("previous") else None
        raise OperationalError(
            f"update_value of key {key!r} in map {self.name!r} lost {attempts} races in a row to "
            "other writers; try again"
        )

    # -- reads -----------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        encoded_key = self.codec.encode_key(key)
        response = self._call(self._stub.Get, kv_pb2.GetRequest(map=self._ref, key=encoded_key), read=True)
        if response is None or not response.found:
            raise KeyError(key)
        return self._decode_value(encoded_key, response.entry.value)

    def __contains__(self, key: Any) -> bool:
        request = kv_pb2.ContainsRequest(map=self._ref, key=self.codec.encode_key(key))
        response = self._call(self._stub.Contains, request, read=True)
        return response is not None and response.found

    def __len__(self) -> int:
        response = self._call(self._stub.Len, kv_pb2.LenRequest(map=self._ref), read=True)
        return 0 if response is None else int(response.len)

    def __iter__(self) -> Iterator[Any]:
        for entry in self._entries():
            yield self._decode_key(entry.key)

    def keys(self) -> KeysView:  # type: ignore[override]
        return KeysView(self)

    def items(self) -> ItemsView:  # type: ignore[override]
        return _Items(self)

    def values(self) -> ValuesView:  # type: ignore[override]
        return _Values(self)

    # -- the object ------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the channel this PersistentDict opened (not a Connection's)."""
        if self._owned_channel is not None:
            self._owned_channel.close()
            self._owned_channel = None
        self._connection = None

    def __enter__(self) -> "PersistentDict":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PersistentDict(database={self.database!r}, name={self.name!r}, codec={self.codec!r})"


class _Items(ItemsView):
    """Entries a page at a time, keys and values from the same Scan."""

    _mapping: PersistentDict

    def __iter__(self) -> Iterator[Tuple[Any, Any]]:
        d = self._mapping
        for entry in d._entries():
            yield d._decode_key(entry.key), d._decode_value(entry.key, entry.value)


class _Values(ValuesView):
    _mapping: PersistentDict

    def __iter__(self) -> Iterator[Any]:
        d = self._mapping
        for entry in d._entries():
            yield d._decode_value(entry.key, entry.value)


__all__ = ["CODECS_MAP", "CodecMismatchError", "PersistentDict", "ValueTooLargeError"]
