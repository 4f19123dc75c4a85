from django.db import migrations, models

from analytics.histograms import histogram_sql

DURATIONS = ["first_response", "first_response_business", "reply", "reply_business", "resolution", "resolution_business"]


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_analytics_rollups")]

    operations = [
        *[
            migrations.AddField(model_name="dailyrollup", name=f"{name}_histogram", field=models.JSONField(blank=True, default=dict))
            for name in DURATIONS
        ],
        # Rows already rolled up get their histograms from their stored values.
        migrations.RunSQL(
            "UPDATE analytics_dailyrollup SET "
            + ", ".join(f"{name}_histogram = {histogram_sql(f'{name}_seconds')}" for name in DURATIONS),
            migrations.RunSQL.noop,
        ),
    ]
