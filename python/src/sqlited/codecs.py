"""How a PersistentDict turns keys and values into the bytes of a map, and back.

- ``"pickle"`` (the default, as in ``shelve`` and ``sqlitedict``): ``str`` keys, any picklable
  value. **Unpickling runs code chosen by whoever wrote the bytes: never open a map that
  someone you do not trust can write with this codec.**
- ``"json"``: ``str`` keys, JSON values (``dict``, ``list``, ``str``, ``int``, ``float``,
  ``bool``, ``None``; a tuple comes back as a list, a non-str dict key as a str).
- ``"raw"``: ``bytes`` keys and values, as they are.
- ``Postcard(key, value)``: postcard bytes, as the Rust client's ``PersistentMap<K, V>`` writes
  them, for maps shared with Rust programs; see ``sqlited.postcard`` for the types.

``str`` keys are stored as their UTF-8 bytes, so plain SQL reads them
(``SELECT CAST(key AS TEXT) FROM "kv_<map>"``) and they sort as Python sorts ``str``.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Dict, Optional, Union

from . import postcard
from .postcard import CodecError, DecodeError, EncodeError


class Codec:
    """Keys and values to bytes and back. ``record()`` is what the map records, so that a
    map is never read with another codec than the one that wrote it."""

    name = ""

    def record(self) -> Dict[str, str]:
        return {"codec": self.name}

    def encode_key(self, key: Any) -> bytes:
        raise NotImplementedError

    def decode_key(self, data: bytes) -> Any:
        raise NotImplementedError

    def encode_value(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode_value(self, data: bytes) -> Any:
        raise NotImplementedError

    def sniff(self, key: bytes, value: bytes) -> Optional[str]:
        """Why an entry written by someone else cannot be this codec's (None: it may be),
        for maps that recorded no codec. Never runs the codec's decoder on untrusted bytes
        when that could run code (pickle)."""
        try:
            self.decode_key(key)
            self.decode_value(value)
        except CodecError as e:
            return str(e)
        return None

    def __repr__(self) -> str:
        return repr(self.name)


class _StrKeys(Codec):
    def encode_key(self, key: Any) -> bytes:
        if not isinstance(key, str):
            raise EncodeError(
                f"the keys of a {self.name!r} map are str, not {type(key).__name__} ({key!r}); "
                "use codec='raw' for bytes keys or a Postcard codec for other types"
            )
        try:
            return key.encode("utf-8")
        except UnicodeEncodeError as e:
            raise EncodeError(f"a key that is not valid Unicode: {e}") from None

    def decode_key(self, data: bytes) -> Any:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"a key that is not UTF-8 text: {e}") from None


class Pickle(_StrKeys):
    """``str`` keys, pickled values (protocol 5). Unsafe for maps untrusted parties write."""

    name = "pickle"

    def encode_value(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=5)
        except Exception as e:  # PicklingError, TypeError, AttributeError of local objects, …
            raise EncodeError(f"cannot pickle the value: {e}") from None

    def decode_value(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as e:
            raise DecodeError(f"the value does not unpickle: {e}") from None

    def sniff(self, key: bytes, value: bytes) -> Optional[str]:
        try:
            self.decode_key(key)
        except CodecError as e:
            return str(e)
        # Protocol 2 and later begin with PROTO n and end with STOP; nothing is unpickled.
        if len(value) < 3 or value[0] != 0x80 or value[1] > pickle.HIGHEST_PROTOCOL or value[-1:] != b".":
            return "the value is not a pickle (protocol 2 or later)"
        return None


class Json(_StrKeys):
    """``str`` keys, JSON values (UTF-8, compact)."""

    name = "json"

    def encode_value(self, value: Any) -> bytes:
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise EncodeError(f"cannot write the value as JSON: {e}") from None

    def decode_value(self, data: bytes) -> Any:
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise DecodeError(f"the value is not JSON: {e}") from None


class Raw(Codec):
    """``bytes`` keys and values, stored as they are."""

    name = "raw"

    @staticmethod
    def _bytes(what: str, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise EncodeError(f"the {what}s of a 'raw' map are bytes, not {type(value).__name__} ({value!r})")
        return bytes(value)

    def encode_key(self, key: Any) -> bytes:
        return self._bytes("key", key)

    def decode_key(self, data: bytes) -> Any:
        return data

    def encode_value(self, value: Any) -> bytes:
        return self._bytes("value", value)

    def decode_value(self, data: bytes) -> Any:
        return data


class Postcard(Codec):
    """postcard bytes, as the Rust client's ``PersistentMap<K, V>`` stores them: give the Rust
    types, ``Postcard("String", "u64")`` for ``conn.map::<String, u64>(…)``, or Python types
    (``Postcard(str, int)`` is ``<String, i64>``); see ``sqlited.postcard``."""

    name = "postcard"

    def __init__(self, key: Any, value: Any) -> None:
        self.key_type = postcard.type_of(key)
        self.value_type = postcard.type_of(value)

    def record(self) -> Dict[str, str]:
        # The wire layouts: equal layouts read each other's bytes, whatever the type names.
        return {"codec": self.name, "key": self.key_type.name, "value": self.value_type.name}

    def encode_key(self, key: Any) -> bytes:
        out = bytearray()
        try:
            self.key_type.encode(key, out)
        except EncodeError as e:
            raise EncodeError(f"the key is not a {self.key_type.name}: {e}") from None
        return bytes(out)

    def decode_key(self, data: bytes) -> Any:
        return self._decode(self.key_type, data, "key")

    def encode_value(self, value: Any) -> bytes:
        out = bytearray()
        try:
            self.value_type.encode(value, out)
        except EncodeError as e:
            raise EncodeError(f"the value is not a {self.value_type.name}: {e}") from None
        return bytes(out)

    def decode_value(self, data: bytes) -> Any:
        return self._decode(self.value_type, data, "value")

    @staticmethod
    def _decode(t: postcard.Type, data: bytes, what: str) -> Any:
        try:
            value, pos = t.decode(data, 0)
        except DecodeError as e:
            raise DecodeError(f"the {what} does not decode as a {t.name}: {e}") from None
        if pos != len(data):
            raise DecodeError(f"the {what} does not decode as a {t.name}: {len(data) - pos} bytes left over")
        return value

    def __repr__(self) -> str:
        return f"Postcard({self.key_type.name!r}, {self.value_type.name!r})"


_BY_NAME = {"pickle": Pickle, "json": Json, "raw": Raw}


def codec_of(codec: Union[str, Codec]) -> Codec:
    """The codec named ``codec`` ("pickle", "json", "raw"), or ``codec`` itself."""
    if isinstance(codec, Codec):
        return codec
    if codec == "postcard":
        raise ValueError(
            "postcard is not self-describing: give the Rust types of the map's keys and values, "
            "codec=sqlited.Postcard('String', 'u64') for a Rust PersistentMap<String, u64>"
        )
    try:
        return _BY_NAME[codec]()
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown codec {codec!r}: use 'pickle', 'json', 'raw' or sqlited.Postcard(key, value)"
        ) from None


def describe(record: Dict[str, str]) -> str:
    """A recorded codec as a person would write it."""
    if record.get("codec") == "postcard":
        return f"Postcard({record.get('key')!r}, {record.get('value')!r})"
    return repr(record.get("codec"))


__all__ = ["Codec", "CodecError", "DecodeError", "EncodeError", "Json", "Pickle", "Postcard", "Raw", "codec_of"]
