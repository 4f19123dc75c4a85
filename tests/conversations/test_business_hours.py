from datetime import datetime, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from conversations.business_hours import BusinessHours, validate_business_hours

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS_9_TO_5 = {d: [["09:00", "12:00"], ["13:00", "17:00"]] for d in ["mon", "tue", "wed", "thu", "fri"]}


def test_open_inside_intervals_and_closed_at_lunch_and_weekends():
    hours = BusinessHours(WEEKDAYS_9_TO_5, PARIS)
    assert hours.is_open(datetime(2026, 11, 23, 10, 0, tzinfo=PARIS))  # Monday
    assert not hours.is_open(datetime(2026, 11, 23, 12, 30, tzinfo=PARIS))
    assert not hours.is_open(datetime(2026, 11, 22, 10, 0, tzinfo=PARIS))  # Sunday
    assert BusinessHours({}, PARIS).is_open(datetime(2026, 11, 22, 3, 0, tzinfo=PARIS))


def test_adding_minutes_skips_lunch_nights_and_weekends():
    hours = BusinessHours(WEEKDAYS_9_TO_5, PARIS)
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=PARIS)
    assert hours.add_minutes(friday, 90) == datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)
    monday_morning = datetime(2026, 11, 23, 11, 30, tzinfo=PARIS)
    assert hours.add_minutes(monday_morning, 60) == datetime(2026, 11, 23, 13, 30, tzinfo=PARIS)
    saturday = datetime(2026, 11, 21, 8, 0, tzinfo=dt_timezone.utc)
    assert hours.add_minutes(saturday, 1) == datetime(2026, 11, 23, 9, 1, tzinfo=PARIS)


@pytest.mark.parametrize("bad", [
    {"monday": [["09:00", "17:00"]]},
    {"mon": [["17:00", "09:00"]]},
    {"mon": [["9am", "5pm"]]},
    {"mon": []},
    ["mon"],
])
def test_invalid_schedules_are_rejected_with_a_reason(bad):
    with pytest.raises(ValidationError):
        validate_business_hours(bad)
