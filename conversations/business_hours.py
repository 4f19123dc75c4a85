"""An inbox's opening hours: is it open now, and when is N business minutes after a moment.

A schedule maps weekdays to opening intervals in the inbox's time zone:
`{"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "sat": [["10:00", "14:00"]]}`.
An empty schedule means always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
# A target never needs more than a year of calendar to be met; past that the schedule is broken.
_MAX_DAYS = 366


def _parse(value: str) -> time:
    if value == "24:00":
        return time.max
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def validate_business_hours(value) -> None:
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        raise ValidationError("business hours must be an object of weekday -> intervals")
    unknown = set(value) - set(WEEKDAYS)
    if unknown:
        raise ValidationError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
    has_interval = False
    for day, intervals in value.items():
        if not isinstance(intervals, list):
            raise ValidationError(f"{day}: a list of [start, end] pairs is expected")
        for interval in intervals:
            if not (isinstance(interval, list) and len(interval) == 2 and all(isinstance(t, str) and _TIME.match(t) for t in interval)):
                raise ValidationError(f"{day}: {interval!r} is not a [\"HH:MM\", \"HH:MM\"] pair")
            if _parse(interval[0]) >= _parse(interval[1]):
                raise ValidationError(f"{day}: {interval[0]} is not before {interval[1]}")
            has_interval = True
    if not has_interval:
        raise ValidationError("business hours with no opening interval would never open; leave empty for always open")


@dataclass(frozen=True)
class BusinessHours:
    schedule: dict
    tz: ZoneInfo

    @classmethod
    def of_inbox(cls, inbox) -> "BusinessHours":
        return cls(schedule=inbox.business_hours or {}, tz=ZoneInfo(inbox.timezone or "UTC"))

    @property
    def always_open(self) -> bool:
        return not self.schedule

    def _windows(self, day) -> list[tuple[datetime, datetime]]:
        intervals = self.schedule.get(WEEKDAYS[day.weekday()], [])
        windows = []
        for start, end in sorted(intervals):
            window_end = datetime.combine(day, _parse(end), tzinfo=self.tz)
            if end == "24:00":
                window_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)
            windows.append((datetime.combine(day, _parse(start), tzinfo=self.tz), window_end))
        return windows

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        local = at.astimezone(self.tz)
        return any(start <= local < end for start, end in self._windows(local.date()))

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        """The moment `minutes` of opening time after `start` have passed."""
        if self.always_open:
            return start + timedelta(minutes=minutes)
        remaining = timedelta(minutes=minutes)
        cursor = start.astimezone(self.tz)
        for offset in range(_MAX_DAYS):
            for window_start, window_end in self._windows(cursor.date() + timedelta(days=offset)):
                begin = max(window_start, cursor)
                if begin >= window_end:
                    continue
                available = window_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        raise ValueError("business hours never reach the target within a year")

    def windows_between(self, first_day, last_day) -> list[tuple[datetime, datetime]]:
        """The opening windows of every day from `first_day` to `last_day` (dates, inclusive):
        the analytics rollups measure durations in business hours against them in SQL."""
        windows = []
        for offset in range((last_day - first_day).days + 1):
            windows.extend(self._windows(first_day + timedelta(days=offset)))
        return windows
