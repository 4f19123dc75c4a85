"""Platform-wide records in the public schema: tenants (accounts), their host names, users
and who belongs to which account in what role.

Everything a tenant owns lives in the tenant's own schema (see docs/architecture.md).
"""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.timezone import now
from django_tenants.models import DomainMixin, TenantMixin

from accounts.validators import validate_account_slug


# A retention period's bounds: 0 days would erase every message at the next nightly run
# (today's too), and a period past what a date can hold would stop that run for good.
RETENTION_DAYS_MIN, RETENTION_DAYS_MAX = 1, 36_500


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/Paris)", code="invalid_timezone")


class Account(TenantMixin):
    """A company using Hearth; its `schema_name` is its slug and names its PostgreSQL schema."""

    class Plan(models.TextChoices):
        TRIAL = "trial", "Trial"
        STARTER = "starter", "Starter"
        GROWTH = "growth", "Growth"
        ENTERPRISE = "enterprise", "Enterprise"

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        # Desk logins refused, widget API 403 `account_suspended`, Celery jobs skip it;
        # nothing is deleted (accounts/lifecycle.py).
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.TRIAL)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(default=now, editable=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE, editable=False)
    suspended_at = models.DateTimeField(null=True, blank=True, editable=False)
    suspended_reason = models.CharField(max_length=200, blank=True, editable=False)
    # Retention (enforced nightly): blank keeps data for as long as the account exists; else
    # RETENTION_DAYS_MIN .. RETENTION_DAYS_MAX days (accounts.forms, the retention service).
    retention_message_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Erase message contents older than this many days (blank: keep)."
    )
    retention_ai_payload_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Drop AI call prompts and responses older than this many days (blank: keep)."
    )

    # The schema is created (and migrated) when the row is first saved. It is never dropped
    # by deleting the row: an operator drops a schema on purpose, not by a stray delete.
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    def create_schema(self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1) -> bool:
        """A new schema is a clone of the migrated tenant template (accounts/tenant_template.py):
        a fraction of a second at any number of migrations, instead of replaying them all."""
        from django_tenants.utils import schema_exists

        from accounts import tenant_template

        if sync_schema and not self.is_public and tenant_template.template_ready():
            if check_if_exists and schema_exists(self.schema_name):
                return False
            tenant_template.schema_clone(schema_name=self.schema_name)
            return True
        return super().create_schema(check_if_exists=check_if_exists, sync_schema=sync_schema, verbosity=verbosity)

    @property
    def is_suspended(self) -> bool:
        return self.state == self.State.SUSPENDED

    @property
    def slug(self) -> str:
        return self.schema_name

    @property
    def is_public(self) -> bool:
        from django_tenants.utils import get_public_schema_name

        return self.schema_name == get_public_schema_name()


# Slug rules apply to the inherited schema_name field.
Account._meta.get_field("schema_name").validators.append(validate_account_slug)


class Domain(DomainMixin):
    """A host name that serves one account (`demo.localhost`, `support.acme.com`)."""

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, email: str) -> "User":
        # Logins are case-insensitive: "Ann@Example.com" is the same person as "ann@example.com".
        return self.get(email__iexact=email)

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("an email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)  # None marks the password unusable
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields["is_superuser"] = True
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser):
    """A person who signs in. Global: one login for every account they are a member of.

    What a user may do inside an account follows from their Membership role (accounts/access.py);
    `is_superuser` marks a platform operator, who uses the public host's admin only.
    """

    # Stored lower-cased (manager and clean()), so the unique index is case-insensitive in effect.
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_superuser = models.BooleanField(
        default=False, help_text="Platform operator: may use the public admin (accounts, domains, users)."
    )
    date_joined = models.DateTimeField(default=now, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    # The admin asks the user object about permissions; the answers come from accounts.access,
    # the one place that knows what each role may do in the account being served.
    @property
    def is_staff(self) -> bool:
        from accounts import access

        return access.user_can_use_admin(self, account=access.current_account())

    def has_perm(self, perm: str, obj=None) -> bool:
        from accounts import access

        return access.user_has_perm(self, perm, account=access.current_account())

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        from accounts import access

        return access.user_has_module_perms(self, app_label, account=access.current_account())


class Membership(models.Model):
    """A user's place in one account: their role and whether they can take conversations."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        AGENT = "agent", "Agent"

    class Availability(models.TextChoices):
        ONLINE = "online", "Online"
        BUSY = "busy", "Busy"
        OFFLINE = "offline", "Offline"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    availability = models.CharField(max_length=20, choices=Availability.choices, default=Availability.OFFLINE)
    max_concurrent_conversations = models.PositiveSmallIntegerField(
        default=10, help_text="Auto-assignment skips the agent once this many open conversations are theirs."
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["account", "user__email"]
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="accounts_membership_unique")]
        indexes = [models.Index(fields=["account", "role"])]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.account.schema_name}"


class ApiToken(models.Model):
    """A user's key for the agents' API of one account. Only a SHA-256 of the key is stored;
    the key itself is shown once, when it is made."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'CRM sync'.")
    prefix = models.CharField(max_length=12, editable=False, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invitation(models.Model):
    """An owner's or admin's invitation for an e-mail address to join their account.

    Nothing about the address's owner is read when it is made: whether the address has a
    login anywhere is only looked at by whoever opens the link, who holds the mailbox. Only
    a SHA-256 of the link's token is kept; it is set when the e-mail goes out (each sending
    makes a new token, so a resent link replaces the old one).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Membership.Role.choices, default=Membership.Role.AGENT)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False)
    token_hash = models.CharField(max_length=64, null=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and account: inviting again resends it.
            models.UniqueConstraint(
                fields=["account", "email"], condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="accounts_invitation_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_role_display()})"

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return self.Status.ACCEPTED
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at <= now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class AccountEvent(models.Model):
    """What a platform operator did to an account, who and when (accounts/lifecycle.py writes
    it in the same transaction as the change). `by` is empty for a command run from a shell;
    `source` then names the command and the system user who ran it."""

    class Action(models.TextChoices):
        SUSPENDED = "suspended", "Suspended"
        RESUMED = "resumed", "Resumed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=Action.choices)
    reason = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=200, help_text="Where the change was made: the platform admin or a command.")
    at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["account", "-at"], name="accounts_event_account_at")]

    def __str__(self) -> str:
        return f"{self.account.schema_name} {self.action} at {self.at:%Y-%m-%d %H:%M}"
