"""Rules for account slugs, shared by the model, the services and the commands."""

import re

from django.core.exceptions import ValidationError

# A slug is the schema name and the first label of the tenant's default host name, so it
# must be valid as both: lower-case letters and digits, starting with a letter.
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,39}$")
RESERVED_SLUGS = frozenset(
    {"public", "admin", "api", "www", "static", "media", "t", "healthz", "information_schema", "hearth", "test"}
)


def validate_account_slug(value: str) -> None:
    if not SLUG_PATTERN.match(value or ""):
        raise ValidationError(
            f"slug {value!r} is invalid: use 2-40 lower-case letters and digits, starting with a letter",
            code="invalid_slug",
        )
    if value in RESERVED_SLUGS or value.startswith("pg"):
        raise ValidationError(f"slug {value!r} is reserved", code="reserved_slug")
