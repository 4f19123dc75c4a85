"""What an account export holds and how its values are written: the one place the exporter,
the importer and the tests agree on.

The tenant's models are read from the app registry (every model of TENANT_APPS that is not
also a shared app), so a model added later is exported and imported without editing this
package. Values are written as JSON with one rule per field type, chosen so that reading
them back gives the same value the database held: datetimes to the microsecond with their
offset, binary as base64, pgvector columns as the float32 values they store (exact through a
double's shortest repr), arrays element by element.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
from graphlib import CycleError, TopologicalSorter

from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.db.migrations.loader import MigrationLoader
from django.utils.dateparse import parse_date, parse_datetime, parse_duration, parse_time
from django.utils.duration import duration_iso_string
from django_tenants.utils import get_public_schema_name

# Bumped when the layout of the zip changes (not when migrations do: those are the schema version).
FORMAT = "hearth-account-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

# The public-schema rows that belong to the account, one member each.
PUBLIC_MEMBERS = {
    "users": "public/users.jsonl",
    "domains": "public/domains.jsonl",
    "memberships": "public/memberships.jsonl",
    "invitations": "public/invitations.jsonl",
    "api_tokens": "public/api_tokens.jsonl",
    "account_events": "public/account_events.jsonl",
}

# Every public model that points at an account, and what an export does with it. A model
# added later fails tests/accounts/test_export_commands.py until someone decides here (and in
# exporting/importing/deleting) what becomes of its rows.
PUBLIC_ACCOUNT_MODELS = {
    "accounts.Domain": "exported; not restored (the new account gets --domain); deleted",
    "accounts.Membership": "exported with the user's e-mail; restored; deleted",
    "accounts.Invitation": "exported without the link's hash; restored without a link; deleted",
    "accounts.ApiToken": "exported without the key's hash; restored revoked; deleted",
    "accounts.AccountEvent": "exported (the suspension history, with who by e-mail); not restored (the new account's history starts at its import); deleted",
}

# Columns that hold a public user's id without a foreign key, and when they do: (column,
# column saying what the id is, the value meaning "a user"). A restored tenant's users may
# have other ids (users are matched by e-mail), so these are translated like the foreign keys.
USER_ID_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "conversations.Message": [("sender_id", "sender_type", "agent")],
    "conversations.ConversationEvent": [("actor_id", "actor_type", "agent")],
    "analytics.DailyRollup": [("key", "dimension", "agent")],
}


def tenant_models() -> list[type[models.Model]]:
    """Every model whose table lives only in tenant schemas (many-to-many tables included),
    parents before the rows that point at them."""
    shared = set(settings.SHARED_APPS)
    labels = [app for app in settings.TENANT_APPS if app not in shared]
    found: list[type[models.Model]] = []
    for config in apps.get_app_configs():
        if config.name in labels:
            found.extend(model for model in config.get_models(include_auto_created=True) if model._meta.managed and not model._meta.proxy)
    return dependency_order(found)


def dependency_order(model_list: list[type[models.Model]]) -> list[type[models.Model]]:
    """Topological by foreign keys between the given models; ties keep the registry's order.
    A cycle (none today) is broken by registry order: Django's foreign keys are DEFERRABLE
    INITIALLY DEFERRED in PostgreSQL, so the import's transaction checks them at commit."""
    present = set(model_list)
    sorter: TopologicalSorter = TopologicalSorter()
    for model in model_list:
        parents = [
            field.related_model for field in model._meta.concrete_fields
            if field.is_relation and field.related_model in present and field.related_model is not model
        ]
        sorter.add(model, *parents)
    try:
        return list(sorter.static_order())
    except CycleError:
        return list(model_list)


def member_name(model: type[models.Model]) -> str:
    return f"tenant/{model._meta.label_lower}.jsonl"


def user_fk_columns(model: type[models.Model]) -> list[str]:
    """The model's foreign-key columns to accounts.User (a table in public)."""
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    return [field.attname for field in model._meta.concrete_fields if field.is_relation and field.related_model is user_model]


# ----------------------------------------------------------------------------- values


def encode(field: models.Field, value):
    """A database value (as the ORM reads it) as JSON."""
    if value is None:
        return None
    from django.contrib.postgres.fields import ArrayField

    if isinstance(field, ArrayField):
        return [encode(field.base_field, item) for item in value]
    if isinstance(field, models.JSONField):
        # The ORM reads SQL NULL and JSON null alike; no tenant JSON column is nullable today.
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "tolist"):  # pgvector's numpy arrays (and any other array type)
        return value.tolist()
    if hasattr(value, "to_list"):  # pgvector's HalfVector / SparseVector
        return value.to_list()
    return value


def decode(field: models.Field, value):
    """The inverse of `encode`: a value for `field.get_db_prep_save`."""
    if value is None:
        return None
    from django.contrib.postgres.fields import ArrayField

    if isinstance(field, ArrayField):
        return [decode(field.base_field, item) for item in value]
    if isinstance(field, models.JSONField):
        return value
    if isinstance(field, models.DateTimeField):
        return parse_datetime(value)
    if isinstance(field, models.DateField):
        return parse_date(value)
    if isinstance(field, models.TimeField):
        return parse_time(value)
    if isinstance(field, models.DurationField):
        return parse_duration(value)
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(value)
    if isinstance(field, models.UUIDField):
        return uuid.UUID(value)
    if isinstance(field, models.BinaryField):
        return base64.b64decode(value)
    return value


def row_encode(model: type[models.Model], values: tuple) -> dict:
    return {field.attname: encode(field, value) for field, value in zip(model._meta.concrete_fields, values)}


# ----------------------------------------------------------------------------- schema version


def tenant_apps_of_export() -> list[str]:
    return sorted({model._meta.app_label for model in tenant_models()})


def applied_migrations(*, schema_name: str) -> dict[str, list[str]]:
    """What shapes an export's rows: the migrations of the tenant apps recorded in the
    tenant's schema, and those of accounts (the public rows) recorded in public."""
    found = _recorded(schema_name, tenant_apps_of_export())
    found.update(_recorded(get_public_schema_name(), ["accounts"]))
    return dict(sorted(found.items()))


def _recorded(schema_name: str, app_labels: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {app: [] for app in app_labels}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT app, name FROM {connection.ops.quote_name(schema_name)}.django_migrations WHERE app = ANY(%s) ORDER BY app, name",
            [app_labels],
        )
        for app, name in cursor.fetchall():
            found[app].append(name)
    return found


def code_migrations() -> dict[str, list[str]]:
    """The same apps' migrations in this code (what a new tenant's schema is made of)."""
    found: dict[str, list[str]] = {app: [] for app in [*tenant_apps_of_export(), "accounts"]}
    for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations:
        if app in found:
            found[app].append(name)
    return {app: sorted(names) for app, names in sorted(found.items())}
