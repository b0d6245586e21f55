"""SQLAlchemy's test provisioning for sqlite+sqlited (loaded by its test plugin only).

SQLite's own provisioning is taken as it is (the upsert construct, TEMPORARY tables, the
savepoint recipe), except where it reaches for the file system: it renames the database
to a file name per driver, ATTACHes a ``test_schema`` file to every connection and deletes
database files by name, none of which a client of a server can do (names are
``[A-Za-z0-9_-]``, the sandbox refuses ATTACH, the files are the server's).
"""

from sqlalchemy.dialects.sqlite import provision as _sqlite  # noqa: F401 - registers SQLite's
from sqlalchemy.testing.provision import (
    drop_db,
    follower_url_from_main,
    generate_driver_url,
    post_configure_engine,
)


@generate_driver_url.for_db("sqlite")
def _generate_driver_url(url, driver, query_str):
    """The URL as given, with the driver asked for (SQLAlchemy's default)."""
    return generate_driver_url.call_original(url, driver, query_str)


@follower_url_from_main.for_db("sqlite")
def _follower_url_from_main(url, ident):
    """A database of its own for each pytest-xdist worker (made by its first connection)."""
    url = follower_url_from_main.call_original(url, ident)
    return url


@post_configure_engine.for_db("sqlite")
def _post_configure_engine(url, engine, follower_ident):
    """No ATTACH: sqlited serves one schema, ``main``."""


@drop_db.for_db("sqlite")
def _drop_db(cfg, eng, ident):
    """Nothing to delete here: the database files are the server's."""
