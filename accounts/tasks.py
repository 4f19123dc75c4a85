"""Background work on platform records."""

from celery import shared_task

from accounts.models import Invitation
from accounts.services import invitation_email_send


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitation_send(*, invitation_id: int, base_url: str) -> bool:
    """E-mail an invitation's link (queued after the invitation is committed)."""
    invitation = Invitation.objects.select_related("account", "invited_by").filter(pk=invitation_id).first()
    if invitation is None:
        return False
    return invitation_email_send(invitation=invitation, base_url=base_url) is not None
