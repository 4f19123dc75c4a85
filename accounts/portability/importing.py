"""`account_import`: an export restored into a NEW account, all or nothing.

Everything is checked before anything is written (slug, domains, the zip, its manifest, the
schema version); then one transaction creates the account (its schema cloned from the tenant
template), its domains, its members and every tenant row, and PostgreSQL's transactional DDL
removes the new schema again if anything later fails.

Decisions, also in README "Operators":
- Schema version: the export's migrations must be exactly this code's, app by app. A newer
  export is refused (this code cannot know what its new columns mean); an older one too: its
  rows would need the missing migrations' data changes, which only migrating a schema can
  apply. Import an older export into the Hearth version that made it, upgrade, export again.
- Users are matched by e-mail (case-insensitive); an unknown e-mail becomes a user with an
  unusable password (they sign in once someone sets one, e.g. through an invitation).
- Primary keys inside the tenant's schema are kept (so every reference inside it holds);
  public rows (domains, memberships, invitations, tokens) get new ids. Every sequence is set
  past both the exported sequence value and the largest value in its column, so new rows
  (and new conversation numbers) never collide with restored ones.
- API tokens come back revoked, with a hash no key matches: a copy of a database must never
  accept a key silently. Invitations come back without their link (resend one to use it).
- The export's domains are not taken back (they may still serve the original account): the
  new account gets --domain (default <slug>.TENANT_DOMAIN_SUFFIX).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django_tenants.utils import schema_exists

from accounts import tenant_template
from accounts.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, Account, ApiToken, Domain, Invitation, Membership, User
from accounts.portability import catalog
from accounts.portability.exporting import ProgressFactory, _no_progress
from accounts.validators import validate_account_slug
from config import inputs
from config.errors import ApplicationError

PROGRESS_ROWS = 2000


@dataclass(frozen=True)
class ImportSummary:
    account: Account
    domains: list[str]
    counts: dict[str, int]
    users_created: int
    users_matched: int


def account_import(
    *, archive_path: Path, slug: str, name: str | None = None, domains: list[str] | None = None, progress: ProgressFactory = _no_progress
) -> ImportSummary:
    slug = (slug or "").strip()
    try:
        validate_account_slug(slug)
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), code="invalid_slug") from error
    if Account.objects.filter(schema_name=slug).exists() or schema_exists(slug):
        raise ApplicationError(f"slug {slug!r} is already taken: an import always makes a new account", code="slug_taken")
    domains = [domain.strip().lower() for domain in (domains or [f"{slug}.{settings.TENANT_DOMAIN_SUFFIX}"])]
    for domain in domains:
        if Domain.objects.filter(domain=domain).exists():
            raise ApplicationError(f"domain {domain!r} already serves another account", code="domain_taken")

    with _archive_open(Path(archive_path)) as archive:
        manifest = _manifest_read(archive, archive_path)
        tenant_template.template_ready()  # a stale template is rebuilt outside the transaction
        try:
            with transaction.atomic():
                account = _account_create(manifest, slug=slug, name=name, domains=domains)
                users, created, matched = _users_restore(archive, manifest)
                _public_rows_restore(archive, manifest, account=account, users=users)
                with progress(sum(manifest["counts"].get(model._meta.label, 0) for model in catalog.tenant_models())) as bar:
                    counts = _tenant_restore(archive, manifest, account=account, users=users, bar=bar)
        finally:
            connection.set_schema_to_public()
    return ImportSummary(account=account, domains=domains, counts=counts, users_created=created, users_matched=matched)


# ----------------------------------------------------------------------------- checks


@contextlib.contextmanager
def _archive_open(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError as error:
        raise ApplicationError(f"{path} does not exist", code="no_file") from error
    except (zipfile.BadZipFile, OSError) as error:
        raise ApplicationError(f"{path} is not a zip file: {error}", code="bad_zip") from error
    with archive:
        try:
            yield archive
        except (zipfile.BadZipFile, EOFError, OSError) as error:  # a damaged member found while reading it
            raise ApplicationError(f"{path} is damaged: {error}", code="bad_zip") from error


def _manifest_read(archive: zipfile.ZipFile, path: Path) -> dict:
    try:
        manifest = json.loads(archive.read(catalog.MANIFEST))
    except KeyError as error:
        raise ApplicationError(f"{path} has no {catalog.MANIFEST}: not a Hearth account export", code="bad_export") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise ApplicationError(f"{path}: {catalog.MANIFEST} is not valid JSON ({error})", code="bad_export") from error
    if not isinstance(manifest, dict) or manifest.get("format") != catalog.FORMAT:
        raise ApplicationError(f"{path} is not a Hearth account export (its manifest names no {catalog.FORMAT!r} format)", code="bad_export")
    if manifest.get("format_version") != catalog.FORMAT_VERSION:
        raise ApplicationError(
            f"{path} is export format {manifest.get('format_version')!r}; this Hearth reads format {catalog.FORMAT_VERSION}", code="bad_export"
        )
    _schema_version_check(manifest.get("schema_version"), path=path, hearth_version=manifest.get("hearth_version"))
    members, counts = manifest.get("members"), manifest.get("counts")
    if not (
        isinstance(manifest.get("account"), dict) and isinstance(counts, dict) and isinstance(members, dict)
        and all(isinstance(value, str) for value in members.values()) and all(isinstance(value, int) for value in counts.values())
    ):
        raise ApplicationError(f"{path}: the manifest's account, counts or members are not what an export writes", code="bad_export")
    missing = [label for label in [*(m._meta.label for m in catalog.tenant_models()), "accounts.User", "accounts.Membership"] if label not in members]
    names = set(archive.namelist())
    missing += [members[label] for label in members if members[label] not in names]
    if missing:
        raise ApplicationError(f"{path} is incomplete: missing {', '.join(sorted(missing))}", code="bad_export")
    return manifest


def _schema_version_check(exported, *, path: Path, hearth_version) -> None:
    if not isinstance(exported, dict) or not all(isinstance(names, list) for names in exported.values()):
        raise ApplicationError(f"{path}: the manifest has no schema_version", code="bad_export")
    current = catalog.code_migrations()
    newer = sorted(f"{app}.{name}" for app, names in exported.items() for name in names if name not in current.get(app, []))
    if newer:
        raise ApplicationError(
            f"{path} comes from a newer schema than this Hearth's ({len(newer)} unknown migrations, e.g. {newer[0]}): upgrade Hearth first",
            code="schema_newer",
        )
    older = sorted(f"{app}.{name}" for app, names in current.items() for name in names if name not in (exported.get(app) or []))
    if older:
        raise ApplicationError(
            f"{path} comes from an older schema ({len(older)} migrations missing, e.g. {older[0]}): import it with Hearth "
            f"{hearth_version or 'of its time'}, migrate, and export again",
            code="schema_older",
        )


# ----------------------------------------------------------------------------- public rows


def _account_create(manifest: dict, *, slug: str, name: str | None, domains: list[str]) -> Account:
    values = manifest.get("account") or {}
    fields = {
        field.attname: catalog.decode(field, values[field.attname])
        for field in Account._meta.concrete_fields
        if field.attname in values and field.attname not in {"id", "schema_name"}
    }
    if name:
        fields["name"] = name.strip()
    connection.set_schema_to_public()
    account = Account(schema_name=slug, **fields)
    _account_check(account)
    account.save(verbosity=0)  # creates the schema, cloned from the tenant template
    for index, domain in enumerate(domains):
        Domain.objects.create(domain=domain, tenant=account, is_primary=index == 0)
    return account


def _account_check(account: Account) -> None:
    """The export's account row as the desk must serve it (a known time zone and plan, text
    PostgreSQL can store, retention within its bounds), else the import is refused whole: an
    edited or damaged manifest must not become a tenant that fails every page, or whose
    retention of 0 days erases every message that night."""
    problems: dict[str, list[str]] = {}
    try:
        account.full_clean(exclude=["schema_name"], validate_unique=False)
    except ValidationError as error:
        problems.update(error.message_dict)
    for field in Account._meta.concrete_fields:
        value = getattr(account, field.attname)
        if isinstance(value, str) and not inputs.is_storable(value):
            problems.setdefault(field.attname, []).append("contains a NUL character or invalid Unicode")
    for field in ("retention_message_days", "retention_ai_payload_days"):
        value = getattr(account, field)
        if value is not None and not RETENTION_DAYS_MIN <= value <= RETENTION_DAYS_MAX:
            problems.setdefault(field, []).append(f"must be {RETENTION_DAYS_MIN} to {RETENTION_DAYS_MAX} days")
    if problems:
        field, messages = next(iter(sorted(problems.items())))
        raise ApplicationError(f"the export's account is not valid: {field}: {messages[0]}", code="bad_export")


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[dict]:
    with archive.open(name) as member:
        for number, line in enumerate(io.TextIOWrapper(member, encoding="utf-8"), start=1):
            try:
                row = json.loads(line)
            except ValueError as error:
                raise ApplicationError(f"{name}:{number}: not a JSON line ({error})", code="bad_export") from error
            if not isinstance(row, dict):
                raise ApplicationError(f"{name}:{number}: not a JSON object", code="bad_export")
            yield row


def _users_restore(archive: zipfile.ZipFile, manifest: dict) -> tuple[dict[int, int], int, int]:
    """The export's user ids -> this installation's, matched by e-mail; unknown e-mails become
    users who cannot sign in until a password is set."""
    mapping: dict[int, int] = {}
    created = matched = 0
    for row in _lines(archive, manifest["members"]["accounts.User"]):
        email = User.objects.normalize_email(row["email"]).lower()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, None, full_name=row.get("full_name") or "", is_active=row.get("is_active", True))
            created += 1
        else:
            matched += 1
        mapping[int(row["id"])] = user.pk
    return mapping, created, matched


def _user(users: dict[int, int], old_id, where: str) -> int:
    try:
        return users[int(old_id)]
    except (KeyError, TypeError, ValueError) as error:
        raise ApplicationError(f"{where}: user {old_id!r} is not in the export's users", code="bad_export") from error


def _public_rows_restore(archive: zipfile.ZipFile, manifest: dict, *, account: Account, users: dict[int, int]) -> None:
    members = manifest["members"]
    for row in _lines(archive, members["accounts.Membership"]):
        Membership.objects.create(
            account=account, user_id=_user(users, row["user_id"], "membership"), **_fields(Membership, row, skip={"id", "account_id", "user_id"})
        )
    if "accounts.Invitation" in members:
        for row in _lines(archive, members["accounts.Invitation"]):
            inviter = users.get(row["invited_by_id"]) if row.get("invited_by_id") is not None else None
            fields = _fields(Invitation, row, skip={"id", "account_id", "invited_by_id", "token_hash"})
            Invitation.objects.create(account=account, invited_by_id=inviter, token_hash=None, **fields)
    if "accounts.ApiToken" in members:
        now = timezone.now()
        for row in _lines(archive, members["accounts.ApiToken"]):
            fields = _fields(ApiToken, row, skip={"id", "account_id", "user_id", "key_hash"})
            fields["revoked_at"] = fields.get("revoked_at") or now
            # A hash of a secret nobody ever sees: no key can match it.
            key_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
            ApiToken.objects.create(account=account, user_id=_user(users, row["user_id"], "API token"), key_hash=key_hash, **fields)


def _fields(model: type[models.Model], row: dict, *, skip: set[str]) -> dict:
    return {
        field.attname: catalog.decode(field, row[field.attname])
        for field in model._meta.concrete_fields
        if field.attname in row and field.attname not in skip
    }


# ----------------------------------------------------------------------------- tenant rows


def _tenant_restore(archive: zipfile.ZipFile, manifest: dict, *, account: Account, users: dict[int, int], bar) -> dict[str, int]:
    connection.set_tenant(account)
    tenant_models = catalog.tenant_models()
    with connection.cursor() as cursor:
        # The clone carries the rows migrations wrote; the export has the account's own.
        tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in tenant_models)
        cursor.execute(f"TRUNCATE {tables}")
    indexes = _secondary_indexes_drop(account.schema_name, [model._meta.db_table for model in tenant_models])
    counts = {}
    for model in tenant_models:
        counts[model._meta.label] = _table_restore(archive, manifest["members"][model._meta.label], model=model, users=users, bar=bar)
        expected = manifest["counts"].get(model._meta.label)
        if expected != counts[model._meta.label]:
            raise ApplicationError(
                f"{manifest['members'][model._meta.label]} holds {counts[model._meta.label]} rows, the manifest says {expected}", code="bad_export"
            )
    with connection.cursor() as cursor:
        # Check the (deferred) foreign keys of the loaded rows now: PostgreSQL builds no index
        # on a table with checks still pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for definition in indexes:
            cursor.execute(definition)
    _sequences_restore(account.schema_name, manifest.get("sequences") or {})
    return counts


def _table_restore(archive: zipfile.ZipFile, name: str, *, model: type[models.Model], users: dict[int, int], bar) -> int:
    """Load one member into its table with COPY (the rows as PostgreSQL adapts them for an
    INSERT, streamed: nothing but the current row is held). A generated column is left to
    PostgreSQL, which refuses a value for it (and computes the one the export holds)."""
    fields = [field for field in model._meta.concrete_fields if not field.generated]
    user_columns = set(catalog.user_fk_columns(model))
    by_value = catalog.USER_ID_COLUMNS.get(model._meta.label, [])
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    written = 0
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    ) as copy:
        for number, row in enumerate(_lines(archive, name), start=1):
            try:
                for column in user_columns:
                    if row.get(column) is not None:
                        row[column] = users.get(int(row[column]))  # a user gone before the export: NULL
                for column, kind_column, kind in by_value:
                    if row.get(kind_column) == kind and row.get(column) is not None:
                        row[column] = _user_value(model._meta.get_field(column), row[column], users)
                copy.write_row([field.get_db_prep_save(catalog.decode(field, row[field.attname]), connection) for field in fields])
            except KeyError as error:
                raise ApplicationError(f"{name}:{number}: no value for {error.args[0]}", code="bad_export") from error
            except (TypeError, ValueError) as error:
                raise ApplicationError(f"{name}:{number}: {error}", code="bad_export") from error
            written += 1
            if written % PROGRESS_ROWS == 0:
                bar.update(PROGRESS_ROWS)
    bar.update(written % PROGRESS_ROWS)
    return written


def _secondary_indexes_drop(schema_name: str, tables: list[str]) -> list[str]:
    """Drop the indexes of `tables` that back no constraint, returning their definitions:
    building an index once over loaded rows is far cheaper than maintaining it row by row
    (GIN trigram, full-text and HNSW above all). The keys stay, so ids are checked as rows
    arrive; a unique index rebuilt after the load still refuses duplicates."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
              FROM pg_index i
              JOIN pg_class t ON t.oid = i.indrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = %s AND t.relname = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
             ORDER BY 1
            """,
            [schema_name, tables],
        )
        found = cursor.fetchall()
        for index, _ in found:
            cursor.execute(f"DROP INDEX {index}")
    return [definition for _, definition in found]


def _user_value(field: models.Field, value, users: dict[int, int]):
    """A user's id held in a plain column, translated; a user the export does not know (gone
    before it was made) is NULL where the column allows it, else marked as removed."""
    old = str(value)
    new = users.get(int(old)) if old.isdigit() else None
    if new is not None:
        return new if isinstance(value, int) else str(new)
    if field.null:
        return None
    return f"removed-user-{old}"


def _sequences_restore(schema_name: str, exported: dict) -> None:
    """Every sequence of the new schema goes on past the exported value and past the largest
    value of the column it feeds."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.relname, t.relname, a.attname
              FROM pg_class s
              JOIN pg_namespace n ON n.oid = s.relnamespace
              LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
              LEFT JOIN pg_class t ON t.oid = d.refobjid
              LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
             WHERE s.relkind = 'S' AND n.nspname = %s
            """,
            [schema_name],
        )
        for sequence, table, column in cursor.fetchall():
            largest = 0
            if table and column:
                cursor.execute(f"SELECT max({connection.ops.quote_name(column)}) FROM {connection.ops.quote_name(schema_name)}.{connection.ops.quote_name(table)}")
                value = cursor.fetchone()[0]
                largest = value if isinstance(value, int) else 0
            target = max(int(exported.get(sequence) or 0), largest)
            if target > 0:
                cursor.execute("SELECT setval(%s, %s, true)", [f"{connection.ops.quote_name(schema_name)}.{connection.ops.quote_name(sequence)}", target])
