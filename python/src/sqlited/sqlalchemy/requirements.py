"""What sqlite+sqlited offers, for SQLAlchemy's dialect compliance suite.

Named by the suite's ``requirement_cls`` (python/tests_sqlalchemy/setup.cfg) and never
imported by applications. SQLite is SQLite: where SQLAlchemy's own test requirements answer
for SQLite, the answer here is the same, and ``SuiteRequirements`` (which is conservative
for a dialect it does not know) is overridden to say so. Where a server differs from a
file (no TEMP objects outside a transaction, no ATTACH, no Python functions inside
SQLite), the requirement is closed with the reason, and python/README.md lists the tests
this skips.
"""

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements


def _yes():
    return exclusions.open()


def _no(reason):
    """Skipped, with why: the reason pytest prints for each skipped test."""
    return exclusions.skip_if(lambda config: True, reason)


def _fails(reason):
    """Run, and expected to fail as it fails on SQLite itself (xfail)."""
    return exclusions.fails_if(lambda config: True, reason)


NO_TEMP = (
    "TEMP tables and views: the server allows them only inside an interactive transaction, "
    "which drops them when it ends (a request's SQLite connection is shared with others)"
)
NO_SCHEMAS = "schemas: the server serves one schema, main (its sandbox refuses ATTACH)"
NO_THIRD_ISOLATION_LEVEL = (
    "needs an isolation level besides SERIALIZABLE and AUTOCOMMIT: SQLite's other one, READ "
    "UNCOMMITTED, works only between connections sharing a cache in one process (the "
    "sandbox refuses PRAGMA read_uncommitted)"
)
FOREIGN_KEYS_ENFORCED = (
    "the server always enforces foreign keys (SQLite's default is not to): this test's table "
    "has a foreign key to a column that is not unique, which SQLite then refuses to write to "
    "or drop (foreign key mismatch)"
)


class Requirements(SuiteRequirements):
    # SQL that SQLite has and SuiteRequirements does not assume.
    boolean_col_expressions = property(lambda self: _yes())
    ctes = property(lambda self: _yes())
    ctes_with_values = property(lambda self: _yes())
    intersect = property(lambda self: _yes())
    except_ = property(lambda self: _yes())
    window_functions = property(lambda self: _yes())
    tuple_in = property(lambda self: _yes())
    tuple_in_w_empty = property(lambda self: _yes())
    update_from = property(lambda self: _yes())
    nullsordering = property(lambda self: _yes())
    mod_operator_as_percent_sign = property(lambda self: _yes())
    order_by_label_with_expression = property(lambda self: _yes())
    fetch_expression = property(lambda self: _yes())
    fetch_offset_with_options = property(lambda self: _yes())
    supports_bitwise_and = property(lambda self: _yes())
    supports_bitwise_or = property(lambda self: _yes())
    supports_bitwise_not = property(lambda self: _yes())
    supports_bitwise_xor = property(lambda self: _yes())
    supports_bitwise_shift = property(lambda self: _yes())
    table_ddl_if_exists = property(lambda self: _yes())
    index_ddl_if_exists = property(lambda self: _yes())
    views = property(lambda self: _yes())
    view_column_reflection = property(lambda self: _yes())
    view_reflection = property(lambda self: _yes())
    server_defaults = property(lambda self: _yes())
    expression_server_defaults = property(lambda self: _yes())
    computed_columns = property(lambda self: _yes())
    computed_columns_stored = property(lambda self: _yes())
    computed_columns_virtual = property(lambda self: _yes())
    computed_columns_reflect_persisted = property(lambda self: _yes())
    indexes_with_expressions = property(lambda self: _yes())
    indexes_check_column_order = property(lambda self: _yes())
    unicode_ddl = property(lambda self: _yes())
    nvarchar_types = property(lambda self: _yes())
    percent_schema_names = property(lambda self: _yes())
    json_type = property(lambda self: _yes())
    json_array_indexes = property(lambda self: _yes())
    legacy_unconditional_json_extract = property(lambda self: _yes())

    # Types and values.
    datetime_literals = property(lambda self: _yes())
    datetime_historic = property(lambda self: _yes())
    date_historic = property(lambda self: _yes())
    infinity_floats = property(lambda self: _yes())
    precision_numerics_enotation_small = property(lambda self: _yes())
    precision_numerics_retains_significant_digits = property(lambda self: _yes())
    float_or_double_precision_behaves_generically = property(lambda self: _yes())

    # Reflection: PRAGMA table_info, index_list, foreign_key_list… (the sandbox allows them)
    # and the CREATE statements in sqlite_master.
    check_constraint_reflection = property(lambda self: _yes())
    inline_check_constraint_reflection = property(lambda self: _yes())
    reflects_pk_names = property(lambda self: _yes())
    foreign_key_constraint_name_reflection = property(lambda self: _yes())
    foreign_key_constraint_option_reflection_ondelete = property(lambda self: _yes())
    foreign_key_constraint_option_reflection_onupdate = property(lambda self: _yes())
    fk_constraint_option_reflection_ondelete_restrict = property(lambda self: _yes())
    fk_constraint_option_reflection_ondelete_noaction = property(lambda self: _yes())
    fk_constraint_option_reflection_onupdate_restrict = property(lambda self: _yes())
    non_updating_cascade = property(lambda self: _yes())
    # SQLite's dialect reflects sqlite_with_rowid and sqlite_strict.
    reflect_table_options = property(lambda self: _yes())

    # cursor.lastrowid, as sqlite3's.
    dbapi_lastrowid = property(lambda self: _yes())

    # Transactions: the server's (SERIALIZABLE), AUTOCOMMIT, and savepoints.
    isolation_level = property(lambda self: _yes())
    autocommit = property(lambda self: _yes())
    skip_autocommit_rollback = property(lambda self: _yes())
    savepoints = property(lambda self: _yes())

    def get_isolation_levels(self, config):
        return {"default": "SERIALIZABLE", "supported": ["SERIALIZABLE", "AUTOCOMMIT"]}

    @property
    def order_by_collation(self):
        return _yes()

    def get_order_by_collation(self, config):
        return "NOCASE"

    # What SQLite itself lacks, as SQLAlchemy's requirements say for it.
    implicitly_named_constraints = property(
        lambda self: _no("SQLite does not name constraints that were not named")
    )
    on_update_cascade = property(lambda self: _no("SQLite's ON UPDATE CASCADE is not tested by SQLAlchemy either"))
    nested_aggregates = property(lambda self: _no("SQLite does not allow an aggregate inside an aggregate"))
    json_index_supplementary_unicode_element = property(
        lambda self: _no("SQLite's JSON path of supplementary characters (https://bugs.python.org/issue38749)")
    )
    numeric_received_as_decimal_untyped = property(
        lambda self: _fails("SQLite returns no Decimal without a type to convert it")
    )
    parens_in_union_contained_select_w_limit_offset = property(
        lambda self: _fails("SQLite does not take (SELECT … LIMIT …) UNION (SELECT …)")
    )
    parens_in_union_contained_select_wo_limit_offset = property(
        lambda self: _fails("SQLite does not take (SELECT …) UNION (SELECT …)")
    )

    # What the server does not give, where a file would.
    regexp_match = property(
        lambda self: _no(
            "REGEXP: SQLite has no regexp() of its own; pysqlite registers a Python one on each "
            "connection (create_function), which a server cannot run"
        )
    )
    schemas = property(lambda self: _no(NO_SCHEMAS))
    temporary_tables = property(lambda self: _no(NO_TEMP))
    temp_table_reflection = property(lambda self: _no(NO_TEMP))
    temp_table_reflect_indexes = property(lambda self: _no(NO_TEMP))
    temp_table_names = property(lambda self: _no(NO_TEMP))
    has_temp_table = property(lambda self: _no(NO_TEMP))
    temporary_views = property(lambda self: _no(NO_TEMP))
    foreign_keys_unenforced = property(lambda self: _no(FOREIGN_KEYS_ENFORCED))


def _describe_closed(name, prop):
    """The suite's own requirement, with a reason that names it when it is closed (its
    default says only "marked as skip"): for these, SQLAlchemy's requirements for SQLite
    say no too (SQLite lacks the feature: FETCH FIRST, comments, sequences, …)."""
    summary = " ".join((prop.__doc__ or "").split()).split(". ")[0].rstrip(".")
    reason = f"{name}: SQLite has no such feature ({summary})" if summary else f"{name}: not in SQLite"

    def get(self):
        value = prop.fget(self)
        for predicate in getattr(value, "skips", ()):
            if isinstance(predicate, exclusions.BooleanPredicate) and predicate.description == "marked as skip":
                predicate.description = reason.replace("%", "%%")
        return value

    return property(get, doc=prop.__doc__)


for _name, _prop in list(vars(SuiteRequirements).items()):
    if isinstance(_prop, property) and _name not in vars(Requirements):
        setattr(Requirements, _name, _describe_closed(_name, _prop))
