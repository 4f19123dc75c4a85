"""Queries of the hot paths, built by the ORM once per process and then only run.

Django compiles a queryset to SQL on every use: for the widget's poll, its two small queries
cost more CPU to build than PostgreSQL takes to answer them. A `CompiledQuery` asks the ORM
once (so quoting, joins and lookups stay the ORM's), with a marker number in place of each
named value, and after that only binds the values to the SQL it kept.

Only for querysets whose SQL depends on nothing but the named values: constants (a LIMIT, a
list of kinds) are part of the shape. Table names are unqualified, as the ORM writes them, so
the tenant's search path decides the schema, exactly as for the queryset itself.

Writes: `CompiledQuery(lambda ...: update_query(queryset, field=Value(name), ...)).execute()`
is the queryset's `update()`; `CompiledInsert(Model).create(**fields)` is
`Model.objects.create(**fields)` (the same INSERT ... RETURNING, the same field preparation,
the model's pre_save/post_save signals sent as `save()` sends them).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.db.models import QuerySet
from django.db.models.constants import OnConflict
from django.db.models.signals import post_save, pre_init, pre_save
from django.db.models.sql import InsertQuery, UpdateQuery
from django.db.models.sql.compiler import SQLCompiler
from django.utils.functional import Promise

# One per named value, at the top of PostgreSQL's `integer` range (a number outside a field's
# range makes the ORM drop the condition, and no constant of a shape is this large).
_MARKER_BASE = 2**31 - 1


class CompiledQuery:
    def __init__(self, build: Callable[..., QuerySet], *names: str, texts: tuple[str, ...] = ()):
        """`build(**{name: value})` returns the queryset (ending in values_list or a slice of
        it); each named value is an integer (an id, a number, a cursor), or a string if it is
        named in `texts`, and must reach the SQL as one parameter. Rows come back as the
        database driver gives them (no ORM converters)."""
        self._build, self._names, self._texts = build, (*names, *texts), set(texts)
        self._compiled: tuple[str, list, list, list] | None = None
        self._lock = threading.Lock()

    def _marker(self, i: int, name: str):
        return f"\x00compiled-query-marker-{i}\x00" if name in self._texts else _MARKER_BASE - i

    def _compile(self) -> tuple[str, list, list, list]:
        markers = {name: self._marker(i, name) for i, name in enumerate(self._names)}
        compiler = self._build(**markers).query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
        # What the ORM does to each row as it reads it (e.g. JSON text to objects), and which
        # model field each column is, for `instances`. (An UPDATE selects nothing.)
        expressions = [expression for expression, _, _ in getattr(compiler, "select", None) or []]
        converters = compiler.get_converters(expressions)
        columns = [(getattr(e, "target", None) and e.target.model, getattr(getattr(e, "target", None), "attname", None)) for e in expressions]
        # (The ORM may hand a marker back wrapped, e.g. psycopg's Int4: an int, equal to it.)
        by_marker = {(isinstance(marker, str), marker): name for name, marker in markers.items()}
        # Each parameter: a named value (its name) or a constant of the shape (kept as is).
        slots = [("name", by_marker[(isinstance(param, str), param)]) if (isinstance(param, str), param) in by_marker
                 else ("constant", param) for param in params]
        missing = set(self._names) - {value for kind, value in slots if kind == "name"}
        if missing:
            raise ValueError(f"the queryset does not use {sorted(missing)} as parameters")
        return sql, slots, converters, columns

    def _sql_and_params(self, values: dict) -> tuple[str, list]:
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._compile()
        sql, slots, _, _ = self._compiled
        return sql, [values[value] if kind == "name" else value for kind, value in slots]

    def execute(self, **values) -> int:
        """Runs a write (see `update_query`); returns the number of rows it changed."""
        sql, params = self._sql_and_params(values)
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def rows(self, **values) -> list[tuple]:
        sql, params = self._sql_and_params(values)
        _, _, converters, _ = self._compiled
        db = connections[DEFAULT_DB_ALIAS]  # once: each read through the `connection` proxy costs a dozen calls
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters and rows:
            compiler = _ConverterHost(db)
            rows = [tuple(row) for row in compiler.apply_converters(rows, converters)]
        return rows

    def instances(self, **values) -> list[tuple]:
        """Per row, one model instance per model the query selects (the queryset's own model
        first, then each select_related one, in the order the ORM selects them)."""
        rows = self.rows(**values)
        _, _, _, columns = self._compiled
        result = []
        for row in rows:
            objects, start = [], 0
            while start < len(columns):
                model = columns[start][0]
                end = start
                while end < len(columns) and columns[end][0] is model:
                    end += 1
                objects.append(model.from_db(connection.alias, [name for _, name in columns[start:end]], row[start:end]))
                start = end
            result.append(tuple(objects))
        return result


class _ConverterHost(SQLCompiler):
    """SQLCompiler.apply_converters needs a compiler only for its connection."""

    def __init__(self, connection):  # noqa: D107  (no query: only apply_converters is used)
        self.connection = connection


def update_query(queryset: QuerySet, **values) -> SimpleNamespace:
    """What `queryset.update(**values)` would run, for a CompiledQuery's `build`. A named value
    goes in as `Value(name)` (or inside an expression) and is bound as the driver adapts it:
    integers, strings, aware datetimes, None, as the ORM itself sends them to PostgreSQL."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    return SimpleNamespace(query=query)


class CompiledInsert:
    """`Model.objects.create(**fields)` with its INSERT ... RETURNING built once per process.
    With `ignore_conflicts`, `ON CONFLICT DO NOTHING`: `create` returns None when a unique
    constraint already holds such a row (pre_save was sent; post_save is not).

    The ORM's work per row is kept: the model's __init__ (defaults), each field's `pre_save`
    and `get_db_prep_save` (auto_now_add, JSON), related objects' checks, and the pre_save /
    post_save signals. Not for models with parents (multi-table inheritance) or their own
    `save()`, nor for values that are expressions (a database default): those are refused."""

    def __init__(self, model: type[models.Model], *, ignore_conflicts: bool = False):
        meta = model._meta
        if meta.parents or model.save is not models.Model.save:
            raise ValueError(f"{model.__name__}: CompiledInsert is for plain models only")
        self.model = model
        self._fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        self._returning = meta.db_returning_fields
        self._on_conflict = OnConflict.IGNORE if ignore_conflicts else None
        self._sql: str | None = None
        self._plan: _InsertPlan | None = None

    def _compile(self, instance, db) -> str:
        query = InsertQuery(self.model, on_conflict=self._on_conflict)
        query.insert_values(self._fields, [instance])
        compiler = query.get_compiler(db.alias)
        compiler.returning_fields = self._returning
        ((sql, _),) = compiler.as_sql()
        # What the ORM does to each returned value (as SQLInsertCompiler.execute_sql does).
        self._converters = [
            [*db.ops.get_db_converters(field.cached_col), *field.get_db_converters(db)] for field in self._returning
        ]
        return sql

    def create(self, **fields) -> models.Model | None:
        instance, params = self.prepare(**fields)
        return self.insert(instance, params)

    def prepare(self, **fields) -> tuple[models.Model, list]:
        """The unsaved instance (pre_save sent) and the INSERT's parameters, for `insert` or a
        statement of the caller's that inserts them (`sql`, then `saved`)."""
        # The connection itself, once: each attribute read through django.db.connection (a
        # proxy over a per-thread Local) costs a dozen calls, and the fields read `ops` from it.
        db = connections[DEFAULT_DB_ALIAS]
        model = self.model
        plan = self._plan
        if plan is None:
            plan = self._plan = _InsertPlan(model, self._fields, db)
        instance = plan.instance(fields)
        instance._prepare_related_fields_for_save(operation_name="save")
        pre_save.send(sender=model, instance=instance, raw=False, using=db.alias, update_fields=None)
        values = list(plan.read(instance))
        for i, field in plan.pre_saving:  # auto_now and the like: the field decides, as save() lets it
            values[i] = field.pre_save(instance, True)
        if self._sql is None:
            if any(hasattr(value, "resolve_expression") for value in values):
                raise ValueError(f"{model.__name__}: CompiledInsert takes values, not expressions")
            self._sql = self._compile(instance, db)
        return instance, plan.params(values, db)

    @property
    def sql(self) -> str:
        """The INSERT ... RETURNING (compiled by the first `prepare`)."""
        if self._sql is None:
            raise RuntimeError("prepare() compiles the statement")
        return self._sql

    def insert(self, instance: models.Model, params: list) -> models.Model | None:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(self._sql, params)
            row = cursor.fetchone()
        if row is None:  # ON CONFLICT DO NOTHING did nothing
            return None
        return self.saved(instance, row)

    def saved(self, instance: models.Model, returned: tuple) -> models.Model:
        """The instance as stored: the RETURNING values set, post_save sent."""
        db = connections[DEFAULT_DB_ALIAS]
        for field, converters, value in zip(self._returning, self._converters, returned):
            for converter in converters:
                value = converter(value, field.cached_col, db)
            setattr(instance, field.attname, value)
        instance._state.adding, instance._state.db = False, db.alias
        post_save.send(sender=self.model, instance=instance, created=True, update_fields=None, raw=False, using=db.alias)
        return instance


_MISSING = object()
# How _InsertPlan passes a field's value to the driver (see its docstring).
_TEXT, _MOMENT, _JSON, _INTEGER, _ORM = "text", "moment", "json", "integer", "orm"


class _InsertPlan:
    """Per model and column set, decided once: how each field's value becomes the INSERT's
    parameter. `field.get_db_prep_save` runs five to ten calls per field and row (expression
    check, get_prep_value, to_python, the backend's adapter through the connection), and for
    most columns of a row it hands the value back as it was. The plan names those columns, so
    a row only adapts what varies:

    - text (CharField, TextField, their choices): a `str` or None is stored as it is, exactly
      what CharField/TextField's get_prep_value return for one;
    - a moment (DateTimeField) on PostgreSQL: an aware datetime or None as it is, exactly what
      DateTimeField's get_prep_value and PostgreSQL's `adapt_datetimefield_value` return (a
      naive datetime goes the ORM's way, with its warning and the default time zone);
    - JSON (JSONField): a list or dict becomes the backend's JSON parameter
      (`ops.adapt_json_value` with the field's encoder), as JSONField.get_db_prep_value does;
    - an integer (IntegerField and its kinds): an `int` (not a bool) or None goes to the
      backend's `adapt_integerfield_value` (psycopg's Int8 and the like), as IntegerField's
      get_db_prep_value sends it;
    - anything else (foreign keys, custom fields, any value of another type): the field's own
      `get_db_prep_save`, as the ORM calls it.

    A field qualifies only while its class uses Django's own methods for these steps (a
    subclass that overrides one goes the ORM's way), so the same values are stored as
    `Model.objects.create` stores (tests/config/test_sql.py compares the rows)."""

    def __init__(self, model: type[models.Model], fields: list, db):
        self.model, self.fields = model, fields
        # The model's concrete fields in order, by the attribute name a caller may pass.
        self.concrete = model._meta.concrete_fields
        self.slot_of = {field.attname: i for i, field in enumerate(self.concrete)}
        self.read = operator.attrgetter(*(field.attname for field in fields)) if len(fields) > 1 else (
            lambda instance: (getattr(instance, fields[0].attname),))
        self.pre_saving = [(i, field) for i, field in enumerate(fields) if not _pre_save_reads_the_attribute(field)]
        self.kinds = [_kind_of(field, db) for field in fields]

    def instance(self, fields: dict) -> models.Model:
        """`model(**fields)`. When every name is a column's attribute (`conversation_id`, not
        `conversation`; no property) and nothing listens to pre_init, it is called the way the
        ORM builds a row's instance, one value per concrete field, with each missing field's
        default from `field.get_default()` as the keyword form takes it: the keyword form pops
        and checks each name per field, twice the calls."""
        slot_of = self.slot_of
        if pre_init.receivers or not fields.keys() <= slot_of.keys():  # (any receiver at all: the keyword form)
            return self.model(**fields)
        values = [_MISSING] * len(slot_of)
        for name, value in fields.items():
            values[slot_of[name]] = value
        for i, field in enumerate(self.concrete):
            if values[i] is _MISSING:
                values[i] = field.get_default()
        return self.model(*values)

    def params(self, values: list, db) -> list:
        params = []
        for kind, field, value in zip(self.kinds, self.fields, values):
            if kind is _TEXT:
                if value is None or (isinstance(value, str) and not isinstance(value, Promise)):
                    params.append(value)
                    continue
            elif kind is _MOMENT:
                if value is None or (type(value) is datetime and (not settings.USE_TZ or value.utcoffset() is not None)):
                    params.append(value)
                    continue
            elif kind is _JSON:
                if type(value) is list or type(value) is dict:
                    params.append(db.ops.adapt_json_value(value, field.encoder))
                    continue
            elif kind is _INTEGER:
                if value is None:
                    params.append(None)
                    continue
                if type(value) is int:
                    params.append(db.ops.adapt_integerfield_value(value, field.get_internal_type()))
                    continue
            if hasattr(value, "resolve_expression"):
                raise ValueError(f"{field.model.__name__}: CompiledInsert takes values, not expressions")
            params.append(field.get_db_prep_save(value, connection=db))
        return params


def _pre_save_reads_the_attribute(field) -> bool:
    """Whether `field.pre_save(instance, add=True)` is only `getattr(instance, field.attname)`."""
    pre_save_method = type(field).pre_save
    if pre_save_method is models.Field.pre_save:
        return True
    if pre_save_method in (models.DateField.pre_save, models.DateTimeField.pre_save):
        return not field.auto_now and not field.auto_now_add
    return False


def _kind_of(field, db) -> str:
    cls, stock_save = type(field), type(field).get_db_prep_save is models.Field.get_db_prep_save
    if (stock_save and cls.get_db_prep_value is models.Field.get_db_prep_value
            and (cls.get_prep_value, cls.to_python) in ((models.CharField.get_prep_value, models.CharField.to_python),
                                                        (models.TextField.get_prep_value, models.TextField.to_python))):
        return _TEXT
    if (stock_save and cls.get_db_prep_value is models.DateTimeField.get_db_prep_value
            and cls.get_prep_value is models.DateTimeField.get_prep_value and cls.to_python is models.DateTimeField.to_python
            and type(db.ops).adapt_datetimefield_value is PostgresOperations.adapt_datetimefield_value):
        return _MOMENT
    if (stock_save and cls.get_db_prep_value is models.IntegerField.get_db_prep_value
            and cls.get_prep_value is models.IntegerField.get_prep_value):
        return _INTEGER
    if (cls.get_db_prep_save is models.JSONField.get_db_prep_save and cls.get_db_prep_value is models.JSONField.get_db_prep_value
            and cls.get_prep_value is models.Field.get_prep_value):
        return _JSON
    return _ORM
