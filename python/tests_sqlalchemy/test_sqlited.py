"""The dialect's own tests, beside the suite: savepoints, threads, the URL, reflection after
another connection's DDL, and what the server differs in."""

from __future__ import annotations

import decimal
import threading

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    create_engine,
    exc,
    func,
    inspect,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.testing import config, eq_, expect_raises_message, fixtures, is_

from sqlited.sqlalchemy import SQLitedDialect


def _engine(**kw):
    return create_engine(config.db.url, **kw)


class SavepointTest(fixtures.TablesTest):
    __backend__ = True

    @classmethod
    def define_tables(cls, metadata):
        Table("sp", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)))

    def _names(self, engine):
        with engine.connect() as conn:
            return conn.execute(text("SELECT name FROM sp ORDER BY id")).scalars().all()

    def test_nested_rollback_keeps_the_outer_work(self):
        sp = self.tables.sp
        engine = _engine()
        with engine.begin() as conn:
            conn.execute(sp.insert(), {"name": "outer"})
            nested = conn.begin_nested()
            conn.execute(sp.insert(), {"name": "inner"})
            nested.rollback()
            nested = conn.begin_nested()
            conn.execute(sp.insert(), {"name": "kept"})
            nested.commit()
        eq_(self._names(engine), ["outer", "kept"])
        engine.dispose()

    def test_release_commits_nothing_before_the_outer_commit(self):
        # A savepoint before any write: the dialect begins the server transaction first, so
        # that its RELEASE (SQLite's rule: releasing the outermost savepoint commits) leaves
        # the commit to the SQLAlchemy transaction.
        sp = self.tables.sp
        engine, other = _engine(), _engine()
        with engine.connect() as conn:
            conn.execute(select(func.count()).select_from(sp)).scalar()
            with conn.begin_nested():
                conn.execute(sp.insert(), {"name": "inside"})
            eq_(self._names(other), [])
            conn.rollback()
        eq_(self._names(other), [])
        with engine.begin() as conn:
            with conn.begin_nested():
                conn.execute(sp.insert(), {"name": "committed"})
            eq_(self._names(other), [])
        eq_(self._names(other), ["committed"])
        engine.dispose()
        other.dispose()

    def test_orm_session_begin_nested(self):
        sp = self.tables.sp
        engine = _engine()
        with Session(engine) as session:
            session.execute(sp.insert(), {"name": "a"})
            try:
                with session.begin_nested():
                    session.execute(sp.insert(), {"name": "b"})
                    raise KeyError("roll back b")
            except KeyError:
                pass
            with session.begin_nested():
                session.execute(sp.insert(), {"name": "c"})
            session.commit()
        eq_(self._names(engine), ["a", "c"])
        engine.dispose()

    def test_autocommit_commits_each_statement(self):
        sp = self.tables.sp
        engine, other = _engine(isolation_level="AUTOCOMMIT"), _engine()
        with engine.connect() as conn:
            conn.execute(sp.insert(), {"name": "now"})
            eq_(self._names(other), ["now"])
        engine.dispose()
        other.dispose()


class ThreadsTest(fixtures.TablesTest):
    __backend__ = True

    @classmethod
    def define_tables(cls, metadata):
        Table("hits", metadata, Column("id", Integer, primary_key=True), Column("worker", Integer))

    def test_a_pool_shared_by_threads(self):
        hits = self.tables.hits
        engine = _engine(pool_size=4, max_overflow=4)
        failures = []

        def work(worker):
            try:
                for _ in range(10):
                    with engine.begin() as conn:
                        conn.execute(hits.insert(), {"worker": worker})
                        conn.execute(select(func.count()).select_from(hits)).scalar()
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        eq_(failures, [])
        with engine.connect() as conn:
            eq_(conn.execute(select(func.count()).select_from(hits)).scalar(), 160)
        is_(engine.pool.checkedout(), 0)
        engine.dispose()


class ReflectionAfterOtherConnectionsDDLTest(fixtures.TestBase):
    __backend__ = True

    def test_indexes_and_foreign_keys_made_elsewhere(self, metadata):
        # The server answers from several SQLite connections; one whose schema predates this
        # DDL must not hide the new index's columns or the new table's foreign keys.
        readers = _engine()
        for _ in range(4):  # every reader loads the schema as it is now
            inspect(readers).get_table_names()
        Table("parent", metadata, Column("id", Integer, primary_key=True), Column("data", String(10), index=True))
        Table("child", metadata, Column("id", Integer, primary_key=True), Column("pid", Integer, ForeignKey("parent.id")))
        metadata.create_all(config.db)
        for _ in range(4):
            insp = inspect(readers)
            eq_([ix["column_names"] for ix in insp.get_indexes("parent")], [["data"]])
            eq_([fk["referred_table"] for fk in insp.get_foreign_keys("child")], ["parent"])
            is_(insp.has_table("child"), True)
        readers.dispose()


class LitestreamTablesTest(fixtures.TestBase):
    __backend__ = True

    def test_litestreams_tables_are_not_reflected(self, metadata):
        # A replicating server refuses Litestream's tables to every client; reflection leaves
        # them out (here, without replication, they are ordinary tables to make).
        Table("kept", metadata, Column("id", Integer, primary_key=True))
        metadata.create_all(config.db)
        with config.db.begin() as conn:
            conn.execute(text("CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)"))
        try:
            names = inspect(_engine()).get_table_names()
            is_("kept" in names, True)
            eq_([n for n in names if n.startswith("_litestream_")], [])
        finally:
            with config.db.begin() as conn:
                conn.execute(text("DROP TABLE _litestream_seq"))


class ServerDifferencesTest(fixtures.TestBase):
    __backend__ = True

    def test_floor_division_without_floor(self, connection):
        for left, right, expected in [("5.52", "2.4", 2), ("-5.52", "2.4", -3), ("-4.8", "2.4", -2), ("7", "2", 3)]:
            got = connection.scalar(select(literal_column(left, Numeric()) // literal_column(right, Numeric())))
            eq_(decimal.Decimal(got), decimal.Decimal(expected))
            bound = connection.scalar(select(literal(decimal.Decimal(left), Numeric()) // literal(decimal.Decimal(right), Numeric())))
            eq_(decimal.Decimal(bound), decimal.Decimal(expected))

    def test_server_version_is_the_servers(self, connection):
        version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
        eq_(".".join(map(str, config.db.dialect.server_version_info)), version)

    def test_isolation_levels(self):
        with expect_raises_message(exc.ArgumentError, "READ UNCOMMITTED"):
            _engine(isolation_level="READ UNCOMMITTED").connect()

    def test_floor_is_the_servers(self, connection):
        eq_(connection.scalar(select(func.floor(literal(2.7)))), 2)
        eq_(connection.scalar(select(func.floor(literal(-2.5)))), -3)

    def test_a_missing_database_is_created_unless_mode_rw(self):
        url = config.db.url.set(database=f"{config.db.url.database}_created")
        engine = create_engine(url)
        with engine.connect() as conn:
            eq_(conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar(), 0)
        engine.dispose()
        absent = config.db.url.set(database=f"{config.db.url.database}_absent")
        for mode in ("rw", "ro"):
            strict = create_engine(absent.update_query_dict({"mode": mode}))
            with expect_raises_message(exc.OperationalError, "does not exist"):
                strict.connect()
            strict.dispose()

    def test_mode_ro_reads_and_refuses_writes(self):
        with create_engine(config.db.url.set(database=f"{config.db.url.database}_ro")).begin() as conn:
            conn.execute(text("CREATE TABLE t (x)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        engine = create_engine(config.db.url.set(database=f"{config.db.url.database}_ro").update_query_dict({"mode": "ro"}))
        with engine.connect() as conn:
            eq_(conn.execute(text("SELECT count(*) FROM t")).scalar(), 1)
            with expect_raises_message(exc.OperationalError, "attempt to write a readonly database"):
                conn.execute(text("INSERT INTO t VALUES (2)"))
        engine.dispose()


class ConnectArgsTest(fixtures.TestBase):
    def _args(self, url):
        return SQLitedDialect().create_connect_args(make_url(url))

    def test_url_to_connect(self, tmp_path):
        eq_(self._args("sqlite+sqlited://db.example:50051/app"), (["http://db.example:50051/app"], {}))
        eq_(self._args("sqlite+sqlited://h/app?timeout=2.5&lease_ms=500"), (["http://h:50051/app"], {"timeout": 2.5, "lease_ms": 500}))
        eq_(self._args("sqlite+sqlited://:s3cret@h:1/app?tls=true"), (["https://h:1/app"], {"token": "s3cret"}))
        eq_(self._args("sqlite+sqlited://[::1]:7/app"), (["http://[::1]:7/app"], {}))
        eq_(self._args("sqlite+sqlited://h/app?mode=rw"), (["http://h:50051/app?mode=rw"], {}))
        eq_(self._args("sqlite+sqlited://h:1/app?token=t&isolation_level=IMMEDIATE"), (["http://h:1/app"], {"token": "t", "isolation_level": "IMMEDIATE"}))
        ca = tmp_path / "ca.pem"
        ca.write_bytes(b"PEM")
        eq_(self._args(f"sqlite+sqlited://h:1/app?root_certificates={ca}"), (["https://h:1/app"], {"root_certificates": b"PEM"}))
        eq_(repr(make_url("sqlite+sqlited://:s3cret@h:1/app")), "sqlite+sqlited://:***@h:1/app")

    def test_bad_urls_say_what_to_do(self):
        for url, message in [
            ("sqlite+sqlited:///app", "needs a server"),
            ("sqlite+sqlited://h:1", "needs one database name"),
            ("sqlite+sqlited://h:1/a/b", "needs one database name"),
            ("sqlite+sqlited://user@h:1/app", "no user names"),
            ("sqlite+sqlited://h:1/app?tokn=x", "parameter\\(s\\) tokn: the known ones are detect_types, isolation_level"),
            ("sqlite+sqlited://h:1/app?mode=memory", "open modes are rwc"),
            ("sqlite+sqlited://:a@h:1/app?token=b", "given twice"),
            ("sqlite+sqlited://h:1/app?root_certificates=/nonexistent.pem", "cannot read it"),
        ]:
            with expect_raises_message(exc.ArgumentError, message):
                self._args(url)

    def test_entry_point(self):
        eq_(type(create_engine("sqlite+sqlited://h:1/app").dialect), SQLitedDialect)
        engine = create_engine("sqlite+sqlited://h:1/app")
        eq_(type(engine.pool).__name__, "QueuePool")
