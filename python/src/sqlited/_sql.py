"""Just enough of SQLite's lexer for a driver: statement kinds, named parameters, scripts.

The server parses SQL for real; the driver needs to know only what sqlite3 knows before it
calls SQLite: whether a statement is DML (for ``rowcount`` and implicit transactions), whether
it is transaction control (which the server takes as RPCs, not SQL), which named parameters it
has (the server refuses keys a statement does not use; sqlite3 ignores them), and where one
statement of a script ends.
"""

from __future__ import annotations

import re
from typing import Iterator, List, NamedTuple, Optional, Tuple

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
    | (?P<string>'(?:[^']|'')*'?)
    | (?P<quoted>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
    | (?P<param>[:@$][A-Za-z0-9_]+(?:::[A-Za-z0-9_]+)*(?:\([^)]*\))?|\?[0-9]*)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<semicolon>;)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class Token(NamedTuple):
    kind: str
    text: str
    end: int


def tokens(sql: str) -> Iterator[Token]:
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        if kind not in ("space", "comment"):
            yield Token(kind, match.group(), match.end())


def _words(sql: str, most: int) -> List[str]:
    out: List[str] = []
    for token in tokens(sql):
        if len(out) >= most:
            break
        out.append(token.text.upper() if token.kind == "word" else token.text)
    return out


def first_word(sql: str) -> str:
    words = _words(sql, 1)
    return words[0] if words else ""


def is_dml(sql: str) -> bool:
    """Whether sqlite3 counts the statement's changes (and opens a transaction for it)."""
    return first_word(sql) in ("INSERT", "UPDATE", "DELETE", "REPLACE")


def is_insert(sql: str) -> bool:
    """Whether sqlite3 takes ``lastrowid`` after the statement."""
    return first_word(sql) in ("INSERT", "REPLACE")


def returns_rows(sql: str) -> bool:
    """Whether the statement may return rows (executemany refuses them, as sqlite3 does)."""
    if first_word(sql) in ("SELECT", "VALUES", "PRAGMA", "EXPLAIN"):
        return True
    return any(t.kind == "word" and t.text.upper() == "RETURNING" for t in tokens(sql))


class Control(NamedTuple):
    """Transaction control: ``action`` is begin, commit, rollback or savepoint (unsupported)."""

    action: str
    mode: str = "DEFERRED"


def control(sql: str) -> Optional[Control]:
    """The transaction control a statement is, if it is."""
    words = _words(sql, 4)
    first = words[0] if words else ""
    if first == "BEGIN":
        mode = words[1] if len(words) > 1 and words[1] in ("IMMEDIATE", "EXCLUSIVE") else "DEFERRED"
        return Control("begin", mode)
    if first in ("COMMIT", "END"):
        return Control("commit")
    if first == "ROLLBACK":
        rest = [w for w in words[1:] if w != "TRANSACTION"]
        return Control("savepoint") if rest[:1] == ["TO"] else Control("rollback")
    if first in ("SAVEPOINT", "RELEASE"):
        return Control("savepoint")
    return None


def named_parameters(sql: str) -> List[Tuple[str, str]]:
    """The statement's named parameters, in order and once each, as (sigil+name, name)."""
    seen: List[Tuple[str, str]] = []
    for token in tokens(sql):
        if token.kind == "param" and token.text[0] != "?":
            entry = (token.text, token.text[1:])
            if entry not in seen:
                seen.append(entry)
    return seen


def split_script(script: str) -> List[str]:
    """The statements of a script, each with its semicolon, empty ones left out.

    A CREATE TRIGGER's body holds semicolons of its own: its statement ends at ``END ;``.
    """
    statements: List[str] = []
    start = 0
    words: List[str] = []
    previous = ""
    for token in tokens(script):
        if token.kind == "semicolon":
            in_trigger = "TRIGGER" in words[:4] and words[:1] == ["CREATE"]
            if not in_trigger or previous == "END":
                if words:
                    statements.append(script[start : token.end].strip())
                start, words, previous = token.end, [], ""
                continue
        if token.kind == "word":
            words.append(token.text.upper())
        previous = token.text.upper()
    if script[start:].strip() and words:
        statements.append(script[start:].strip())
    return statements
