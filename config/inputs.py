"""The one place where raw input from outside becomes Python values.

Python and PostgreSQL disagree at the edges, and each disagreement used to be a 500:
- `"²".isdigit()` is true, but `int("²")` raises: numbers are ASCII digits only here.
- A 30-digit id overflows a bigint column: numbers are bounded before a query sees them.
- PostgreSQL text and jsonb cannot hold NUL (`\\x00`), nor can UTF-8 hold a lone surrogate
  (`"\\ud800"` in JSON): text carrying either is refused.
- `json.loads` of `[[[[...]]]]` raises RecursionError, and accepts `NaN`, which jsonb refuses:
  JSON is loaded with a size and depth limit and strict numbers.
- `hmac.compare_digest` raises TypeError on non-ASCII str: secrets are compared as bytes.
- `date(9999, 12, 31)` parses, but the day after it (a day's end, the next month) overflows,
  and so does year 1 in a time zone east of UTC: days are within FIRST_DAY .. LAST_DAY.

Everything here raises `InvalidInput` (a ValueError) with a message a client can read, or
returns a clean value; callers turn it into their own 400 (the API's error shape, a form error).
"""

from __future__ import annotations

import hmac
import json
import re
from datetime import date

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 64 * 1024

# Far wider than any desk's history or plans, and far enough from date.min/date.max that a
# period, the period before it, its months and its days' ends in any time zone stay dates.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)

_ASCII_DIGITS = re.compile(r"[0-9]+")  # `\d` and str.isdigit() also accept "²" and "٣"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates UTF-8 cannot encode


class InvalidInput(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ----------------------------------------------------------------------------- numbers


def parse_int(value, *, min_value: int = 0, max_value: int = MAX_ID, what: str = "value") -> int:
    """A whole number written in ASCII digits (an optional leading minus when min_value < 0),
    within [min_value, max_value]."""
    text = value if isinstance(value, str) else str(value)
    digits = text[1:] if text.startswith("-") and min_value < 0 else text
    if not _ASCII_DIGITS.fullmatch(digits) or len(digits) > 19:
        raise InvalidInput(f"{what} must be a whole number")
    number = int(text)
    if not min_value <= number <= max_value:
        raise InvalidInput(f"{what} must be between {min_value} and {max_value}")
    return number


def parse_id(value, *, what: str = "id") -> int:
    """A primary key: 1 .. bigint max."""
    return parse_int(value, min_value=1, max_value=MAX_ID, what=what)


def id_or_none(value) -> int | None:
    """For filters that ignore what is not an id rather than refuse it."""
    try:
        return parse_id(value)
    except InvalidInput:
        return None


def int_or_none(value, *, min_value: int = 0, max_value: int = MAX_ID) -> int | None:
    try:
        return parse_int(value, min_value=min_value, max_value=max_value)
    except InvalidInput:
        return None


# ----------------------------------------------------------------------------- days


def day_check(day: date, *, what: str = "date") -> date:
    """A day someone may ask about (a report's period, a filter's day): within FIRST_DAY .. LAST_DAY."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{what} must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    return day


# ----------------------------------------------------------------------------- text


def is_storable(text: str) -> bool:
    """Can PostgreSQL store this string (no NUL, no lone surrogate)?"""
    return _UNSTORABLE.search(text) is None


def parse_text(value, *, max_length: int | None = None, what: str = "text") -> str:
    text = value if isinstance(value, str) else str(value)
    if not is_storable(text):
        raise InvalidInput(f"{what} must not contain NUL characters or invalid Unicode")
    if max_length is not None and len(text) > max_length:
        raise InvalidInput(f"{what} must be at most {max_length} characters")
    return text


def secrets_equal(expected: str, given: str) -> bool:
    """Constant-time comparison that never raises (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


# ----------------------------------------------------------------------------- JSON


def _refuse_constant(name: str):
    raise InvalidInput(f"{name} is not a JSON number PostgreSQL can store")


def json_check(data, *, max_depth: int = MAX_JSON_DEPTH):
    """Walk a decoded JSON value (iteratively: no recursion to exhaust) and refuse nesting
    deeper than max_depth and strings (keys included) PostgreSQL cannot store."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not is_storable(value):
                raise InvalidInput("JSON strings must not contain NUL characters or invalid Unicode")
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                raise InvalidInput(f"JSON nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
    return data


def json_load(raw: bytes | str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """Decode a JSON document from outside; the only exception it raises is InvalidInput."""
    if len(raw) > max_bytes:
        raise InvalidInput(f"JSON larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_refuse_constant)
    except InvalidInput:
        raise
    except RecursionError as error:
        raise InvalidInput(f"JSON nested deeper than {max_depth} levels") from error
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError, int digit limit
        raise InvalidInput(f"malformed JSON: {error}") from error
    return json_check(data, max_depth=max_depth)
