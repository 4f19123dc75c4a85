"""`account_export`: everything of one account in one zip, JSON Lines per model plus a manifest.

Read in one REPEATABLE READ, READ ONLY transaction, so every member of the zip is the same
moment of the account even while its desk keeps working. Rows are read a page at a time by
primary key (keyset pagination: constant memory with or without server-side cursors, which a
transaction-mode pooler forbids) and written into the zip member by member, so a large tenant
never sits in memory. The zip is written beside its final name and renamed into place only
when complete: a failure or Ctrl-C never leaves a half zip under that name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Protocol

from django.db import connection, models, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from accounts.models import Account, AccountEvent, ApiToken, Domain, Invitation, Membership, User
from accounts.portability import catalog
from config.errors import ApplicationError

PAGE_ROWS = 2000

# Never leave the database: a key's or an invitation link's hash would let a restored copy
# accept the old secret. Restored tokens and invitations are records only (see importing).
SECRET_FIELDS = {ApiToken: {"key_hash"}, Invitation: {"token_hash"}}


class ProgressBar(Protocol):
    def update(self, n: int) -> object: ...


ProgressFactory = Callable[[int], ContextManager[ProgressBar]]


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    counts: dict[str, int]
    size_bytes: int


@contextlib.contextmanager
def _no_progress(total: int):
    class _Bar:
        def update(self, n: int) -> None:
            pass

    yield _Bar()


def account_export(*, account: Account, out: Path, progress: ProgressFactory = _no_progress) -> ExportSummary:
    """Write `account`'s export to `out` (a new file); the counts per model."""
    out = Path(out)
    if account.schema_name == get_public_schema_name():
        raise ApplicationError("the platform account (public) is not a tenant and cannot be exported", code="public_account")
    if not schema_exists(account.schema_name):
        raise ApplicationError(f"account {account.schema_name!r} has no schema any more: nothing to export", code="no_schema")
    if out.exists():
        raise ApplicationError(f"{out} already exists: choose another --out (an export never overwrites a file)", code="out_exists")
    if not out.parent.is_dir():
        raise ApplicationError(f"directory {out.parent} does not exist", code="out_dir_missing")

    try:
        descriptor, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    except OSError as error:  # a read-only or foreign directory: the operator's one line, not a traceback
        raise ApplicationError(f"cannot write the export in {out.parent}: {error.strerror}", code="out_not_writable") from error
    try:
        with os.fdopen(descriptor, "wb") as file:
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
                counts = _write_archive(archive, account=account, progress=progress)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, out)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):  # the disk filled up, say (database errors are not OSErrors)
            raise ApplicationError(f"cannot write the export in {out.parent}: {error.strerror or error}", code="out_not_writable") from error
        raise
    return ExportSummary(path=out, counts=counts, size_bytes=out.stat().st_size)


def _write_archive(archive: zipfile.ZipFile, *, account: Account, progress: ProgressFactory) -> dict[str, int]:
    tenant_models = catalog.tenant_models()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # inside a caller's transaction its snapshot is the one we get
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        connection.set_schema_to_public()
        account = Account.objects.get(pk=account.pk)
        exported_at = timezone.now()
        with schema_context(account.schema_name):
            totals = {model: model._base_manager.count() for model in tenant_models}
            user_ids = _users_referenced(account, tenant_models)
            sequences = _sequences(account.schema_name)
        schema_version = catalog.applied_migrations(schema_name=account.schema_name)

        counts: dict[str, int] = {}
        members: dict[str, str] = {}
        public_rows = [
            (User, catalog.PUBLIC_MEMBERS["users"], _users_rows(user_ids)),
            (Domain, catalog.PUBLIC_MEMBERS["domains"], _rows(Domain, Domain.objects.filter(tenant=account), skip={"id", "tenant_id"})),
            (Membership, catalog.PUBLIC_MEMBERS["memberships"], _memberships_rows(account)),
            (Invitation, catalog.PUBLIC_MEMBERS["invitations"], _rows(Invitation, Invitation.objects.filter(account=account), skip={"account_id"})),
            (ApiToken, catalog.PUBLIC_MEMBERS["api_tokens"], _rows(ApiToken, ApiToken.objects.filter(account=account), skip={"account_id"})),
            (AccountEvent, catalog.PUBLIC_MEMBERS["account_events"], _account_events_rows(account)),
        ]
        for model, name, rows in public_rows:
            counts[model._meta.label] = _member_write(archive, name, rows)
            members[model._meta.label] = name

        with progress(sum(totals.values())) as bar, schema_context(account.schema_name):
            for model in tenant_models:
                name = catalog.member_name(model)
                counts[model._meta.label] = _member_write(archive, name, _tenant_rows(model, bar))
                members[model._meta.label] = name

    manifest = {
        "format": catalog.FORMAT,
        "format_version": catalog.FORMAT_VERSION,
        "hearth_version": _hearth_version(),
        "exported_at": exported_at.isoformat(),
        "account": {field.attname: catalog.encode(field, field.value_from_object(account)) for field in Account._meta.concrete_fields},
        "schema_version": schema_version,
        "counts": counts,
        "members": members,
        "sequences": sequences,
    }
    archive.writestr(catalog.MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    return counts


def _member_write(archive: zipfile.ZipFile, name: str, rows: Iterable[dict]) -> int:
    written = 0
    # force_zip64: the member's size is unknown until it is written and may pass 2 GiB.
    with archive.open(name, "w", force_zip64=True) as member:
        lines: list[bytes] = []
        for row in rows:
            lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            written += 1
            if len(lines) >= PAGE_ROWS:
                member.write(b"".join(lines))
                lines.clear()
        member.write(b"".join(lines))
    return written


def _pages(queryset: models.QuerySet, model: type[models.Model]) -> Iterable[list[tuple]]:
    """The rows of `queryset` as value tuples of every concrete field, by primary key, a page
    at a time."""
    fields = model._meta.concrete_fields
    pk_index = [field.attname for field in fields].index(model._meta.pk.attname)
    ordered = queryset.order_by("pk").values_list(*[field.attname for field in fields])
    page = list(ordered[:PAGE_ROWS])
    while page:
        yield page
        if len(page) < PAGE_ROWS:
            return
        page = list(ordered.filter(pk__gt=page[-1][pk_index])[:PAGE_ROWS])


def _rows(model: type[models.Model], queryset: models.QuerySet, *, skip: set[str] = frozenset()) -> Iterable[dict]:
    skip = set(skip) | SECRET_FIELDS.get(model, set())
    for page in _pages(queryset, model):
        for values in page:
            yield {key: value for key, value in catalog.row_encode(model, values).items() if key not in skip}


def _tenant_rows(model: type[models.Model], bar: ProgressBar) -> Iterable[dict]:
    for page in _pages(model._base_manager.all(), model):
        for values in page:
            yield catalog.row_encode(model, values)
        bar.update(len(page))


def _memberships_rows(account: Account) -> Iterable[dict]:
    queryset = Membership.objects.filter(account=account)
    people = {pk: (email, name) for pk, email, name in User.objects.filter(memberships__account=account).values_list("pk", "email", "full_name")}
    for row in _rows(Membership, queryset, skip={"id", "account_id"}):
        email, name = people[row["user_id"]]
        yield {**row, "user_email": email, "user_full_name": name}  # readable without users.jsonl


def _account_events_rows(account: Account) -> Iterable[dict]:
    operators = dict(User.objects.filter(pk__in=AccountEvent.objects.filter(account=account).values("by_id")).values_list("pk", "email"))
    for row in _rows(AccountEvent, AccountEvent.objects.filter(account=account), skip={"id", "account_id"}):
        yield {**row, "by_email": operators.get(row["by_id"])}  # the operator, readable without their id


def _users_rows(user_ids: set[int]) -> Iterable[dict]:
    # Who they are, never how they sign in: no password hash, no platform-operator flag.
    for page in _pages(User.objects.filter(pk__in=user_ids), User):
        for values in page:
            row = catalog.row_encode(User, values)
            yield {key: row[key] for key in ("id", "email", "full_name", "is_active", "date_joined")}


def _users_referenced(account: Account, tenant_models: list[type[models.Model]]) -> set[int]:
    """Every user the account's rows name: members, inviters, token owners, and the users
    its tenant tables point at (by foreign key or by id in a column)."""
    ids: set[int] = set(Membership.objects.filter(account=account).values_list("user_id", flat=True))
    ids |= set(Invitation.objects.filter(account=account, invited_by__isnull=False).values_list("invited_by_id", flat=True))
    ids |= set(ApiToken.objects.filter(account=account).values_list("user_id", flat=True))
    for model in tenant_models:
        for column in catalog.user_fk_columns(model):
            ids |= set(model._base_manager.filter(**{f"{column}__isnull": False}).values_list(column, flat=True).distinct())
        for column, kind_column, kind in catalog.USER_ID_COLUMNS.get(model._meta.label, []):
            values = model._base_manager.filter(**{kind_column: kind}).values_list(column, flat=True).distinct()
            ids |= {int(value) for value in values if value is not None and str(value).isdigit()}
    return set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))


def _sequences(schema_name: str) -> dict[str, int | None]:
    """Each sequence's last value (None: never used), so a restored schema goes on from there:
    a conversation number or an id given out once is never given out again."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s ORDER BY sequencename", [schema_name])
        return dict(cursor.fetchall())


def _hearth_version() -> str:
    try:
        return metadata.version("hearth")
    except metadata.PackageNotFoundError:
        return "unknown"
