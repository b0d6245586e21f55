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
    | (?P<word>[A-Za-z_\u0080-\U0010FFFF][A-Za-z0-9_$\u0080-\U0010FFFF]*)
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
    """Transaction control. ``action`` is begin, commit, rollback, or for savepoints
    savepoint, release, rollback_to; ``name`` is the savepoint's name, dequoted; ``error``,
    when set, is SQLite's complaint about a savepoint statement it could not parse."""

    action: str
    mode: str = "DEFERRED"
    name: str = ""
    sql: str = ""
    error: Optional[str] = None


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
        return _savepoint("rollback_to", sql) if rest[:1] == ["TO"] else Control("rollback")
    if first == "SAVEPOINT":
        return _savepoint("savepoint", sql)
    if first == "RELEASE":
        return _savepoint("release", sql)
    return None


# The words a savepoint statement may have before its name, in order (each optional but
# the first): SAVEPOINT nm, RELEASE [SAVEPOINT] nm, ROLLBACK [TRANSACTION] TO [SAVEPOINT] nm.
_SAVEPOINT_GRAMMAR = {
    "savepoint": (("SAVEPOINT", True),),
    "release": (("RELEASE", True), ("SAVEPOINT", False)),
    "rollback_to": (("ROLLBACK", True), ("TRANSACTION", False), ("TO", True), ("SAVEPOINT", False)),
}


def _savepoint(action: str, sql: str) -> Control:
    """A savepoint statement, its name dequoted as SQLite dequotes it; a statement SQLite
    would not parse carries SQLite's message in ``error``."""
    parts = [t for t in tokens(sql)]
    while parts and parts[-1].kind == "semicolon":
        parts.pop()
    at = 0
    for word, required in _SAVEPOINT_GRAMMAR[action]:
        if at < len(parts) and parts[at].kind == "word" and parts[at].text.upper() == word:
            at += 1
        elif required:
            break
    if at >= len(parts):
        return Control(action, sql=sql, error="incomplete input")
    name = parts[at]
    if name.kind not in ("word", "string", "quoted"):
        return Control(action, sql=sql, error=f'near "{name.text}": syntax error')
    if at + 1 < len(parts):
        return Control(action, sql=sql, error=f'near "{parts[at + 1].text}": syntax error')
    return Control(action, name=dequote(name.text), sql=sql)


def dequote(text: str) -> str:
    """An identifier or string as SQLite reads it: '…', "…" and `…` with the quote doubled
    inside, […] as written."""
    if len(text) >= 2 and text[0] in "'\"`" and text[-1] == text[0]:
        return text[1:-1].replace(text[0] * 2, text[0])
    if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
        return text[1:-1]
    return text


def same_name(a: str, b: str) -> bool:
    """Whether two savepoint names are one to SQLite: equal but for ASCII case."""
    return a.encode().lower() == b.encode().lower()


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
