"""When rollups run: the tenant's ended days, the 3 before yesterday, stale days; the job
record; the backfill command."""

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from analytics.models import DailyRollup, Dimension, JobStatus, ReportingDirtyDay
from analytics.rollups import account_today, day_bounds
from analytics.services import ROLLUP_JOB, rollups_run
from conversations import followups, services
from conversations.events import Actor
from conversations.models import Conversation
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory, SLAPolicyFactory
from conversations.models import SLATarget


def test_scheduled_rollup_does_ended_days_once_then_only_stale_ones(tenant_in_zone, alpha):
    tenant_in_zone("Pacific/Auckland")
    today = account_today()
    yesterday = today - timedelta(days=1)
    agent = MembershipFactory(account=alpha, role="agent").user
    policy = SLAPolicyFactory(business_hours_only=False)
    SLATarget.objects.create(policy=policy, priority=0, first_response_minutes=60, resolution_minutes=600)
    inbox = InboxFactory(auto_assign=False, sla_policy=policy)
    start = day_bounds(yesterday)[0]
    conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hi", at=start + timedelta(hours=22))

    assert rollups_run() == [yesterday - timedelta(days=n) for n in (3, 2, 1, 0)]
    assert rollups_run() == []  # yesterday is done: nothing until a day is marked stale
    assert DailyRollup.objects.get(day=yesterday, dimension=Dimension.ALL).sla_first_response_breached == 0

    # Late facts about yesterday's conversation: its SLA breach is flagged after midnight, and
    # the follow-up (as the worker runs it) marks the day of opening stale.
    services.sla_breaches_mark(at=max(day_bounds(today)[0], start + timedelta(hours=23, minutes=5)))
    followups.conversation_followup_run(conversation_id=conversation.pk, days=[yesterday])
    assert rollups_run() == [yesterday]
    row = DailyRollup.objects.get(day=yesterday, dimension=Dimension.ALL)
    assert (row.sla_first_response_due, row.sla_first_response_breached) == (1, 1)
    assert not ReportingDirtyDay.objects.exists()
    status = JobStatus.objects.get(job=ROLLUP_JOB)
    assert status.run_count == 3 and status.last_error == ""


def test_a_failed_rollup_is_recorded_with_its_error_and_keeps_the_rows(tenant_in_zone, alpha):
    tenant_in_zone("UTC")
    yesterday = account_today() - timedelta(days=1)
    ReportingDirtyDay.objects.create(day=yesterday, marked_at=datetime.now().astimezone())
    rollups_run()
    before = DailyRollup.objects.filter(day=yesterday).count()
    # A broken inbox schedule (saved behind validation's back) makes the day fail, whichever
    # weekday yesterday was.
    broken = InboxFactory(auto_assign=False, business_hours={day: [["09:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    conversation = services.conversation_open(inbox=broken, contact=ContactFactory(), content="Hi", at=day_bounds(yesterday)[0] + timedelta(hours=9))
    agent = MembershipFactory(account=alpha, role="agent").user
    services.message_add_reply(conversation=conversation, content="Hello", author=agent, at=day_bounds(yesterday)[0] + timedelta(hours=10))
    ReportingDirtyDay.objects.create(day=yesterday, marked_at=datetime.now().astimezone())
    with pytest.raises(ValueError):
        rollups_run()
    status = JobStatus.objects.get(job=ROLLUP_JOB)
    assert status.last_error.startswith("ValueError") and status.run_count == 2
    assert DailyRollup.objects.filter(day=yesterday).count() == before


def test_backfill_rolls_up_a_period_resumes_and_refuses_bad_input(db, alpha, beta, capsys):
    with tenant_context(alpha):
        today = account_today()
        InboxFactory()
        inbox = InboxFactory(auto_assign=False)
        services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hi", at=day_bounds(today - timedelta(days=5))[0] + timedelta(hours=10))
    since = (today - timedelta(days=6)).isoformat()
    call_command("analytics_backfill", "--account", "alpha", "--since", since)
    assert "alpha: 6 day(s) rolled up" in capsys.readouterr().out
    with tenant_context(alpha):
        assert DailyRollup.objects.filter(dimension=Dimension.ALL).count() == 6
        assert DailyRollup.objects.get(day=today - timedelta(days=5), dimension=Dimension.ALL).conversations_opened == 1
        DailyRollup.objects.filter(day=today - timedelta(days=2)).delete()  # as if interrupted there
    call_command("analytics_backfill", "--account", "alpha", "--since", since)
    assert "alpha: 1 day(s) rolled up, 5 already done" in capsys.readouterr().out
    with tenant_context(beta):
        assert not DailyRollup.objects.exists()  # one account's backfill never writes another's

    for arguments, message in [
        (["--account", "nope", "--since", since], "no account 'nope'"),
        (["--account", "alpha", "--since", "2026-02-30"], "--since '2026-02-30' is not a date"),
        (["--all", "--since", since, "--until", "2020-01-01"], "is before --since"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("analytics_backfill", *arguments)
