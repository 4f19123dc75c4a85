"""Writes on platform records: accounts (with their schema), users, memberships, invitations
and API tokens."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.core.mail import send_mail
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from accounts import tenant_template
from accounts.access import OWNER_ROLE_MESSAGE, roles_assignable
from accounts.models import Account, ApiToken, Domain, Invitation, Membership, User, validate_timezone
from accounts.plans import PlanLimitExceeded, account_lock, plan_limit_check
from accounts.validators import validate_account_slug
from config.errors import ApplicationError


@dataclass(frozen=True)
class AccountCreated:
    account: Account
    domain: Domain
    owner: User
    owner_is_new: bool
    generated_password: str | None


def _messages(error: ValidationError) -> str:
    return "; ".join(error.messages)


def account_create(
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_password: str | None = None,
    domain: str | None = None,
    plan: str = Account.Plan.TRIAL,
    timezone: str = "UTC",
) -> AccountCreated:
    """Create an account: its schema (a clone of the migrated tenant template), its domain and its owner, all or nothing.

    Everything is validated before anything is written; the writes then run in one
    transaction, and PostgreSQL's transactional DDL rolls the new schema back with the rows
    if any later step fails, so no half-made schema is ever left behind.

    An owner email that already has a login reuses that user (logins are global) and leaves
    their password untouched. A new owner without a password gets a generated one.
    """
    name = (name or "").strip()
    slug = (slug or "").strip()
    owner_email = User.objects.normalize_email((owner_email or "").strip()).lower()
    domain = (domain or f"{slug}.{settings.TENANT_DOMAIN_SUFFIX}").strip().lower()

    if not name:
        raise ApplicationError("name must not be empty", code="invalid_name", fields={"name": ["required"]})
    try:
        validate_account_slug(slug)
    except ValidationError as error:
        raise ApplicationError(_messages(error), code="invalid_slug", fields={"slug": error.messages}) from error
    try:
        validate_email(owner_email)
    except ValidationError as error:
        raise ApplicationError(
            f"owner email {owner_email!r} is not a valid email address", code="invalid_email", fields={"owner_email": error.messages}
        ) from error
    try:
        validate_timezone(timezone)
    except ValidationError as error:
        raise ApplicationError(_messages(error), code="invalid_timezone", fields={"timezone": error.messages}) from error
    if plan not in Account.Plan.values:
        raise ApplicationError(f"plan {plan!r} is not one of {', '.join(Account.Plan.values)}", code="invalid_plan")
    if Account.objects.filter(schema_name=slug).exists() or schema_exists(slug):
        raise ApplicationError(f"slug {slug!r} is already taken", code="slug_taken", fields={"slug": ["taken"]})
    if Domain.objects.filter(domain=domain).exists():
        raise ApplicationError(f"domain {domain!r} already serves another account", code="domain_taken", fields={"domain": ["taken"]})

    owner = User.objects.filter(email__iexact=owner_email).first()
    generated_password = None
    if owner is None:
        if owner_password is None:
            generated_password = owner_password = secrets.token_urlsafe(12)
        try:
            validate_password(owner_password, user=User(email=owner_email))
        except ValidationError as error:
            raise ApplicationError(_messages(error), code="weak_password", fields={"password": error.messages}) from error

    # A template left behind by new migrations is rebuilt here, outside the transaction (its
    # build commits as it migrates); the clone below is then part of the transaction.
    tenant_template.template_ready()
    with transaction.atomic():
        account = Account(schema_name=slug, name=name, plan=plan, timezone=timezone)
        account.save(verbosity=0)  # creates the schema, cloned from the tenant template
        account_domain = Domain.objects.create(domain=domain, tenant=account, is_primary=True)
        owner_is_new = owner is None
        if owner_is_new:
            owner = User.objects.create_user(owner_email, owner_password)
        membership_add(user=owner, account=account, role=Membership.Role.OWNER)

    return AccountCreated(
        account=account, domain=account_domain, owner=owner, owner_is_new=owner_is_new, generated_password=generated_password
    )


@transaction.atomic
def membership_add(*, user: User, account: Account, role: str, availability: str = Membership.Availability.OFFLINE) -> Membership:
    """Give the user a role in the account; an existing membership keeps its role. A new
    member takes a seat of the plan (PlanLimitExceeded when none is free)."""
    if account.schema_name == get_public_schema_name():
        raise ApplicationError("the platform account has no members; use is_superuser", code="public_account")
    account_lock(account=account)
    membership = Membership.objects.filter(user=user, account=account).first()
    if membership is None:
        plan_limit_check(account=account, resource="agents", used=Membership.objects.filter(account=account).count())
        membership = Membership.objects.create(user=user, account=account, role=role, availability=availability)
    return membership


def seats_taken(*, account: Account, except_email: str = "") -> int:
    """Members, and open invitations (each holds the seat its person will take), of any role."""
    open_invitations = Invitation.objects.filter(
        account=account, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now(),
    ).exclude(email__iexact=except_email)
    return Membership.objects.filter(account=account).count() + open_invitations.count()


def invitation_seat_check(*, account: Account, email: str) -> None:
    """PlanLimitExceeded when the plan has no seat for one more invitation (an address already
    invited holds its seat: inviting it again is a resend)."""
    plan_limit_check(account=account, resource="agents", used=seats_taken(account=account, except_email=email))


def public_account_ensure(*, domains: list[str]) -> Account:
    """The platform's own row (schema `public`) and the host names that reach it."""
    account, _ = Account.objects.get_or_create(
        schema_name=get_public_schema_name(), defaults={"name": "Hearth platform", "plan": Account.Plan.ENTERPRISE}
    )
    for host in domains:
        Domain.objects.get_or_create(domain=host, defaults={"tenant": account, "is_primary": host == domains[0]})
    return account


def api_token_create(*, user: User, account: Account, name: str) -> tuple[ApiToken, str]:
    """A new agents'-API key for the user in the account; the key is returned once, only its
    hash is kept."""
    if not Membership.objects.filter(user=user, account=account).exists():
        raise ApplicationError(f"{user.email} is not a member of {account.name}", code="not_a_member")
    key = f"hth_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, account=account, name=(name or "API token").strip()[:100], prefix=key[:10], key_hash=api_token_hash(key))
    return token, key


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def membership_availability_set(*, membership: Membership, availability: str, at: datetime | None = None) -> Membership:
    """An agent goes online, busy or offline; auto-assignment only picks online agents. Each
    change is recorded in the account's schema, where the analytics count time online."""
    from django_tenants.utils import tenant_context

    from analytics.presence import availability_change_record

    if availability not in Membership.Availability.values:
        raise ApplicationError(f"availability {availability!r} is not one of {', '.join(Membership.Availability.values)}", code="invalid")
    in_account = getattr(connection.tenant, "pk", None) == membership.account_id
    with contextlib.nullcontext() if in_account else tenant_context(membership.account), transaction.atomic():
        # Locked, so two changes at once are recorded in the order they were applied.
        previous = Membership.objects.select_for_update().values_list("availability", flat=True).get(pk=membership.pk)
        membership.availability = availability
        if previous != availability:
            Membership.objects.filter(pk=membership.pk).update(availability=availability)
            availability_change_record(membership=membership, previous=previous, at=at or timezone.now())
    return membership


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """The key stops working at once; the row stays as the record of what it was."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=token.revoked_at)
    return token


# ----------------------------------------------------------------------------- invitations

INVITATION_TTL = timedelta(days=7)


def invitation_create(*, account: Account, email: str, role: str, invited_by: User, base_url: str) -> Invitation:
    """Invite an address to the account; the e-mail with its link goes out after commit.

    Nothing here looks at logins: the caller's answer must be the same for an address that
    has a login in another account and for one never seen, so no outside person is revealed.
    An address with an open invitation gets it again (new link, new expiry, the new role).
    """
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise ApplicationError(f"{email!r} is not a valid email address", code="invalid_email", fields={"email": error.messages}) from error
    if role not in Membership.Role.values:
        raise ApplicationError(f"role {role!r} is not one of {', '.join(Membership.Role.values)}", code="invalid_role")
    if account.schema_name == get_public_schema_name():
        raise ApplicationError("the platform account has no members; use is_superuser", code="public_account")
    if role not in roles_assignable(invited_by, account=account):
        raise ApplicationError(OWNER_ROLE_MESSAGE, code="role_not_allowed", fields={"role": ["not allowed"]})
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        # Only this account's own members are looked at: the inviter can see them anyway.
        raise ApplicationError(f"{email} is already a member of this account", code="already_member", fields={"email": ["already a member"]})
    with transaction.atomic():
        account_lock(account=account)
        invitation_seat_check(account=account, email=email)
        invitation = Invitation.objects.select_for_update().filter(
            account=account, email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).first()
        if invitation is None:
            try:
                with transaction.atomic():
                    invitation = Invitation.objects.create(
                        account=account, email=email, role=role, invited_by=invited_by, expires_at=timezone.now() + INVITATION_TTL
                    )
            except IntegrityError:  # the same address invited at the same moment: one invitation
                invitation = Invitation.objects.select_for_update().get(
                    account=account, email=email, accepted_at__isnull=True, revoked_at__isnull=True
                )
        invitation.role, invitation.invited_by = role, invited_by
        invitation.expires_at = timezone.now() + INVITATION_TTL
        invitation.save(update_fields=["role", "invited_by", "expires_at"])
        _invitation_send_after_commit(invitation=invitation, base_url=base_url)
    return invitation


def invitation_resend(*, invitation: Invitation, base_url: str) -> Invitation:
    """A new link (the old one stops working) and a fresh expiry, for an open invitation."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise ApplicationError("only an open invitation can be sent again", code="not_open")
    with transaction.atomic():
        invitation.expires_at = timezone.now() + INVITATION_TTL
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=invitation.expires_at)
        _invitation_send_after_commit(invitation=invitation, base_url=base_url)
    return invitation


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(revoked_at=invitation.revoked_at)
    return invitation


def _invitation_send_after_commit(*, invitation: Invitation, base_url: str) -> None:
    from accounts.tasks import invitation_send

    invitation_id = invitation.pk
    transaction.on_commit(lambda: invitation_send.delay(invitation_id=invitation_id, base_url=base_url))


def invitation_email_send(*, invitation: Invitation, base_url: str) -> str | None:
    """Make the invitation's one-time link and e-mail it; returns the link, or None when the
    invitation is no longer open (revoked or accepted while the task waited).

    The token is made here, in the worker, so it never travels through the broker; each
    sending replaces the previous token, so only the newest link works.
    """
    if invitation.status != Invitation.Status.PENDING:
        return None
    token = secrets.token_urlsafe(32)
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=invitation_token_hash(token), sent_at=timezone.now())
    link = f"{base_url.rstrip('/')}/invite/{token}/"
    inviter = invitation.invited_by.get_full_name() if invitation.invited_by_id else "Someone"
    send_mail(
        subject=f"You are invited to {invitation.account.name} on Hearth",
        message=(
            f"{inviter} invited you to join {invitation.account.name} on Hearth as {invitation.get_role_display().lower()}.\n\n"
            f"Open this link to accept (it works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n{link}\n\n"
            "If you did not expect this, ignore this e-mail."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return link


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    # The account first (one lock order everywhere): two people accepting at once for the
    # last seat are counted one after the other, and the second is refused.
    account = account_lock(account=invitation.account)
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.status != Invitation.Status.PENDING:
        raise ApplicationError("this invitation is no longer open", code="not_open")
    membership = Membership.objects.filter(user=user, account=account).first()
    if membership is None:
        # The seat may have been taken since the invitation was sent (a plan moved down, a
        # member added another way): refused, the invitation stays open for when one frees.
        try:
            plan_limit_check(account=account, resource="agents", used=Membership.objects.filter(account=account).count())
        except PlanLimitExceeded as refusal:
            raise PlanLimitExceeded(refusal.resource, refusal.limit, (
                f"{account.name} has no free seat: its {account.get_plan_display()} plan allows {refusal.limit:,} members. "
                "Ask the person who invited you to free one, then open this link again"
            )) from None
        membership = Membership.objects.create(user=user, account=account, role=locked.role)
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    invitation.accepted_at = locked.accepted_at
    return membership


@transaction.atomic
def invitation_accept_as_new(*, invitation: Invitation, full_name: str, password: str) -> Membership:
    """A person without a login: their login is made with this name and password, and joins."""
    full_name = (full_name or "").strip()
    if not full_name:
        raise ApplicationError("tell us your name", code="invalid_name", fields={"full_name": ["required"]})
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ApplicationError("this address already has a login: sign in with its password", code="login_exists")
    try:
        validate_password(password, user=User(email=invitation.email, full_name=full_name))
    except ValidationError as error:
        raise ApplicationError(_messages(error), code="weak_password", fields={"password": error.messages}) from error
    user = User.objects.create_user(invitation.email, password, full_name=full_name[:200])
    return _invitation_accept(invitation=invitation, user=user)


@transaction.atomic
def invitation_accept_as_existing(*, invitation: Invitation, password: str) -> tuple[Membership, User]:
    """A person who already has a login proves it with their password, and joins."""
    user = User.objects.filter(email__iexact=invitation.email, is_active=True).first()
    if user is None or not user.check_password(password):
        raise ApplicationError("that password is not right for this address", code="wrong_password", fields={"password": ["wrong"]})
    return _invitation_accept(invitation=invitation, user=user), user


# ----------------------------------------------------------------------------- deleting a login


@dataclass(frozen=True)
class UserDeleted:
    email: str
    schemas_swept: int
    rows_deleted: int
    rows_cleared: int


def user_delete(*, user: User) -> UserDeleted:
    """Delete a login for good, with what each key to it says (`on_delete`) applied in the
    public schema and in every account's schema.

    Tenant tables name users without a database constraint (the keys' comment in
    conversations/models.py says why), so PostgreSQL would let the user row go and leave
    assignees, authors and team members naming nobody; this is the one way a login is
    deleted. Every account's schema is swept, not only where the user is a member today: a
    former member may still be an assignee or an author there.

    The steps commit one by one, so no transaction locks the tables of a thousand schemas:
    first the login is deactivated and its memberships end (no new row can name it after
    that), then each schema in its own transaction, then the public rows and the user. A run
    that stopped half-way is finished by running it again.
    """
    email = user.email
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        Membership.objects.filter(user=user).delete()
    schemas_swept = rows_deleted = rows_cleared = 0
    tenant_apps = [app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS]
    shared_apps = [app.rsplit(".", 1)[-1] for app in settings.SHARED_APPS]
    accounts = Account.objects.exclude(schema_name=get_public_schema_name()).order_by("pk")
    for account in accounts.iterator():
        if not schema_exists(account.schema_name):
            continue  # a deletion that stopped half-way: nothing of it left to name the user
        with schema_context(account.schema_name), transaction.atomic():
            deleted, cleared = _user_references_apply(user=user, app_labels=tenant_apps)
        schemas_swept += 1
        rows_deleted += deleted
        rows_cleared += cleared
    connection.set_schema_to_public()
    with transaction.atomic():
        deleted, cleared = _user_references_apply(user=user, app_labels=shared_apps)
        # Its references are gone in every schema: the row itself, without the ORM's collector
        # (which would look for the tenant tables in the public schema).
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(User._meta.db_table)} WHERE id = %s", [user.pk])
    return UserDeleted(email=email, schemas_swept=schemas_swept, rows_deleted=rows_deleted + deleted + 1, rows_cleared=rows_cleared + cleared)


def _user_references_apply(*, user: User, app_labels: list[str]) -> tuple[int, int]:
    """In the current schema, apply each key to the user (of the models of these apps) as its
    `on_delete` says; returns (rows deleted, keys set to null or their default)."""
    deleted = cleared = 0
    for model in django_apps.get_models(include_auto_created=True):
        if model._meta.app_label not in app_labels or model is User or model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            if not field.is_relation or field.related_model is not User:
                continue
            rows = model._base_manager.filter(**{field.name: user.pk})
            on_delete = field.remote_field.on_delete
            if on_delete is models.CASCADE:
                deleted += rows.delete()[0]
            elif on_delete is models.SET_NULL:
                cleared += rows.update(**{field.name: None})
            elif on_delete is models.SET_DEFAULT:
                cleared += rows.update(**{field.name: field.get_default()})
            elif on_delete in (models.PROTECT, models.RESTRICT) and rows.exists():
                raise ApplicationError(
                    f"{user.email} is still named by {model._meta.verbose_name_plural} ({field.name}): remove those first",
                    code="user_referenced",
                )
    return deleted, cleared
