"""The managers' analytics pages in the desk admin (`/admin/analytics/`): overview, agents,
teams, inboxes, categories, AI and CSAT.

Every chart has the table of its numbers beneath it and every table a CSV download
(`?csv=<table>`); each number links to the queue filtered to the conversations behind it
(analytics.drilldown). Reads come from analytics.selectors; owners, admins and managers only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe

from analytics import selectors
from analytics.access import user_reads_reports
from analytics.drilldown import queue_path_fixed, queue_url
from analytics.models import Dimension
from analytics.rollups import account_today, account_zone
from config import inputs

PERIODS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("custom", "Custom")]
PAGES = [
    ("analytics_overview", "Overview"), ("analytics_agents", "Agents"), ("analytics_teams", "Teams"),
    ("analytics_inboxes", "Inboxes"), ("analytics_categories", "Categories"), ("analytics_ai", "AI"), ("analytics_csat", "CSAT"),
    ("analytics_months", "By month"),
]
# Characters that make a spreadsheet read a cell as a formula (and tab/CR, which some read so too).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell as text, with a leading quote before anything a spreadsheet would run."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _cell_text(value) -> str:
    """A cell's text as the template would show it: "—" for nothing, numbers as they are (no
    thousands separator), anything else escaped."""
    if value is None:
        return "—"
    if type(value) in (int, float):
        return str(value)
    return conditional_escape(localize(value))


@dataclass
class Table:
    slug: str
    title: str
    headers: list[str]
    rows: list[list[tuple[object, str | None]]] = field(default_factory=list)  # (value, drill-down link)

    def body_html(self) -> str:
        """The rows as HTML, built here rather than in the template: a 90-day page has a few
        thousand cells and the template engine spends ~40 microseconds on each."""
        if not self.rows:
            return format_html('<tr><td colspan="{}">Nothing in this period.</td></tr>', len(self.headers))
        parts = []
        for row in self.rows:
            parts.append("<tr>")
            for value, link in row:
                text = _cell_text(value)
                parts.append(f'<td><a href="{escape(link)}">{text}</a></td>' if link else f"<td>{text}</td>")
            parts.append("</tr>\n")
        return mark_safe("".join(parts))  # noqa: S308 - every value and link escaped (_cell_text, escape)

    def csv_response(self, filename: str) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}-{self.slug}.csv"'
        writer = csv.writer(response)
        writer.writerow([csv_cell(header) for header in self.headers])
        for row in self.rows:
            writer.writerow([csv_cell(value) for value, _ in row])
        return response


@dataclass
class Chart:
    table: Table
    kind: str  # "bar" or "line"
    labels: list[str]
    datasets: list[dict]  # {"label", "data", "links"}: links[i] is where a click on data[i] goes

    def data(self) -> dict:
        return {"kind": self.kind, "labels": self.labels, "datasets": self.datasets}


def _minutes(seconds) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _hours(seconds) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _percent(share) -> float | None:
    return None if share is None else round(share * 100, 1)


class FilterForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    inbox = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False)
    category = forms.ChoiceField(required=False)

    def __init__(self, *args, account, **kwargs):
        from accounts.selectors import account_members
        from conversations.models import Inbox, Team
        from conversations.selectors import conversation_ai_categories

        super().__init__(*args, **kwargs)
        everyone = [("", "All")]
        self.fields["inbox"].choices = everyone + [(str(pk), name) for pk, name in Inbox.objects.values_list("pk", "name")]
        self.fields["team"].choices = everyone + [(str(pk), name) for pk, name in Team.objects.values_list("pk", "name")]
        self.fields["agent"].choices = everyone + [
            (str(pk), name or email) for pk, name, email in account_members(account=account).values_list("pk", "full_name", "email")
        ]
        self.fields["category"].choices = everyone + [(name, name) for name in conversation_ai_categories()]

    def clean(self):
        data = super().clean()
        if sum(1 for name in ("inbox", "team", "agent", "category") if data.get(name)) > 1:
            raise forms.ValidationError("Filter by one of inbox, team, agent or category at a time.")
        if data.get("period") == "custom":
            since, until = data.get("since"), data.get("until")
            for day in (since, until):
                if day is not None:
                    try:
                        inputs.day_check(day, what="A day")
                    except inputs.InvalidInput as error:
                        raise forms.ValidationError(f"{error.message}.") from None
            if not since or not until or until < since:
                raise forms.ValidationError("A custom period needs a first day on or before its last day.")
            if (until - since).days + 1 > selectors.MAX_PERIOD_DAYS:
                raise forms.ValidationError(f"A period is at most {selectors.MAX_PERIOD_DAYS} days.")
        return data

    def dates(self) -> tuple[date, date]:
        today = account_today()
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("period") == "custom":
            return data["since"], data["until"]
        days = int(data.get("period") or 30)
        return today - timedelta(days=days - 1), today

    def scope(self) -> selectors.Scope:
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.Scope.of(inbox=data.get("inbox"), team=data.get("team"), agent=data.get("agent"), category=data.get("category"))


class Pages:
    """The pages, bound to the desk's admin site (its login, its header, its sidebar)."""

    def __init__(self, site):
        self.site = site

    def urls(self):
        view = lambda method: self.site.admin_view(partial(self._page, method))  # noqa: E731
        return [
            path("analytics/", view(self.overview), name="analytics_overview"),
            path("analytics/agents/", view(partial(self.groups, Dimension.AGENT, "Agents")), name="analytics_agents"),
            path("analytics/teams/", view(partial(self.groups, Dimension.TEAM, "Teams")), name="analytics_teams"),
            path("analytics/inboxes/", view(partial(self.groups, Dimension.INBOX, "Inboxes")), name="analytics_inboxes"),
            path("analytics/categories/", view(partial(self.groups, Dimension.CATEGORY, "Categories")), name="analytics_categories"),
            path("analytics/ai/", view(self.ai), name="analytics_ai"),
            path("analytics/csat/", view(self.csat), name="analytics_csat"),
            path("analytics/months/", view(self.months), name="analytics_months"),
        ]

    def _page(self, method, request):
        if not user_reads_reports(request.user, account=request.tenant):
            raise PermissionDenied("The analytics are for owners, admins and managers.")
        form = FilterForm(request.GET or None, account=request.tenant)
        since, until = form.dates()
        scope = form.scope()
        with selectors.live_days_shared(), queue_path_fixed():
            title, context = method(request, since, until, scope)
        tables = [chart.table for chart in context.get("charts", [])] + context.get("tables", [])
        wanted = request.GET.get("csv")
        if wanted is not None:
            for table in tables:
                if table.slug == wanted:
                    return table.csv_response(f"analytics-{since}-{until}")
            raise Http404("no such table")
        query = request.GET.copy()
        query.pop("csv", None)
        return TemplateResponse(request, "admin/analytics/page.html", {
            **self.site.each_context(request),
            "title": f"Analytics: {title}", "form": form, "since": since, "until": until,
            "pages": [(reverse(f"admin:{name}"), label, request.resolver_match.url_name == name) for name, label in PAGES],
            "query": query.urlencode(), "charts_data": [chart.data() for chart in context.get("charts", [])],
            **context,
        })

    # ------------------------------------------------------------------ overview

    def overview(self, request, since, until, scope):
        length = (until - since).days + 1
        now = selectors.period_summary(since=since, until=until, scope=scope)
        before = selectors.period_summary(since=since - timedelta(days=length), until=since - timedelta(days=1), scope=scope)
        link = partial(queue_url, since=since, until=until, dimension=scope.dimension, key=scope.key)
        tiles = [
            _tile("Conversations opened", now["conversations_opened"], before["conversations_opened"], link(what="created")),
            _tile("Resolved", now["conversations_resolved"], before["conversations_resolved"], link(what="resolved")),
            _tile("First response, median (min)", _minutes(now["first_response_seconds"]["median"]),
                  _minutes(before["first_response_seconds"]["median"]), link(what="first_response"), lower_is_better=True),
            _tile("Resolution, median (h)", _hours(now["resolution_seconds"]["median"]), _hours(before["resolution_seconds"]["median"]),
                  link(what="resolved"), lower_is_better=True),
            _tile("CSAT average", now["csat"]["average"], before["csat"]["average"], None),
            _tile("SLA first response met (%)", _percent(now["sla"]["first_response_met_share"]),
                  _percent(before["sla"]["first_response_met_share"]), link(what="created", sla="first_response")),
            _tile("AI deflection (%)", _percent(now["ai"]["deflection_share"]), _percent(before["ai"]["deflection_share"]), None),
            _tile("AI cost", now["ai"]["cost"], before["ai"]["cost"], None, lower_is_better=True),
            _allowance_tile(selectors.ai_month_allowance()),
        ]
        daily = selectors.period_daily(since=since, until=until, scope=scope)
        usage = selectors.ai_usage_daily(since=since, until=until)
        charts = [
            _day_chart("volume", "Volume by day", daily, scope, "bar", [
                ("Opened", "conversations_opened", "created", None), ("Resolved", "conversations_resolved", "resolved", None),
                ("Reopened", "conversations_reopened", None, None),
            ]),
            _day_chart("first-response", "First response by day (minutes)", daily, scope, "line", [
                ("Median", "first_response_median", "first_response", _minutes), ("p90", "first_response_p90", "first_response", _minutes),
                ("Median, business hours", "first_response_business_median", "first_response", _minutes),
            ]),
            _day_chart("resolution", "Resolution time by day (hours)", daily, scope, "line", [
                ("Median", "resolution_median", "resolved", _hours), ("p90", "resolution_p90", "resolved", _hours),
            ]),
            _day_chart("csat", "CSAT by day", daily, scope, "line", [
                ("Average (1-5)", "csat_average", None, None), ("Responses", "csat_responses", None, None),
            ]),
            _day_chart("sla", "SLA by day (conversations opened that day)", daily, scope, "bar", [
                ("First response due", "sla_first_response_due", "created", None),
                ("First response breached", "sla_first_response_breached", ("created", "first_response"), None),
                ("Resolution breached", "sla_resolution_breached", ("created", "resolution"), None),
            ]),
            _day_chart("ai", "AI deflection and cost by day", [
                {**row, "ai_calls": usage.get(row["day"], {}).get("calls", 0), "ai_cost": float(usage.get(row["day"], {}).get("cost", 0))}
                for row in daily
            ], scope, "bar", [
                ("Deflected", "ai_deflected", None, None), ("Auto-replies", "ai_auto_replies", None, None),
                ("AI calls", "ai_calls", None, None), ("AI cost", "ai_cost", None, None),
            ]),
        ]
        return "overview", {"tiles": tiles, "charts": charts}

    # ------------------------------------------------------------------ one dimension's groups

    def groups(self, dimension, title, request, since, until, scope):
        rows = selectors.period_groups(since=since, until=until, dimension=dimension)
        headers = [
            dimension.title(), "Opened", "Resolved", "Handled", "Replies", "First response median (min)", "Reply median (min)",
            "Resolution median (h)", "Resolution rate (%)", "CSAT average", "CSAT responses", "SLA first response breached",
        ]
        presence = None
        if dimension == Dimension.AGENT:
            presence = selectors.period_presence(since=since, until=until)
            rows = _with_present_agents(rows, presence)
            headers += ["Online (h)", "Busy (h)"]
        table = Table(dimension, title, headers)
        for row in rows:
            link = partial(queue_url, since=since, until=until, dimension=dimension, key=row["key"])
            table.rows.append([
                (row["name"], link(what="created")), (row["conversations_opened"], link(what="created")),
                (row["conversations_resolved"], None if dimension == Dimension.AGENT else link(what="resolved")),
                (row["conversations_handled"], None), (row["messages_out"], None),
                (_minutes(row["first_response_median"]), None if dimension == Dimension.AGENT else link(what="first_response")),
                (_minutes(row["reply_median"]), None), (_hours(row["resolution_median"]), None),
                (_percent(row["resolution_rate"]), None), (row["csat_average"], None), (row["csat_responses"], None),
                (row["sla_first_response_breached"], link(what="created", sla="first_response")),
            ])
            if presence is not None:
                seconds = presence.get(row["key"], {})
                table.rows[-1] += [(_hours(seconds.get("online_seconds")), None), (_hours(seconds.get("busy_seconds")), None)]
        chart = Chart(table, "bar", [row["name"] for row in rows], [
            {"label": "Opened", "data": [row["conversations_opened"] for row in rows],
             "links": [queue_url(since=since, until=until, dimension=dimension, key=row["key"]) for row in rows]},
            {"label": "Resolved", "data": [row["conversations_resolved"] for row in rows],
             "links": [None if dimension == Dimension.AGENT else queue_url(what="resolved", since=since, until=until, dimension=dimension, key=row["key"]) for row in rows]},
        ])
        charts = [chart]
        if presence is not None:
            online = Table("agents-online", "Time online (hours)", ["Agent", "Online (h)", "Busy (h)"], [
                [(row["name"], None), *[(_hours(presence.get(row["key"], {}).get(name)), None) for name in ("online_seconds", "busy_seconds")]]
                for row in rows if row["key"] in presence
            ])
            charts.append(Chart(online, "bar", [cells[0][0] for cells in online.rows], [
                {"label": header, "data": [cells[n][0] for cells in online.rows], "links": [None] * len(online.rows)}
                for n, header in ((1, "Online (h)"), (2, "Busy (h)"))
            ]))
        return title.lower(), {"charts": charts}

    # ------------------------------------------------------------------ AI

    def ai(self, request, since, until, scope):
        summary = selectors.period_summary(since=since, until=until, scope=scope)
        ai = summary["ai"]
        figures = Table("ai-figures", "The AI on the desk", ["Figure", "Value"], [[(label, None), (value, None)] for label, value in [
            ("Classifications", ai["classifications"]), ("Corrected by agents (%)", _percent(ai["corrected_share"])),
            ("Drafts", ai["drafts"]), ("Drafts accepted", ai["drafts_accepted"]), ("Drafts edited", ai["drafts_edited"]),
            ("Drafts rejected", ai["drafts_rejected"]), ("Auto-replies", ai["auto_replies"]), ("Handoffs to people", ai["handoffs"]),
            ("Resolved without a human reply", ai["deflected"]), ("Deflection (%)", _percent(ai["deflection_share"])),
            ("Thumbs up", ai["feedback_up"]), ("Thumbs down", ai["feedback_down"]),
            ("Provider calls", ai["calls"]), ("Error rate (%)", _percent(ai["error_rate"])),
            ("Cache hit rate (%)", _percent(ai["cache_hit_rate"])), ("p95 latency (ms)", None if ai["latency_p95_ms"] is None else round(ai["latency_p95_ms"])),
            ("Input tokens", ai["input_tokens"]), ("Output tokens", ai["output_tokens"]), ("Cost", ai["cost"]),
        ]])
        models = Table("ai-models", "Calls, tokens and cost by provider and model", ["Provider", "Model", "Calls", "Errors", "Cache hits", "Input tokens", "Output tokens", "Cost"])
        for entry in ai["by_model"]:
            models.rows.append([(entry[name], None) for name in ("provider", "model", "calls", "errors", "cache_hits", "input_tokens", "output_tokens", "cost")])
        daily = selectors.period_daily(since=since, until=until, scope=scope)
        chart = _day_chart("ai-daily", "AI by day", daily, scope, "bar", [
            ("Classifications", "ai_classifications", None, None), ("Corrections", "ai_corrections", None, None),
            ("Drafts", "ai_drafts", None, None), ("Auto-replies", "ai_auto_replies", None, None),
            ("Handoffs", "ai_handoffs", None, None), ("Deflected", "ai_deflected", None, None),
        ])
        return "AI", {"charts": [chart], "tables": [_allowance_table(selectors.ai_month_allowance()), figures, models]}

    # ------------------------------------------------------------------ CSAT

    def csat(self, request, since, until, scope):
        summary = selectors.period_summary(since=since, until=until, scope=scope)
        distribution = summary["csat"]["distribution"]
        # Each rating opens the conversations rated so in the period (and the scope), as counted.
        rated = {n: queue_url(what="rated", since=since, until=until, dimension=scope.dimension, key=scope.key, csat=n) for n in range(1, 6)}
        table = Table("csat", f"Ratings ({summary['csat']['responses']}, average {summary['csat']['average'] or '—'})",
                      ["Rating", "Responses"], [[(f"{n}/5", rated[n]), (distribution[str(n)], rated[n])] for n in range(1, 6)])
        chart = Chart(table, "bar", [f"{n}/5" for n in range(1, 6)], [
            {"label": "Responses", "data": [distribution[str(n)] for n in range(1, 6)], "links": [rated[n] for n in range(1, 6)]},
        ])
        comments = Table("csat-comments", "Latest comments", ["When", "Conversation", "Rating", "Comment"])
        for response in selectors.csat_latest(since=since, until=until, scope=scope):
            day = timezone.localtime(response.created_at, account_zone()).date()
            link = reverse("admin:conversations_conversation_change", args=[response.conversation_id])
            comments.rows.append([
                (response.created_at.strftime("%Y-%m-%d %H:%M"), queue_url(what="rated", since=day, until=day, dimension=scope.dimension, key=scope.key)),
                (f"#{response.conversation.number}", link),
                (response.rating, queue_url(what="rated", since=day, until=day, dimension=scope.dimension, key=scope.key, csat=response.rating)),
                (response.comment, None),
            ])
        return "CSAT", {"charts": [chart], "tables": [comments]}


    # ------------------------------------------------------------------ by month

    def months(self, request, since, until, scope):
        rows = selectors.period_monthly(since=since, until=until, scope=scope)
        table = Table("months", "By month (each month's figures from its daily rows)", [
            "Month", "Opened", "Resolved", "Reopened", "First response median (min)", "First response p90 (min)",
            "Resolution median (h)", "Resolution p90 (h)", "CSAT average", "CSAT responses", "SLA first response met (%)",
            "AI deflection (%)", "AI calls", "AI cost",
        ])
        for row in rows:
            link = partial(queue_url, since=row["since"], until=row["until"], dimension=scope.dimension, key=scope.key)
            table.rows.append([
                (row["month"], link(what="created")), (row["conversations_opened"], link(what="created")),
                (row["conversations_resolved"], link(what="resolved")), (row["conversations_reopened"], None),
                (_minutes(row["first_response_seconds"]["median"]), link(what="first_response")),
                (_minutes(row["first_response_seconds"]["p90"]), link(what="first_response")),
                (_hours(row["resolution_seconds"]["median"]), link(what="resolved")), (_hours(row["resolution_seconds"]["p90"]), link(what="resolved")),
                (row["csat"]["average"], None), (row["csat"]["responses"], link(what="rated")),
                (_percent(row["sla"]["first_response_met_share"]), link(what="created", sla="first_response")),
                (_percent(row["ai"]["deflection_share"]), None), (row["ai"]["calls"], None), (row["ai"]["cost"], None),
            ])
        chart = Chart(table, "bar", [row["month"] for row in rows], [
            {"label": "Opened", "data": [row["conversations_opened"] for row in rows], "links": [cells[1][1] for cells in table.rows]},
            {"label": "Resolved", "data": [row["conversations_resolved"] for row in rows], "links": [cells[2][1] for cells in table.rows]},
        ])
        return "by month", {"charts": [chart]}


def _with_present_agents(rows: list[dict], presence: dict) -> list[dict]:
    """The agents' rows, plus a row for each agent who was online without a conversation."""
    missing = [key for key in presence if key not in {row["key"] for row in rows}]
    names = selectors.group_names(Dimension.AGENT, missing)
    empty = {name: 0 for name in selectors.COUNTS}
    figures = {f"{field}_{p}": None for field in ("first_response", "reply", "resolution") for p in ("median", "p90")}
    extra = [{"key": key, "name": names[key], **empty, **figures, "csat_average": None, "resolution_rate": None} for key in missing]
    return rows + sorted(extra, key=lambda row: row["name"])


def _money(value) -> str:
    return f"{float(value):.2f}"


def _allowance_tile(allowance: dict) -> dict:
    """This month's share of the plan's AI budget (or of its calls), the amounts beneath."""
    calls = f"{allowance['calls']} of {allowance['calls_allowed']} calls" if allowance["calls_allowed"] is not None else f"{allowance['calls']} calls"
    if allowance["budget_usd"] is not None:
        value, note = f"{_percent(allowance['budget_share'])}%", f"{_money(allowance['cost'])} of {_money(allowance['budget_usd'])} USD, {calls}"
    elif allowance["calls_allowed"] is not None:
        value, note = f"{_percent(allowance['calls_share'])}%", f"{_money(allowance['cost'])} USD, {calls}"
    else:
        value, note = "no limit", f"{_money(allowance['cost'])} USD, {calls}"
    return {"label": f"AI budget used, {allowance['month']}", "value": value, "note": note, "change": None,
            "link": reverse("admin:analytics_ai")}


def _allowance_table(allowance: dict) -> Table:
    unlimited = "no limit"
    return Table("ai-allowance", f"This month ({allowance['month']}, through today) against the plan", ["", "Used", "Plan allows", "Used (%)"], [
        [("AI cost (USD)", None), (_money(allowance["cost"]), None),
         (unlimited if allowance["budget_usd"] is None else _money(allowance["budget_usd"]), None), (_percent(allowance["budget_share"]), None)],
        [("AI provider calls", None), (allowance["calls"], None),
         (unlimited if allowance["calls_allowed"] is None else allowance["calls_allowed"], None), (_percent(allowance["calls_share"]), None)],
    ])


def _tile(label, value, previous, link, *, lower_is_better=False) -> dict:
    change = None
    if value is not None and previous not in (None, 0, "0.000000"):
        try:
            delta = (float(value) - float(previous)) / float(previous) * 100
        except (TypeError, ValueError, ZeroDivisionError):
            delta = None
        if delta is not None:
            better = (delta < 0) if lower_is_better else (delta > 0)
            change = {"text": f"{delta:+.0f}% vs previous period", "good": better if round(delta) else None}
    return {"label": label, "value": "—" if value is None else value, "change": change, "link": link}


def _day_chart(slug, title, daily, scope, kind, series) -> Chart:
    """A chart by day of the desk's (or the scope's) rows: `series` are (label, field, what the
    drill-down shows: "created"/"resolved"/"first_response" or (what, sla), formatter)."""
    table = Table(slug, title, ["Day", *[label for label, *_ in series]])
    labels = []
    datasets = [{"label": label, "data": [], "links": []} for label, *_ in series]
    for row in daily:
        day = row["day"]
        labels.append(day.isoformat())
        cells = [(day.isoformat(), queue_url(since=day, until=day, dimension=scope.dimension, key=scope.key))]
        for dataset, (label, name, what, formatter) in zip(datasets, series):
            value = row.get(name)
            value = formatter(value) if formatter else value
            dataset["data"].append(value)
            link = None
            if what is not None:
                what, sla = what if isinstance(what, tuple) else (what, None)
                link = queue_url(what=what, since=day, until=day, dimension=scope.dimension, key=scope.key, sla=sla)
            cells.append((value, link))
            dataset["links"].append(link)
        table.rows.append(cells)
    return Chart(table, kind, labels, datasets)
