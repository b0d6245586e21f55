"""``sqlited.Row``: a row factory like ``sqlite3.Row``."""

from __future__ import annotations

from typing import Any, Iterator, List, Sequence, Tuple, Union


class Row:
    """A tuple that also answers to its columns' names (case-insensitively), as sqlite3.Row:
    ``conn.row_factory = sqlited.Row``."""

    __slots__ = ("_description", "_values")

    def __init__(self, cursor: Any, values: Tuple[Any, ...]) -> None:
        if not isinstance(values, tuple):
            raise TypeError("Row() argument 2 must be tuple")
        self._description = cursor.description
        self._values = values

    def keys(self) -> List[str]:
        return [column[0] for column in self._description or ()]

    def __getitem__(self, key: Union[int, slice, str]) -> Any:
        if isinstance(key, str):
            folded = key.casefold()
            for i, column in enumerate(self._description or ()):
                if column[0].casefold() == folded:
                    return self._values[i]
            raise IndexError("No item with that key")
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self._description == other._description and self._values == other._values

    def __hash__(self) -> int:
        return hash((tuple(self.keys()), self._values))

    def __repr__(self) -> str:
        return f"<sqlited.Row {dict(zip(self.keys(), self._values))!r}>"
