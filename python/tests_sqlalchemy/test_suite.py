"""SQLAlchemy's dialect compliance suite, as third-party dialects run it.

A few of its tests take a second schema or a third isolation level without asking the
requirements; they are skipped here with the reason (python/README.md lists them all).
"""

from sqlalchemy import testing
from sqlalchemy.testing import config
from sqlalchemy.testing.suite import *  # noqa: F401,F403
from sqlalchemy.testing.suite import ComponentReflectionTest as _ComponentReflectionTest
from sqlalchemy.testing.suite import ComponentReflectionTestExtra as _ComponentReflectionTestExtra
from sqlalchemy.testing.suite import IsolationLevelTest as _IsolationLevelTest
from sqlalchemy.testing.suite import UnicodeSchemaTest as _UnicodeSchemaTest

from sqlited.sqlalchemy.requirements import NO_SCHEMAS, NO_THIRD_ISOLATION_LEVEL


class ComponentReflectionTest(_ComponentReflectionTest):
    @testing.combinations(True, False, argnames="use_schema")
    @testing.combinations((True, testing.requires.views), False, argnames="views")
    def test_metadata(self, connection, use_schema, views):
        if use_schema:
            config.skip_test(NO_SCHEMAS)
        # The suite's own test, past its combinations' wrapper (the last argument is the
        # exclusions of that combination, already applied by this one's).
        super().test_metadata(connection, use_schema, views, ())


class ComponentReflectionTestExtra(_ComponentReflectionTestExtra):
    @testing.fixture(params=[True, False])
    def use_schema_fixture(self, request):
        if request.param:
            config.skip_test(NO_SCHEMAS)
        return None


class IsolationLevelTest(_IsolationLevelTest):
    def test_dialect_user_setting_is_restored(self, testing_engine):
        config.skip_test(NO_THIRD_ISOLATION_LEVEL)


class UnicodeSchemaTest(_UnicodeSchemaTest):
    __requires__ = ("unicode_ddl", "foreign_keys_unenforced")
