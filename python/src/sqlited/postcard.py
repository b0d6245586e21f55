"""postcard 1.x, the encoding of the Rust client's ``PersistentMap<K, V>``, for Python values.

postcard is not self-describing: the bytes of ``42u64`` and of ``42i64`` differ, and nothing in
them says which was meant. So a postcard codec is built from the Rust types of the map, written
as Rust writes them or as Python types:

    Postcard("String", "u64")              # conn.map::<String, u64>("hits")
    Postcard(str, List[int])               # PersistentMap<String, Vec<i64>>
    Postcard("(u32, String)", "Option<f64>")

The wire format is postcard's documented one (spec/src/wire-format.md in the postcard
repository, stable since 1.0.0):

==========================  =====================================  ==========================
Rust type                   postcard bytes                         Python value
==========================  =====================================  ==========================
``bool``                    one byte, 0 or 1                       ``bool``
``u8`` / ``i8``             one byte (``i8`` two's complement)     ``int``
``u16`` … ``u128``          LEB128 varint                          ``int``
``i16`` … ``i128``          zigzag, then varint                    ``int``
``usize`` / ``isize``       as ``u64`` / ``i64``                   ``int``
``f32`` / ``f64``           4 / 8 bytes, little-endian IEEE 754    ``float``
``char``                    as a one-character ``String``          ``str`` of length 1
``String``, ``&str``        varint byte length, then UTF-8         ``str``
``Vec<u8>``, ``ByteBuf``    varint length, then the bytes          ``bytes``
``[u8; N]``                 the N bytes                            ``bytes`` of length N
``Option<T>``               0, or 1 then ``T``                     ``None`` or the value
``()``, unit struct         nothing                                ``None``
``Vec<T>``, ``VecDeque``,   varint count, then each element        ``list`` (sets: ``set``)
``HashSet``, ``BTreeSet``
``[T; N]``, ``(A, B, …)``   the elements in order, no count        ``tuple``
``HashMap``, ``BTreeMap``   varint count, then key, value, …       ``dict``
struct                      the fields in order, no names          a dataclass / NamedTuple
unit-only enum              varint(u32) index of the variant       an ``enum.Enum`` member
``Box<T>``, newtype         as ``T``                               as ``T``
==========================  =====================================  ==========================

Python types stand for the Rust type they most often are: ``str`` for ``String``, ``bytes``
for ``Vec<u8>``, ``int`` for ``i64``, ``float`` for ``f64``, ``bool``, ``None`` for ``()``,
``Optional[T]``, ``List[T]`` (``Vec<T>``), ``Tuple[A, B]`` (a tuple), ``Tuple[T, ...]``
(``Vec<T>``, read back as a tuple), ``Dict[K, V]`` (a map), ``Set[T]`` / ``FrozenSet[T]``;
a dataclass or ``NamedTuple`` with annotated fields is a struct, an ``enum.Enum`` a unit-only
enum (variants in definition order, as serde numbers them). Any of these may be a Rust type
in a string where the width matters: ``Tuple["u8", str]``. A Python ``int`` is checked
against the range of its Rust type; a value that does not fit raises ``EncodeError``.

Decoding is strict: a varint longer than its type allows or larger than its type, a bool
other than 0 or 1, invalid UTF-8 and trailing bytes are ``DecodeError``. postcard itself
ignores trailing bytes; rejecting them catches more mistaken types, and nothing postcard
writes has any.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import struct
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .exceptions import DataError


class CodecError(DataError):
    """A value that a map's codec cannot encode, or stored bytes it cannot decode."""


class EncodeError(CodecError, TypeError, ValueError):
    """A key or value the codec cannot encode (wrong type, out of range): also a TypeError
    and a ValueError, what Python raises for such arguments."""


class DecodeError(CodecError):
    """Stored bytes that do not decode with the map's codec."""


class Type:
    """One Rust type: how its values are written and read. ``name`` is its wire layout,
    written as Rust would write the type (``Vec<u8>``, ``Option<i64>``, ``(u32, String)``)."""

    name: str = ""

    def encode(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"postcard.Type({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


def _fail(what: str) -> "EncodeError":
    return EncodeError(what)


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, pos: int, max_len: int, what: str) -> Tuple[int, int]:
    value = 0
    for i in range(max_len):
        if pos + i >= len(data):
            raise DecodeError(f"the data ends inside a varint ({what})")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    raise DecodeError(f"a varint longer than {max_len} bytes, the most a {what} takes")


def _need(data: bytes, pos: int, n: int, what: str) -> None:
    if pos + n > len(data):
        raise DecodeError(f"the data ends inside a {what} ({len(data) - pos} of its {n} bytes)")


def _check_int(value: Any, name: str) -> int:
    # A bool is an int to Python, not to Rust; an int subclass such as IntEnum is fine.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"a {name} must be an int, not {type(value).__name__}")
    return int(value)


class _Unsigned(Type):
    def __init__(self, bits: int) -> None:
        self.name = f"u{bits}"
        self.max = (1 << bits) - 1
        self.max_len = -(-bits // 7)
        self.bits = bits

    def encode(self, value: Any, out: bytearray) -> None:
        v = _check_int(value, self.name)
        if not 0 <= v <= self.max:
            raise _fail(f"{v} does not fit in a {self.name} (0 to {self.max})")
        if self.bits == 8:
            out.append(v)
        else:
            _varint(v, out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        if self.bits == 8:
            _need(data, pos, 1, self.name)
            return data[pos], pos + 1
        v, pos = _read_varint(data, pos, self.max_len, self.name)
        if v > self.max:
            raise DecodeError(f"a varint of {v}, more than a {self.name} holds")
        return v, pos


class _Signed(Type):
    def __init__(self, bits: int) -> None:
        self.name = f"i{bits}"
        self.bits = bits
        self.min, self.max = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        self.max_len = -(-bits // 7)

    def encode(self, value: Any, out: bytearray) -> None:
        v = _check_int(value, self.name)
        if not self.min <= v <= self.max:
            raise _fail(f"{v} does not fit in an {self.name} ({self.min} to {self.max})")
        if self.bits == 8:
            out.append(v & 0xFF)
        else:
            _varint((v << 1) ^ (v >> (self.bits - 1)), out)  # zigzag: -1 -> 1, 1 -> 2

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        if self.bits == 8:
            _need(data, pos, 1, self.name)
            b = data[pos]
            return (b - 256 if b > 127 else b), pos + 1
        z, pos = _read_varint(data, pos, self.max_len, self.name)
        if z >= 1 << self.bits:
            raise DecodeError(f"a varint of {z}, more than an {self.name} holds")
        return (z >> 1) ^ -(z & 1), pos


class _Float(Type):
    def __init__(self, bits: int) -> None:
        self.name = f"f{bits}"
        self.format = "<f" if bits == 32 else "<d"
        self.size = bits // 8

    def encode(self, value: Any, out: bytearray) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"an {self.name} must be a float, not {type(value).__name__}")
        try:
            out += struct.pack(self.format, value)
        except (OverflowError, struct.error) as e:
            raise _fail(f"{value!r} does not fit in an {self.name}: {e}") from None

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        _need(data, pos, self.size, self.name)
        return struct.unpack_from(self.format, data, pos)[0], pos + self.size


class _Bool(Type):
    name = "bool"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise _fail(f"a bool must be True or False, not {type(value).__name__}")
        out.append(1 if value else 0)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        _need(data, pos, 1, "bool")
        b = data[pos]
        if b > 1:
            raise DecodeError(f"a bool byte of {b}; postcard writes only 0 and 1")
        return b == 1, pos + 1


def _read_len(data: bytes, pos: int, what: str) -> Tuple[int, int]:
    n, pos = _read_varint(data, pos, 10, f"length of a {what}")
    if n > len(data) - pos and what in ("String", "Vec<u8>"):
        raise DecodeError(f"a {what} of {n} bytes, but only {len(data) - pos} follow")
    return n, pos


class _String(Type):
    name = "String"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str):
            raise _fail(f"a String must be a str, not {type(value).__name__}")
        try:
            b = value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise _fail(f"a str Rust cannot hold (lone surrogates): {e}") from None
        _varint(len(b), out)
        out += b

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        n, pos = _read_len(data, pos, "String")
        try:
            return data[pos : pos + n].decode("utf-8"), pos + n
        except UnicodeDecodeError as e:
            raise DecodeError(f"a String that is not UTF-8: {e}") from None


class _Char(Type):
    name = "char"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str) or len(value) != 1:
            raise _fail(f"a char must be a str of one character, not {value!r}")
        _String().encode(value, out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        s, pos = _String().decode(data, pos)
        if len(s) != 1:
            raise DecodeError(f"a char of {len(s)} characters")
        return s, pos


class _Bytes(Type):
    name = "Vec<u8>"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _fail(f"a Vec<u8> must be bytes, not {type(value).__name__}")
        b = bytes(value)
        _varint(len(b), out)
        out += b

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        n, pos = _read_len(data, pos, "Vec<u8>")
        return bytes(data[pos : pos + n]), pos + n


class _ByteArray(Type):
    def __init__(self, n: int) -> None:
        self.n = n
        self.name = f"[u8; {n}]"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != self.n:
            raise _fail(f"a [u8; {self.n}] must be bytes of length {self.n}, not {value!r}")
        out += bytes(value)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        _need(data, pos, self.n, self.name)
        return bytes(data[pos : pos + self.n]), pos + self.n


class _Unit(Type):
    name = "()"

    def encode(self, value: Any, out: bytearray) -> None:
        if value is not None:
            raise _fail(f"a () must be None, not {value!r}")

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        return None, pos


class _Option(Type):
    def __init__(self, inner: Type) -> None:
        self.inner = inner
        self.name = f"Option<{inner.name}>"

    def encode(self, value: Any, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.inner.encode(value, out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        _need(data, pos, 1, self.name)
        tag = data[pos]
        if tag == 0:
            return None, pos + 1
        if tag != 1:
            raise DecodeError(f"an Option tag of {tag}; postcard writes only 0 and 1")
        return self.inner.decode(data, pos + 1)


class _Seq(Type):
    def __init__(self, inner: Type, make: Callable[[List[Any]], Any] = list, kind: str = "Vec") -> None:
        self.inner = inner
        self.make = make
        self.name = f"Vec<{inner.name}>"  # every sequence has the same layout
        self.kind = kind

    def encode(self, value: Any, out: bytearray) -> None:
        if isinstance(value, (str, bytes, bytearray, dict)) or not hasattr(value, "__iter__"):
            raise _fail(f"a {self.kind}<{self.inner.name}> must be a list, tuple or set, not {type(value).__name__}")
        items = list(value)
        _varint(len(items), out)
        for item in items:
            self.inner.encode(item, out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        n, pos = _read_len(data, pos, self.name)
        if n > len(data) - pos and not isinstance(self.inner, (_Unit,)):
            raise DecodeError(f"a {self.name} of {n} elements, but only {len(data) - pos} bytes follow")
        items = []
        for _ in range(n):
            item, pos = self.inner.decode(data, pos)
            items.append(item)
        return self.make(items), pos


class _Tuple(Type):
    def __init__(self, items: Sequence[Type], name: Optional[str] = None, make: Callable[[List[Any]], Any] = tuple) -> None:
        self.items = list(items)
        self.make = make
        self.name = name or ("(" + ", ".join(t.name for t in self.items) + ("," if len(self.items) == 1 else "") + ")")

    def _values(self, value: Any) -> List[Any]:
        if isinstance(value, (str, bytes, bytearray, dict)) or not hasattr(value, "__iter__"):
            raise _fail(f"a {self.name} must be a tuple, not {type(value).__name__}")
        values = list(value)
        if len(values) != len(self.items):
            raise _fail(f"a {self.name} has {len(self.items)} elements, not {len(values)}")
        return values

    def encode(self, value: Any, out: bytearray) -> None:
        for t, v in zip(self.items, self._values(value)):
            t.encode(v, out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        values = []
        for t in self.items:
            v, pos = t.decode(data, pos)
            values.append(v)
        return self.make(values), pos


class _Struct(_Tuple):
    """A dataclass or NamedTuple: its fields in order; the layout is that of their tuple."""

    def __init__(self, cls: type, fields: Sequence[Tuple[str, Type]]) -> None:
        self.cls = cls
        self.fields = [f for f, _ in fields]
        named_tuple = issubclass(cls, tuple)
        make = (lambda values: cls(*values)) if named_tuple else (lambda values: cls(**dict(zip(self.fields, values))))
        super().__init__([t for _, t in fields], make=make)

    def _values(self, value: Any) -> List[Any]:
        if not isinstance(value, self.cls):
            raise _fail(f"a {self.cls.__name__} is needed, not {type(value).__name__}")
        return [getattr(value, f) for f in self.fields]


class _Map(Type):
    def __init__(self, key: Type, value: Type) -> None:
        self.key, self.value = key, value
        self.name = f"Map<{key.name}, {value.name}>"

    def encode(self, value: Any, out: bytearray) -> None:
        if not hasattr(value, "items"):
            raise _fail(f"a {self.name} must be a dict, not {type(value).__name__}")
        items = list(value.items())
        _varint(len(items), out)
        for k, v in items:
            self.key.encode(k, out)
            self.value.encode(v, out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        n, pos = _read_len(data, pos, self.name)
        result = {}
        for _ in range(n):
            k, pos = self.key.decode(data, pos)
            v, pos = self.value.decode(data, pos)
            try:
                result[k] = v
            except TypeError:
                raise DecodeError(f"a map key of type {type(k).__name__}, which Python cannot hash") from None
        return result, pos


class _Enum(Type):
    """A unit-only Rust enum as a Python ``enum.Enum``: variant i is the i-th member."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.members = list(cls)  # type: ignore[call-overload]
        self.name = "enum{" + ", ".join(m.name for m in self.members) + "}"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, self.cls):
            raise _fail(f"a {self.cls.__name__} member is needed, not {value!r}")
        _varint(self.members.index(value), out)

    def decode(self, data: bytes, pos: int) -> Tuple[Any, int]:
        i, pos = _read_varint(data, pos, 5, "enum variant index")
        if i >= len(self.members):
            raise DecodeError(f"variant {i} of {self.cls.__name__}, which has {len(self.members)}")
        return self.members[i], pos


_PRIMITIVES: Dict[str, Type] = {
    "bool": _Bool(),
    "u8": _Unsigned(8), "u16": _Unsigned(16), "u32": _Unsigned(32), "u64": _Unsigned(64),
    "u128": _Unsigned(128), "usize": _Unsigned(64),
    "i8": _Signed(8), "i16": _Signed(16), "i32": _Signed(32), "i64": _Signed(64),
    "i128": _Signed(128), "isize": _Signed(64),
    "f32": _Float(32), "f64": _Float(64),
    "char": _Char(), "String": _String(), "str": _String(),
    "ByteBuf": _Bytes(), "Bytes": _Bytes(),
}

_PYTHON: Dict[Any, Type] = {
    str: _PRIMITIVES["String"], bytes: _Bytes(), bytearray: _Bytes(), bool: _Bool(),
    int: _PRIMITIVES["i64"], float: _PRIMITIVES["f64"], None: _Unit(), type(None): _Unit(),
}

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)|(\d+)|('[A-Za-z_]+)|(.))")


class _Parser:
    """Rust type syntax: paths with generics, tuples, arrays, references (``&'a str``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: List[Tuple[str, str]] = []
        for m in _TOKEN.finditer(text):
            ident, number, lifetime, other = m.groups()
            if ident:
                self.tokens.append(("ident", ident))
            elif number:
                self.tokens.append(("number", number))
            elif lifetime:
                self.tokens.append(("lifetime", lifetime))
            elif other and not other.isspace():
                self.tokens.append(("punct", other))
        self.i = 0

    def error(self, what: str) -> ValueError:
        return ValueError(f"cannot read the Rust type {self.text!r}: {what}")

    def peek(self) -> Optional[str]:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: Optional[str] = None) -> str:
        if self.i >= len(self.tokens):
            raise self.error(f"it ends where {expected or 'more'} was expected")
        kind, value = self.tokens[self.i]
        if expected is not None and value != expected:
            raise self.error(f"{expected!r} expected, found {value!r}")
        self.i += 1
        return value

    def parse(self) -> Type:
        t = self.type()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")
        return t

    def type(self) -> Type:
        token = self.take()
        if token == "(":
            items = []
            while self.peek() != ")":
                items.append(self.type())
                if self.peek() == ",":
                    self.take(",")
                elif self.peek() != ")":
                    raise self.error(f"',' or ')' expected, found {self.peek()!r}")
            self.take(")")
            return _Tuple(items) if items else _PYTHON[None]
        if token == "[":
            inner = self.type()
            if self.peek() == "]":
                raise self.error("a slice [T] has no size; use Vec<T> or [T; N]")
            self.take(";")
            n = int(self.take())
            self.take("]")
            if inner.name == "u8":
                return _ByteArray(n)
            return _Tuple([inner] * n, name=f"[{inner.name}; {n}]")
        if token == "&":
            if self.i < len(self.tokens) and self.tokens[self.i][0] == "lifetime":
                self.take()
            if self.peek() == "mut":
                self.take()
            if self.peek() == "[":  # &[u8], &[T]: a sequence
                self.take("[")
                inner = self.type()
                self.take("]")
                return _Bytes() if inner.name == "u8" else _Seq(inner)
            return self.type()
        name = token.split("::")[-1]
        args: List[Type] = []
        if self.peek() == "<":
            self.take("<")
            while True:
                args.append(self.type())
                if self.peek() == ",":
                    self.take(",")
                    if self.peek() == ">":
                        break
                else:
                    break
            self.take(">")
        return self._named(name, args)

    def _named(self, name: str, args: List[Type]) -> Type:
        def arity(n: int) -> None:
            if len(args) != n:
                raise self.error(f"{name} takes {n} type argument{'s' if n != 1 else ''}, not {len(args)}")

        if name in _PRIMITIVES:
            arity(0)
            return _PRIMITIVES[name]
        if name in ("Vec", "VecDeque", "LinkedList", "BinaryHeap"):
            arity(1)
            return _Bytes() if args[0].name == "u8" and name == "Vec" else _Seq(args[0])
        if name in ("HashSet", "BTreeSet", "IndexSet"):
            arity(1)
            return _Seq(args[0], make=set, kind=name)
        if name in ("HashMap", "BTreeMap", "IndexMap"):
            arity(2)
            return _Map(args[0], args[1])
        if name == "Option":
            arity(1)
            return _Option(args[0])
        if name in ("Box", "Rc", "Arc", "Cow"):
            arity(1)
            return args[0]
        raise self.error(
            f"unknown type {name!r}: write a struct as a dataclass or NamedTuple, or as the "
            "tuple of its field types, which postcard writes the same way"
        )


def type_of(spec: Any) -> Type:
    """The postcard type of ``spec``: a Rust type as a string, a Python type, a typing form
    (``Optional[str]``, ``List[int]``, ``Dict[str, int]``, ``Tuple[int, str]``), a dataclass,
    a NamedTuple, an ``enum.Enum`` or a tuple of any of these (``(int, str)``); a ``Type`` is
    returned as it is."""
    if isinstance(spec, Type):
        return spec
    if isinstance(spec, str):
        return _Parser(spec).parse()
    if isinstance(spec, tuple):  # (int, str): a tuple of those
        return _Tuple([type_of(s) for s in spec]) if spec else _PYTHON[None]
    try:
        if spec in _PYTHON:
            return _PYTHON[spec]
    except TypeError:
        pass
    origin = typing.get_origin(spec)
    args = typing.get_args(spec)
    if origin is typing.Union:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return _Option(type_of(rest[0]))
        raise ValueError(f"{spec!r}: only Optional[T] of the unions has a postcard layout")
    if origin in (list, typing.List):
        return _Seq(type_of(args[0]) if args else _fail_type(spec))
    if origin in (set, frozenset):
        return _Seq(type_of(args[0]), make=origin, kind="HashSet")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _Seq(type_of(args[0]), make=tuple)
        if args == ((),):
            return _PYTHON[None]
        return _Tuple([type_of(a) for a in args])
    if origin is dict:
        return _Map(type_of(args[0]), type_of(args[1]))
    if isinstance(spec, type):
        if issubclass(spec, enum.Enum):
            return _Enum(spec)
        if dataclasses.is_dataclass(spec):
            hints = typing.get_type_hints(spec)
            return _Struct(spec, [(f.name, type_of(hints.get(f.name, f.type))) for f in dataclasses.fields(spec)])
        if issubclass(spec, tuple) and hasattr(spec, "_fields"):
            hints = typing.get_type_hints(spec)
            missing = [f for f in spec._fields if f not in hints]  # type: ignore[attr-defined]
            if missing:
                raise ValueError(f"{spec.__name__}: fields {missing} have no type annotation")
            return _Struct(spec, [(f, type_of(hints[f])) for f in spec._fields])  # type: ignore[attr-defined]
    raise ValueError(
        f"{spec!r} has no postcard layout: use a Rust type in a string ('u64', 'Vec<String>'), "
        "str, bytes, int, float, bool, None, Optional/List/Tuple/Dict/Set of those, a dataclass, "
        "a NamedTuple or an enum.Enum"
    )


def _fail_type(spec: Any) -> Type:
    raise ValueError(f"{spec!r}: give the element type, as in List[int]")


def dumps(spec: Any, value: Any) -> bytes:
    """``value`` in postcard, as the Rust type ``spec``."""
    out = bytearray()
    type_of(spec).encode(value, out)
    return bytes(out)


def loads(spec: Any, data: bytes) -> Any:
    """The value of Rust type ``spec`` that ``data`` holds (all of it)."""
    t = type_of(spec)
    value, pos = t.decode(bytes(data), 0)
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} bytes left over after a {t.name}")
    return value


__all__ = ["CodecError", "DecodeError", "EncodeError", "Type", "dumps", "loads", "type_of"]

