"""Drill-down: from a number on the analytics pages to the queue filtered to exactly the
conversations behind it. The queue's filters for it (days in the account's time zone, as the
rollups count them) and the links to the queue, in one place so the two cannot disagree."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from functools import lru_cache
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import get_script_prefix, get_urlconf, reverse

from analytics.models import NO_KEY, Dimension
from analytics.rollups import day_bounds
from config import inputs
from conversations.models import ConversationEvent

def days_parse(value: str | None) -> tuple[date, date] | None:
    """"2026-03-01" or "2026-03-01..2026-03-07" (inclusive); None when unreadable."""
    if not value or len(value) > 30:
        return None
    first, _, last = value.partition("..")
    try:
        since, until = date.fromisoformat(first), date.fromisoformat(last or first)
        inputs.day_check(since), inputs.day_check(until)
    except ValueError:  # InvalidInput too: a day whose end in the account's zone is no date
        return None
    return (since, until) if since <= until else None

def days_text(since: date, until: date) -> str:
    return since.isoformat() if since == until else f"{since.isoformat()}..{until.isoformat()}"

class _DaysFilter(admin.SimpleListFilter):
    """A day or a range of days in the account's time zone; shown only when set (by a link
    from the analytics pages); an unreadable value matches nothing rather than everything."""

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        days = days_parse(value)
        if days is None:
            return queryset.none()
        start, end = day_bounds(days[0])[0], day_bounds(days[1])[1]
        return self.within(queryset, start, end)

class CreatedDayFilter(_DaysFilter):
    title = "opened on"
    parameter_name = "created_day"

    def within(self, queryset, start, end):
        return queryset.filter(created_at__gte=start, created_at__lt=end)

class FirstResponseDayFilter(_DaysFilter):
    title = "first response on"
    parameter_name = "first_response_day"

    def within(self, queryset, start, end):
        return queryset.filter(first_response_at__gte=start, first_response_at__lt=end)

class ResolvedDayFilter(_DaysFilter):
    title = "resolved on"
    parameter_name = "resolved_day"

    def within(self, queryset, start, end):
        resolutions = ConversationEvent.objects.filter(
            action="status_changed", new_value="resolved", created_at__gte=start, created_at__lt=end
        ).values("conversation_id")
        return queryset.filter(pk__in=resolutions)

class RatedDayFilter(_DaysFilter):
    title = "rated on"
    parameter_name = "rated_day"

    def within(self, queryset, start, end):
        return queryset.filter(csat__created_at__gte=start, csat__created_at__lt=end)

class CSATRatingFilter(admin.SimpleListFilter):
    """The customer's rating (1-5); shown only when set by a link from the CSAT page."""

    title = "CSAT rating"
    parameter_name = "csat"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"{value}/5")] if value else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value not in {"1", "2", "3", "4", "5"}:
            return queryset.none()
        return queryset.filter(csat__rating=int(value))

# The queue's filter parameter for each dimension's key (the queue admin's own list filters).
_GROUP_PARAMETER = {
    Dimension.INBOX: "inbox__id__exact",
    Dimension.TEAM: "team__id__exact",
    Dimension.AGENT: "assignee",
    Dimension.CATEGORY: "ai_category__exact",
    Dimension.PRIORITY: "priority__exact",
}
_NO_GROUP = {
    Dimension.INBOX: None, Dimension.TEAM: ("team__isnull", "True"), Dimension.AGENT: ("assignee", "none"),
    Dimension.CATEGORY: None, Dimension.PRIORITY: None,
}

def queue_url(*, what: str = "created", since: date, until: date, dimension: str = Dimension.ALL, key: str = "", sla: str | None = None,
              csat: int | None = None) -> str | None:
    """The queue filtered to the conversations behind a figure: `what` happened (created,
    first_response, resolved, rated) in the days, in the group, optionally with a breached
    SLA or a given rating. None when the queue cannot express the group (no category)."""
    query = _queue_query(what, since, until, dimension, key, sla, csat)
    return None if query is None else f"{_queue_path()}?{query}"


@lru_cache(maxsize=4096)
def _queue_query(what: str, since: date, until: date, dimension: str, key: str, sla: str | None, csat: int | None) -> str | None:
    # Kept per process: a 90-day page builds ~1,500 links, many the same (a day's cell and its
    # bar), and urlencode() of each was a tenth of the page's time.
    params = {f"{what}_day": days_text(since, until)}
    if dimension != Dimension.ALL and key:
        if key == NO_KEY:
            pair = _NO_GROUP.get(dimension)
            if pair is None:
                return None
            params[pair[0]] = pair[1]
        else:
            params[_GROUP_PARAMETER[dimension]] = key
    if sla:
        params["sla"] = sla
    if csat is not None:
        params["csat"] = str(csat)
    return urlencode(params)


_QUEUE_PATHS: dict[tuple, str] = {}
# The queue's address fixed for a page (queue_path_fixed): a 90-day page builds ~1,500 links,
# and looking up the URLconf and script prefix for each was a tenth of its Python time.
_FIXED_PATH: ContextVar[str | None] = ContextVar("analytics_queue_path", default=None)


def _queue_path() -> str:
    """The queue's address, reversed once per URLconf and prefix."""
    fixed = _FIXED_PATH.get()
    if fixed is not None:
        return fixed
    where = (get_urlconf(), get_script_prefix())
    if where not in _QUEUE_PATHS:
        _QUEUE_PATHS[where] = reverse("admin:conversations_conversation_changelist")
    return _QUEUE_PATHS[where]


@contextmanager
def queue_path_fixed():
    """Within the block (one request), every link uses the queue's address looked up once."""
    token = _FIXED_PATH.set(_queue_path())
    try:
        yield
    finally:
        _FIXED_PATH.reset(token)


QUEUE_FILTERS = [CreatedDayFilter, FirstResponseDayFilter, ResolvedDayFilter, RatedDayFilter, CSATRatingFilter]
