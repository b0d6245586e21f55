"""Python values to sqlited's ``Value`` and back: adapters, converters and binding.

The defaults are sqlite3's: int, float, str, bytes-like and None bind as themselves (bool as
an int); ``date`` and ``datetime`` bind as ISO 8601 text through default adapters, which
Python 3.12 deprecates (so they warn, as there); anything else needs ``register_adapter``
(Decimal included: sqlite3 has no default for it). Columns are converted back only when a
connection asks with ``detect_types``, by the converters ``register_converter`` names ("date"
and "timestamp" by default, likewise deprecated).
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from google.protobuf import struct_pb2

from ._proto import values_pb2
from ._sql import named_parameters
from .exceptions import IntegerOverflowError, ProgrammingError

PARSE_DECLTYPES = 1
PARSE_COLNAMES = 2

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1

Adapter = Callable[[Any], Any]
Converter = Callable[[bytes], Any]

# Keyed by (type, PrepareProtocol) as in sqlite3; only the type matters here.
adapters: Dict[Tuple[type, Any], Adapter] = {}
converters: Dict[str, Converter] = {}


class PrepareProtocol:
    """sqlite3's protocol marker for ``__conform__``."""


def register_adapter(type_: type, adapter: Adapter) -> None:
    """Binds values of ``type_`` as ``adapter(value)`` (which must give a bindable value)."""
    adapters[(type_, PrepareProtocol)] = adapter


def register_converter(typename: str, converter: Converter) -> None:
    """Converts columns declared (or named, with PARSE_COLNAMES) ``typename`` with
    ``converter(bytes)``; the name is matched case-insensitively."""
    converters[typename.upper()] = converter


def _deprecated(what: str) -> None:
    warnings.warn(
        f"The default {what} is deprecated as of Python 3.12; see the sqlite3 documentation "
        "for suggested replacement recipes",
        DeprecationWarning,
        stacklevel=5,
    )


def _adapt_date(value: datetime.date) -> str:
    _deprecated("date adapter")
    return value.isoformat()


def _adapt_datetime(value: datetime.datetime) -> str:
    _deprecated("datetime adapter")
    return value.isoformat(" ")


def _convert_date(value: bytes) -> datetime.date:
    _deprecated("date converter")
    return datetime.date(*map(int, value.split(b"-")))


def _convert_timestamp(value: bytes) -> datetime.datetime:
    _deprecated("timestamp converter")
    datepart, timepart = value.split(b" ")
    year, month, day = map(int, datepart.split(b"-"))
    timepart_full = timepart.split(b".")
    hours, minutes, seconds = map(int, timepart_full[0].split(b":"))
    microseconds = int(f"{timepart_full[1].decode():0<6.6}") if len(timepart_full) == 2 else 0
    return datetime.datetime(year, month, day, hours, minutes, seconds, microseconds)


register_adapter(datetime.date, _adapt_date)
register_adapter(datetime.datetime, _adapt_datetime)
register_converter("date", _convert_date)
register_converter("timestamp", _convert_timestamp)

NULL = values_pb2.Value(null=struct_pb2.NULL_VALUE)


def adapt(value: Any, protocol: Any = PrepareProtocol, alt: Any = None) -> Any:
    """sqlite3.adapt: the registered adapter's result, or ``__conform__``'s."""
    adapter = adapters.get((type(value), protocol))
    if adapter is not None:
        return adapter(value)
    conform = getattr(value, "__conform__", None)
    if conform is not None:
        adapted = conform(protocol)
        if adapted is not None:
            return adapted
    if alt is not None:
        return alt
    raise ProgrammingError("can't adapt")


def to_value(value: Any, position: Union[int, str]) -> Any:
    """The ``Value`` message for one parameter; ``position`` (1-based, or the name) is for
    the error message, worded as sqlite3's."""
    if type(value) not in (int, float, str, bytes, type(None)):
        adapter = adapters.get((type(value), PrepareProtocol))
        if adapter is not None:
            value = adapter(value)
        elif hasattr(value, "__conform__"):
            conformed = value.__conform__(PrepareProtocol)
            value = value if conformed is None else conformed
    if value is None:
        return NULL
    if isinstance(value, int):  # bool too
        if not _I64_MIN <= value <= _I64_MAX:
            raise IntegerOverflowError("Python int too large to convert to SQLite INTEGER")
        return values_pb2.Value(integer=int(value))
    if isinstance(value, float):
        return values_pb2.Value(real=value)
    if isinstance(value, str):
        return values_pb2.Value(text=value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return values_pb2.Value(blob=bytes(value))
    where = f"parameter {position}" if isinstance(position, int) else f"parameter :{position}"
    raise ProgrammingError(
        f"Error binding {where}: type '{type(value).__name__}' is not supported"
    )


def bind(statement: Any, sql: str, parameters: Optional[Any], names: Optional[Sequence[Tuple[str, str]]] = None) -> None:
    """Fills ``statement``'s parameters as sqlite3 binds them: a mapping (a ``dict`` or any
    non-sequence mapping) by name, looking up only the names the SQL uses; a sequence by
    position."""
    if parameters is None:
        return  # the server counts what is missing, as SQLite does for sqlite3
    if isinstance(parameters, Mapping) and not isinstance(parameters, (tuple, list)):
        for sigil_name, name in named_parameters(sql) if names is None else names:
            try:
                value = parameters[name]
            except KeyError:
                raise ProgrammingError(
                    f"You did not supply a value for binding parameter {sigil_name}."
                ) from None
            statement.named_params[name].CopyFrom(to_value(value, name))
        return
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Sequence):
        raise ProgrammingError("parameters are of unsupported type")
    statement.params.extend(to_value(v, i + 1) for i, v in enumerate(parameters))


def from_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    return getattr(value, kind)


def to_bytes(value: Any) -> bytes:
    """A column's value as the bytes a converter receives (sqlite3_column_blob's)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()
