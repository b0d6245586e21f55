"""SQLAlchemy 2 dialect for sqlited: ``create_engine("sqlite+sqlited://host:port/db")``.

It is SQLAlchemy's SQLite dialect (the pysqlite one) with the ``sqlited`` package as its
DBAPI; see ``dialect`` for what it changes, and python/README.md for the URL's parameters.
Installed with ``pip install "sqlited[sqlalchemy]"``; the ``sqlalchemy.dialects`` entry
point ``sqlite.sqlited`` makes the URL work without importing this module.
"""

from .dialect import SQLitedDialect

dialect = SQLitedDialect

__all__ = ["SQLitedDialect", "dialect"]
