"""``iterdump()``: the database as SQL text, as sqlite3's ``Connection.iterdump()`` writes
it (so the text loads into sqlite3 as sqlite3's own dump does), written once for both
drivers.

``steps()`` is the dump itself, a generator that does no I/O: it yields the dump's lines
(``str``), ``Query`` (the rows are sent back to it, as a list) and ``Lines`` (each row's
first column is a line of the dump, streamed by the driver without being kept). ``run``
drives it on a blocking connection, ``arun`` on an asyncio one.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Generator, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import values
from ._proto import database_pb2, values_pb2

# The tables Litestream keeps in a database it replicates, which no client may read.
_LITESTREAM = "_litestream_%"


class Query(NamedTuple):
    """Rows the dump needs back (a few: the schema, a table's columns)."""

    sql: str
    params: Tuple[Any, ...] = ()


class Lines(NamedTuple):
    """A query whose rows' first column, each followed by ``;``, are lines of the dump."""

    sql: str
    params: Tuple[Any, ...] = ()


Step = Union[str, Query, Lines]
Rows = Iterable[Tuple[Any, ...]]


def _name(name: str) -> str:
    return '"{}"'.format(name.replace('"', '""'))


def _text(value: str) -> str:
    return "'{}'".format(value.replace("'", "''"))


def steps(filter: Optional[str] = None) -> Generator[Step, Optional[List[Tuple[Any, ...]]], None]:  # noqa: A002
    """The dump, in sqlite3's order: tables (by name) with their rows, then indexes,
    triggers and views, then AUTOINCREMENT's counters; ``filter`` is a LIKE pattern of the
    names to dump."""
    if (yield Query("PRAGMA foreign_key_check")):
        yield "PRAGMA foreign_keys=OFF;"
    yield "BEGIN TRANSACTION;"
    where, params = ('AND "name" LIKE ?', (filter,)) if filter else ("", ())
    not_litestream = f"AND \"name\" NOT LIKE '{_LITESTREAM}'"
    tables = yield Query(
        'SELECT "name", "type", "sql" FROM "sqlite_master" WHERE "sql" NOT NULL AND '
        f'"type" == \'table\' {not_litestream} {where} ORDER BY "name"',
        params,
    )
    sequences: List[str] = []
    writable_schema = False
    for table, _, sql in tables or ():
        if table == "sqlite_sequence":
            counters = yield Query('SELECT * FROM "sqlite_sequence"')
            sequences = ['DELETE FROM "sqlite_sequence";'] + [
                f'INSERT INTO "sqlite_sequence" VALUES({_text(name)},{seq});' for name, seq in counters or ()
            ]
            continue
        if table == "sqlite_stat1":
            yield 'ANALYZE "sqlite_master";'
        elif table.startswith("sqlite_"):
            continue
        elif sql.startswith("CREATE VIRTUAL TABLE"):
            # As sqlite3 dumps one: its schema row written as is, since creating it again
            # would create its shadow tables, which the dump creates itself.
            if not writable_schema:
                writable_schema = True
                yield "PRAGMA writable_schema=ON;"
            yield (
                "INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql)"
                f"VALUES('table',{_text(table)},{_text(table)},0,{_text(sql)});"
            )
        else:
            yield f"{sql};"
        # pragma_table_info rather than PRAGMA table_info: the server's readers answer a
        # PRAGMA statement from the schema they last saw, the function from the current one.
        columns = yield Query("SELECT name FROM pragma_table_info(?)", (table,))
        quoted = "','".join(f"||quote({_name(str(column))})||" for column, in columns or ())
        into = _name(table).replace("'", "''")  # inside the SQL string literal
        yield Lines(f"SELECT 'INSERT INTO {into} VALUES('{quoted}')' FROM {_name(table)}")
    others = yield Query(
        'SELECT "name", "type", "sql" FROM "sqlite_master" WHERE "sql" NOT NULL AND '
        f"\"type\" IN ('index', 'trigger', 'view') {not_litestream} {where}",
        params,
    )
    for _, _, sql in others or ():
        yield f"{sql};"
    if writable_schema:
        yield "PRAGMA writable_schema=OFF;"
    yield from sequences
    yield "COMMIT;"


def run(dump: Generator[Step, Any, None], query: Callable[[str, Sequence[Any]], Rows]) -> Iterator[str]:
    """The lines of ``dump``, its queries answered by ``query(sql, params)``."""
    answer = None
    while True:
        try:
            step = dump.send(answer)
        except StopIteration:
            return
        answer = None
        if isinstance(step, Query):
            answer = list(query(step.sql, step.params))
        elif isinstance(step, Lines):
            for row in query(step.sql, step.params):
                yield f"{row[0]};"
        else:
            yield step


async def arun(
    dump: Generator[Step, Any, None], query: Callable[[str, Sequence[Any]], AsyncIterator[Tuple[Any, ...]]]
) -> AsyncIterator[str]:
    """``run`` for asyncio: ``query`` returns an async iterator of rows."""
    answer = None
    while True:
        try:
            step = dump.send(answer)
        except StopIteration:
            return
        answer = None
        if isinstance(step, Query):
            answer = [row async for row in query(step.sql, step.params)]
        elif isinstance(step, Lines):
            async for row in query(step.sql, step.params):
                yield f"{row[0]};"
        else:
            yield step


def request(database: str, tx: str, sql: str, params: Sequence[Any]) -> Any:
    """The QueryRequest of one of the dump's queries, in transaction ``tx``."""
    statement = values_pb2.Statement(sql=sql)
    values.bind(statement, sql, tuple(params))
    return database_pb2.QueryRequest(database=database, statement=statement, transaction_id=tx)


def values_of(row: Any) -> Tuple[Any, ...]:
    """A row as plain Python values."""
    return tuple(values.from_value(v) for v in row.values)
