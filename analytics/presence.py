"""Agents' time online: each change of a member's availability is recorded in the account's
schema (AvailabilityChange), and each day's seconds online and busy per agent are computed from
those changes (PresenceDaily), in the account's time zone.

How it counts: an interval runs from a change to the agent's next change (or to now, for the
last one); an interval over local midnight is split at midnight and counts on both days (a DST
day has 23 or 25 hours of them). Before an agent's first recorded change nothing is counted:
the desk does not know. The rollup (analytics.rollups.days_rollup) replaces the days' rows in
its own transaction; today's figures are computed live by the same SQL.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection
from django.utils import timezone

from accounts.models import Membership
from analytics.models import AvailabilityChange, PresenceDaily

_CHANGES = AvailabilityChange._meta.db_table

# Per (day, agent): seconds online and busy from the intervals between availability changes
# that overlap the days; each interval is clipped to each local day it overlaps.
_PRESENCE_SQL = f"""
    WITH relevant AS (
        SELECT id FROM {_CHANGES} WHERE changed_at >= %(start)s AND changed_at < %(end)s
        UNION ALL  -- each agent's last change before the first day: where it stood at midnight
        SELECT id FROM (SELECT DISTINCT ON (user_id) id FROM {_CHANGES} WHERE changed_at < %(start)s
                        ORDER BY user_id, changed_at DESC, id DESC) latest
    ), intervals AS (
        SELECT user_id, availability, changed_at AS starts,
               LEAST(COALESCE(LEAD(changed_at) OVER (PARTITION BY user_id ORDER BY changed_at, id), %(now)s), %(end)s) AS ends
        FROM {_CHANGES} WHERE id IN (SELECT id FROM relevant)
    ), days AS (
        SELECT d::date AS day, d AT TIME ZONE %(tz)s AS starts, (d + interval '1 day') AT TIME ZONE %(tz)s AS ends
        FROM generate_series(%(since)s::timestamp, %(until)s::timestamp, interval '1 day') d
    )
    SELECT days.day, i.user_id,
           COALESCE(SUM(EXTRACT(EPOCH FROM LEAST(i.ends, days.ends) - GREATEST(i.starts, days.starts)))
                    FILTER (WHERE i.availability = 'online'), 0)::float8 AS online_seconds,
           COALESCE(SUM(EXTRACT(EPOCH FROM LEAST(i.ends, days.ends) - GREATEST(i.starts, days.starts)))
                    FILTER (WHERE i.availability = 'busy'), 0)::float8 AS busy_seconds
    FROM intervals i JOIN days ON i.starts < days.ends AND i.ends > days.starts
    WHERE i.availability IN ('online', 'busy') AND i.ends > i.starts
    GROUP BY days.day, i.user_id
"""


def availability_change_record(*, membership: Membership, previous: str, at: datetime) -> AvailabilityChange:
    """Record that the member's availability became `membership.availability` at `at`. Call it
    in the account's schema, in the transaction that changed the membership."""
    return AvailabilityChange.objects.create(
        user_id=membership.user_id, availability=membership.availability, previous=previous, changed_at=at
    )


def _params(*, since: date, until: date, tz, now: datetime) -> dict:
    from analytics.rollups import day_bounds

    return {"since": since, "until": until, "tz": tz.key, "start": day_bounds(since, tz)[0],
            "end": day_bounds(until, tz)[1], "now": now}


def presence_days_replace(*, cursor, params: dict) -> None:
    """Replace the stored presence of the days `params["since"]`..`params["until"]` (the
    rollup's parameters: start, end, tz, computed_at); runs in the rollup's transaction."""
    values = {**params, "now": params["computed_at"]}
    cursor.execute(f"DELETE FROM {PresenceDaily._meta.db_table} WHERE day BETWEEN %(since)s AND %(until)s", values)
    cursor.execute(
        f"INSERT INTO {PresenceDaily._meta.db_table} (day, user_id, online_seconds, busy_seconds, computed_at) "
        f"SELECT p.*, %(computed_at)s FROM ({_PRESENCE_SQL}) p",
        values,
    )


def presence_days_compute(*, since: date, until: date) -> list[PresenceDaily]:
    """The days' presence computed now from the changes, not stored (today's live figures)."""
    from analytics.rollups import account_zone

    moment = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_PRESENCE_SQL, _params(since=since, until=until, tz=account_zone(), now=moment))
        return [
            PresenceDaily(day=day, user_id=user_id, online_seconds=online, busy_seconds=busy, computed_at=moment)
            for day, user_id, online, busy in cursor.fetchall()
        ]
