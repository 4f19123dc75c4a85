from django.db import migrations

DURATIONS = ["first_response", "first_response_business", "reply", "reply_business", "resolution", "resolution_business"]


def _storage(kind: str) -> str:
    return "ALTER TABLE analytics_dailyrollup " + ", ".join(
        f"ALTER COLUMN {name}_seconds SET STORAGE {kind}" for name in DURATIONS
    )


class Migration(migrations.Migration):
    """The days' duration arrays stored out of line but not compressed (EXTERNAL): sorted
    float8 seconds hardly compress, and PostgreSQL's pglz tried on every rolled-up row (a
    180-day rollup spent about a tenth of its time compressing them). Rows written before keep
    their compressed values until rewritten; both read the same."""

    dependencies = [("analytics", "0005_anpages_presence")]

    operations = [migrations.RunSQL(_storage("EXTERNAL"), _storage("EXTENDED"))]
