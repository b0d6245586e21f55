"""PEP 249's constructors and type objects.

The constructors are sqlite3's (``Binary`` is ``memoryview``; the dates are ``datetime``'s
classes). sqlite3 defines no type objects; these compare equal to the names of
declared types by SQLite's affinity rules (``NUMBER == "INTEGER"``), which is what
``description`` holds as a column's type code (None for an expression; sqlite3 gives None
always).
"""

from __future__ import annotations

import datetime
import time
from typing import Any

Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime
Binary = memoryview


def DateFromTicks(ticks: float) -> datetime.date:
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> datetime.time:
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> datetime.datetime:
    return Timestamp(*time.localtime(ticks)[:6])


class DBAPITypeObject:
    """A PEP 249 type object: equal to every type code of its kind."""

    def __init__(self, name: str, *words: str) -> None:
        self.name = name
        self._words = words

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, DBAPITypeObject):
            return other is self
        if not isinstance(other, str):
            return NotImplemented
        declared = other.upper()
        return any(word in declared for word in self._words)

    def __ne__(self, other: Any) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<DBAPITypeObject {self.name}>"


# SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1) by the words they look for.
STRING = DBAPITypeObject("STRING", "CHAR", "CLOB", "TEXT")
BINARY = DBAPITypeObject("BINARY", "BLOB")
NUMBER = DBAPITypeObject("NUMBER", "INT", "REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL", "BOOL")
DATETIME = DBAPITypeObject("DATETIME", "DATE", "TIME")
ROWID = DBAPITypeObject("ROWID", "ROWID")
