"""A Celery worker killed in the middle of a day's rollup leaves the previous rows, never half
a day: the day is replaced in one transaction."""

import os
import signal
import sys
import uuid
from datetime import date, datetime, timezone

from django.db import connection, transaction
from django_tenants.utils import tenant_context

from analytics import tasks
from analytics.models import DailyRollup, Dimension
from analytics.rollups import day_rollup
from config.health import HEARTBEAT_KEY_PREFIX
from config.redis import redis_client
from conversations import services
from tests.conftest import _stack_process, wait_for
from tests.conversations.factories import ContactFactory, InboxFactory

DAY = date(2026, 4, 7)


def _rows():
    return sorted(DailyRollup.objects.filter(day=DAY).values_list("dimension", "key", "conversations_opened"))


def _rollup_waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # activity is read once per transaction otherwise
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE %s AND pid <> pg_backend_pid()",
            ["INSERT INTO analytics_dailyrollup%"],
        )
        return cursor.fetchone()[0] > 0


def _rollup_backend_gone() -> bool:
    with connection.cursor() as cursor:
        # This database's backends only: a parallel test session's sit in its own database.
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE %s AND pid <> pg_backend_pid()",
            ['%analytics_dailyrollup%'],
        )
        return cursor.fetchone()[0] == 0


def test_a_worker_killed_mid_rollup_leaves_the_previous_rows(committed_db, alpha, tmp_path):
    with tenant_context(alpha):
        first_inbox, second_inbox = InboxFactory(auto_assign=False), InboxFactory(auto_assign=False)
        services.conversation_open(inbox=first_inbox, contact=ContactFactory(), content="Hi", at=datetime(2026, 4, 7, 10, tzinfo=timezone.utc))
        day_rollup(day=DAY)
        before = _rows()
        services.conversation_open(inbox=second_inbox, contact=ContactFactory(), content="Hi", at=datetime(2026, 4, 7, 11, tzinfo=timezone.utc))

    queue = f"analytics-kill-{uuid.uuid4().hex[:6]}"
    hostname = f"analytics-kill-{uuid.uuid4().hex[:6]}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-l", "INFO", "-Q", queue, "-n", hostname,
               "--without-gossip", "--without-mingle"]
    with _stack_process("rollup worker", command, tmp_path, lambda: redis_client().exists(f"{HEARTBEAT_KEY_PREFIX}{hostname}")) as worker:
        with tenant_context(alpha):
            # Hold back the new inbox's row: the worker's rollup deletes the day's rows, then
            # waits on this uncommitted insert of the same key, half-way through its transaction.
            with transaction.atomic():
                DailyRollup.objects.create(day=DAY, dimension=Dimension.INBOX, key=str(second_inbox.pk), computed_at=datetime.now(timezone.utc))
                tasks.day_rollup.apply_async(args=[DAY.isoformat()], queue=queue)
                wait_for(_rollup_waiting_on_a_lock, what="the worker's rollup to be half-way")
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
                transaction.set_rollback(True)
        wait_for(_rollup_backend_gone, what="the killed worker's transaction to end")
        with tenant_context(alpha):
            assert _rows() == before  # the previous rows, whole
            assert (Dimension.INBOX, str(second_inbox.pk), 1) not in _rows()
            day_rollup(day=DAY)  # and the next run completes the day
            assert (Dimension.INBOX, str(second_inbox.pk), 1) in _rows()
