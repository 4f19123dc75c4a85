"""The reports API (`/api/v1/reports/...`): a period's figures for managers' BI tools, from the
daily rollups plus today's live figures (analytics.selectors)."""

from __future__ import annotations

from datetime import date

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.access import user_reads_reports
from analytics.models import Dimension
from config import inputs
from config.api import error_responses
from conversations.api.authentication import ApiTokenAuthentication, IsAccountMember
from conversations.api.throttling import ApiUserThrottle


class ReportsPermission(IsAccountMember):
    message = "reports are for owners, admins and managers"

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if not user_reads_reports(request.user, account=request.auth.account):
            raise exceptions.PermissionDenied(self.message)
        return True


class PeriodInput(serializers.Serializer):
    since = serializers.DateField(help_text="First day, YYYY-MM-DD, in the account's time zone")
    until = serializers.DateField(help_text="Last day (inclusive), YYYY-MM-DD")
    inbox = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    team = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    agent = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    category = serializers.CharField(required=False, max_length=50)

    def validate(self, data):
        for name in ("since", "until"):
            try:
                inputs.day_check(data[name], what="the day")
            except inputs.InvalidInput as error:
                raise serializers.ValidationError({name: [error.message]}) from None
        if data["until"] < data["since"]:
            raise serializers.ValidationError({"until": ["must not be before since"]})
        if (data["until"] - data["since"]).days + 1 > selectors.MAX_PERIOD_DAYS:
            raise serializers.ValidationError({"until": [f"a period is at most {selectors.MAX_PERIOD_DAYS} days"]})
        if sum(1 for name in ("inbox", "team", "agent", "category") if name in data) > 1:
            raise serializers.ValidationError({"non_field_errors": ["filter by one of inbox, team, agent, category"]})
        return data


class DailyInput(PeriodInput):
    group_by = serializers.ChoiceField(choices=["inbox", "team", "agent", "category", "priority"], required=False)


_PERIOD_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, required=True, description="First day (account's time zone)"),
    OpenApiParameter("until", OpenApiTypes.DATE, required=True, description="Last day, inclusive; at most 366 days"),
    OpenApiParameter("inbox", OpenApiTypes.INT, description="One inbox's conversations"),
    OpenApiParameter("team", OpenApiTypes.INT, description="One team's conversations"),
    OpenApiParameter("agent", OpenApiTypes.INT, description="One agent's (user id) work"),
    OpenApiParameter("category", OpenApiTypes.STR, description="One AI category's conversations"),
]


def _percentiles(name):
    return serializers.DictField(child=serializers.FloatField(allow_null=True), help_text=(
        f"{name}: median and p90, seconds. Exact up to 20,000 durations in the period; above that, "
        "from daily histograms, within 1.96% of the exact value (0.5 s under one second)."
    ))


class SummaryOutput(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    conversations_opened = serializers.IntegerField()
    conversations_reopened = serializers.IntegerField()
    conversations_resolved = serializers.IntegerField()
    conversations_handled = serializers.IntegerField()
    messages_in = serializers.IntegerField()
    messages_out = serializers.IntegerField()
    first_response_seconds = _percentiles("first response")
    first_response_business_seconds = _percentiles("first response in business hours")
    reply_seconds = _percentiles("reply time")
    reply_business_seconds = _percentiles("reply time in business hours")
    resolution_seconds = _percentiles("resolution")
    resolution_business_seconds = _percentiles("resolution in business hours")
    csat = serializers.DictField(help_text="responses, average, distribution (1-5)")
    sla = serializers.DictField(help_text="due, breached and met share of first response and resolution")
    ai = serializers.DictField(help_text="classifications, corrections, drafts, auto-replies, handoffs, deflection, calls, tokens, cost, cache hit rate, error rate, p95 latency, by_model")


class DailyRowOutput(serializers.Serializer):
    day = serializers.DateField()
    group = serializers.CharField(help_text="The group's id or name (blank without group_by; 'none' for no group)")
    name = serializers.CharField(required=False)
    conversations_opened = serializers.IntegerField()
    conversations_resolved = serializers.IntegerField()
    first_response_median = serializers.FloatField(allow_null=True)
    first_response_p90 = serializers.FloatField(allow_null=True)
    resolution_median = serializers.FloatField(allow_null=True)
    resolution_p90 = serializers.FloatField(allow_null=True)
    csat_responses = serializers.IntegerField()
    csat_average = serializers.FloatField(allow_null=True)


class MonthlyRowOutput(SummaryOutput):
    month = serializers.CharField(help_text="YYYY-MM; since/until are the month's days within the asked period")


class ReportsApi(APIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [ReportsPermission]
    throttle_classes = [ApiUserThrottle]

    def period(self, input_class):
        data = input_class(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        scope = selectors.Scope.of(inbox=values.get("inbox"), team=values.get("team"), agent=values.get("agent"), category=values.get("category"))
        return values, scope


class ReportSummaryApi(ReportsApi):
    @extend_schema(
        operation_id="reports_summary", parameters=_PERIOD_PARAMETERS,
        responses={200: SummaryOutput, **error_responses(400, 401, 403, 429)},
        description="The period's figures (dates inclusive, in the account's time zone): daily rollups plus today's live figures.",
    )
    def get(self, request):
        values, scope = self.period(PeriodInput)
        return Response(selectors.period_summary(since=values["since"], until=values["until"], scope=scope))


class ReportDailyApi(ReportsApi):
    @extend_schema(
        operation_id="reports_daily",
        parameters=[*_PERIOD_PARAMETERS, OpenApiParameter("group_by", OpenApiTypes.STR, enum=["inbox", "team", "agent", "category", "priority"])],
        responses={200: DailyRowOutput(many=True), **error_responses(400, 401, 403, 429)},
        description="One row per day and group (every day of the period without group_by).",
    )
    def get(self, request):
        values, scope = self.period(DailyInput)
        dimension = values.get("group_by") or Dimension.ALL
        rows = selectors.period_daily(since=values["since"], until=values["until"], dimension=dimension, scope=scope)
        if dimension != Dimension.ALL:
            names = selectors.group_names(dimension, {row["group"] for row in rows})
            for row in rows:
                row["name"] = names[row["group"]]
        return Response(rows)


class ReportMonthlyApi(ReportsApi):
    @extend_schema(
        operation_id="reports_monthly", parameters=_PERIOD_PARAMETERS,
        responses={200: MonthlyRowOutput(many=True), **error_responses(400, 401, 403, 429)},
        description=(
            "One summary per calendar month the period touches (the first and last month cut to the period), "
            "each computed from its daily rows as /summary computes any period: nothing monthly is stored."
        ),
    )
    def get(self, request):
        values, scope = self.period(PeriodInput)
        return Response(selectors.period_monthly(since=values["since"], until=values["until"], scope=scope))
