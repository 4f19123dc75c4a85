"""manage.py seed_demo: the demo tenant and logins that `make run` prints. Idempotent.

Demo-only credentials: never run this against a production database.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Account, Membership, User
from django_tenants.utils import tenant_context

from accounts.services import account_create, membership_add, public_account_ensure
from ai.demo import demo_ai_seed
from kb.demo import kb_demo_seed
from analytics.demo import demo_presence_seed, demo_rollups_backfill
from conversations.demo_data import demo_agents_ensure, demo_desk_seed

DEMO_SLUG = "demo"
DEMO_DOMAIN = "demo.localhost"
DEMO_PASSWORD = "hearth-demo"
DEMO_MEMBERS = [
    ("owner@demo.example.com", "Olivia Owner", Membership.Role.OWNER),
    ("manager@demo.example.com", "Maya Manager", Membership.Role.MANAGER),
    ("agent@demo.example.com", "Arjun Agent", Membership.Role.AGENT),
]
OPS_EMAIL = "ops@hearth.localhost"
OPS_PASSWORD = "hearth-ops"
PUBLIC_HOSTS = ["localhost", "127.0.0.1"]


def _user_ensure(email: str, password: str, **fields) -> User:
    """Create the user with the demo password; an existing user keeps whatever password they have."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email, password, **fields)
    return user


class Command(BaseCommand):
    help = "Create (or complete) the demo tenant, its logins and the platform operator. Safe to re-run."

    def handle(self, *args, **options):
        with transaction.atomic():
            public_account_ensure(domains=PUBLIC_HOSTS)
            ops = _user_ensure(OPS_EMAIL, OPS_PASSWORD, full_name="Platform Ops", is_superuser=True)
            if not ops.is_superuser:
                ops.is_superuser = True
                ops.save(update_fields=["is_superuser"])

        demo = Account.objects.filter(schema_name=DEMO_SLUG).first()
        if demo is None:
            owner_email, owner_name, _ = DEMO_MEMBERS[0]
            created = account_create(
                name="Demo Co", slug=DEMO_SLUG, owner_email=owner_email, owner_password=DEMO_PASSWORD, domain=DEMO_DOMAIN,
                plan=Account.Plan.GROWTH, timezone="Europe/London",
            )
            demo = created.account
            self.stdout.write(f"created tenant {DEMO_SLUG!r} at {DEMO_DOMAIN}")

        with transaction.atomic():
            for email, full_name, role in DEMO_MEMBERS:
                user = _user_ensure(email, DEMO_PASSWORD, full_name=full_name)
                membership_add(user=user, account=demo, role=role, availability=Membership.Availability.ONLINE)
            demo_agents_ensure(account=demo, password=DEMO_PASSWORD)

        with tenant_context(demo), transaction.atomic():
            made = demo_desk_seed(account=demo)
        with tenant_context(demo):
            demo_ai_seed()  # categories, examples and a trained classifier (seconds)
            kb_demo_seed()  # the help centre drafts and the widget answer from (kb/demo_helpcentre)
            demo_presence_seed()  # a month of agents' time online
            demo_rollups_backfill()  # a month of analytics for the managers' pages
        if made:
            self.stdout.write(f"created {made} demo conversations")
        self.stdout.write("demo data is in place")
