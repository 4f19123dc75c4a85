"""Writes on platform records: accounts (with their schema), users and memberships."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_exists

from accounts.models import Account, ApiToken, Domain, Membership, User, validate_timezone
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
    """Create an account: its schema (migrated), its domain and its owner, all or nothing.

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

    with transaction.atomic():
        account = Account(schema_name=slug, name=name, plan=plan, timezone=timezone)
        account.save(verbosity=0)  # creates and migrates the schema
        account_domain = Domain.objects.create(domain=domain, tenant=account, is_primary=True)
        owner_is_new = owner is None
        if owner_is_new:
            owner = User.objects.create_user(owner_email, owner_password)
        membership_add(user=owner, account=account, role=Membership.Role.OWNER)

    return AccountCreated(
        account=account, domain=account_domain, owner=owner, owner_is_new=owner_is_new, generated_password=generated_password
    )


def membership_add(*, user: User, account: Account, role: str, availability: str = Membership.Availability.OFFLINE) -> Membership:
    """Give the user a role in the account; an existing membership keeps its role."""
    if account.schema_name == get_public_schema_name():
        raise ApplicationError("the platform account has no members; use is_superuser", code="public_account")
    membership, _ = Membership.objects.get_or_create(
        user=user, account=account, defaults={"role": role, "availability": availability}
    )
    return membership


def public_account_ensure(*, domains: list[str]) -> Account:
    """The platform's own row (schema `public`) and the host names that reach it."""
    account, _ = Account.objects.get_or_create(
        schema_name=get_public_schema_name(), defaults={"name": "Hearth platform", "plan": Account.Plan.ENTERPRISE}
    )
    for host in domains:
        Domain.objects.get_or_create(domain=host, defaults={"tenant": account, "is_primary": host == domains[0]})
    return account


def membership_invite(
    *, account: Account, email: str, full_name: str = "", role: str = Membership.Role.AGENT, password: str | None = None,
    availability: str = Membership.Availability.OFFLINE, max_concurrent_conversations: int = 10,
) -> tuple[Membership, str | None]:
    """Add a person to the account by email: an existing login is reused (and keeps its
    password), a new one is created with the given password or a generated one, returned once."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise ApplicationError(f"{email!r} is not a valid email address", code="invalid_email", fields={"email": error.messages}) from error
    if role not in Membership.Role.values:
        raise ApplicationError(f"role {role!r} is not one of {', '.join(Membership.Role.values)}", code="invalid_role")
    user = User.objects.filter(email__iexact=email).first()
    generated = None
    with transaction.atomic():
        if user is None:
            if not password:
                generated = password = secrets.token_urlsafe(12)
            try:
                validate_password(password, user=User(email=email))
            except ValidationError as error:
                raise ApplicationError(_messages(error), code="weak_password", fields={"password": error.messages}) from error
            user = User.objects.create_user(email, password, full_name=full_name.strip())
        if Membership.objects.filter(account=account, user=user).exists():
            raise ApplicationError(f"{email} is already a member of {account.name}", code="already_member")
        membership = Membership.objects.create(
            account=account, user=user, role=role, availability=availability, max_concurrent_conversations=max_concurrent_conversations
        )
    return membership, generated


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


def membership_availability_set(*, membership: Membership, availability: str) -> Membership:
    """An agent goes online, busy or offline; auto-assignment only picks online agents."""
    if availability not in Membership.Availability.values:
        raise ApplicationError(f"availability {availability!r} is not one of {', '.join(Membership.Availability.values)}", code="invalid")
    Membership.objects.filter(pk=membership.pk).update(availability=availability)
    membership.availability = availability
    return membership
