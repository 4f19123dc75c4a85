"""Who may read the analytics (pages and reports API): owners, admins and managers. Agents
keep seeing the background-job record (accounts/access.py), not the figures."""

from accounts.access import membership_role
from accounts.models import Membership

READS_REPORTS = frozenset({Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.MANAGER})


def user_reads_reports(user, *, account) -> bool:
    return bool(getattr(user, "is_active", False)) and membership_role(user, account=account) in READS_REPORTS
