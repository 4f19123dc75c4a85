"""The managers' analytics pages: who may read them, the numbers and their drill-down links
to the queue, and CSV downloads a spreadsheet cannot run."""

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest

from accounts.models import Membership
from analytics.rollups import account_today, day_bounds, day_rollup
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory

Role = Membership.Role


@pytest.fixture
def desk(tenant_in_zone, alpha):
    tenant_in_zone("America/Chicago")
    today = account_today()
    agent = MembershipFactory(account=alpha, role=Role.AGENT).user
    team = TeamFactory(name="Billing")
    inbox = InboxFactory(auto_assign=False, default_team=team, name="Web")
    days = {}
    for back, count in ((3, 2), (2, 1)):
        day = today - timedelta(days=back)
        days[back] = day
        for n in range(count):
            conversation = services.conversation_open(
                inbox=inbox, contact=ContactFactory(name="=cmd|' /C calc'!A0" if n == 0 else "Ann"), content="Help",
                at=day_bounds(day)[0] + timedelta(hours=23, minutes=30),  # late in the local evening
            )
            services.message_add_reply(conversation=conversation, content="Sure", author=agent, at=day_bounds(day)[0] + timedelta(hours=23, minutes=45))
            services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(agent),
                                             at=day_bounds(day)[0] + timedelta(hours=23, minutes=50))
            services.csat_record(conversation=conversation, rating=5, comment="@SUM(1+1)*cmd", at=day_bounds(day)[0] + timedelta(hours=23, minutes=55))
        day_rollup(day=day)
    return {"days": days, "agent": agent, "team": team, "inbox": inbox}


def _member_client(client, account, role):
    user = MembershipFactory(account=account, role=role).user
    admin_login(client, user.email, PASSWORD)
    return client


def _links(html: str) -> list[str]:
    return [unescape(link) for link in re.findall(r'href="([^"]+)"', html)]


def _anchors(html: str) -> list[tuple[str, str]]:
    return [(unescape(link), text) for link, text in re.findall(r'<a href="([^"]+)">([^<]*)</a>', html)]


def test_a_manager_reads_the_overview_and_each_number_opens_its_conversations(desk, alpha, alpha_client):
    client = _member_client(alpha_client, alpha, Role.MANAGER)
    response = client.get("/admin/analytics/", {"period": "7"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Volume by day" in html and "analytics/vendor/chart.umd.min.js" in html
    day = desk["days"][3].isoformat()
    # The volume table's "opened" cell of that day (the bar's number) and where it leads.
    volume = html.split('id="chart-volume"')[1].split("</section>")[0]
    [(opened_link, opened)] = {(link, text) for link, text in _anchors(volume) if link.endswith(f"?created_day={day}") and text.isdigit()}
    queue = client.get(opened_link)
    assert queue.status_code == 200
    assert opened == "2" and len(queue.context["cl"].result_list) == 2
    assert len(client.get(f"/admin/conversations/conversation/?resolved_day={day}").context["cl"].result_list) == 2
    team_page = client.get("/admin/analytics/teams/", {"period": "7"}).content.decode()
    assert "Billing" in team_page
    [team_link] = {link for link in _links(team_page) if f"team__id__exact={desk['team'].pk}" in link and "created_day" in link and "sla" not in link}
    assert len(client.get(team_link).context["cl"].result_list) == 3


def test_csv_downloads_neutralise_formulas(desk, alpha, alpha_client):
    client = _member_client(alpha_client, alpha, Role.OWNER)
    response = client.get("/admin/analytics/csat/", {"period": "7", "csv": "csat-comments"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["When", "Conversation", "Rating", "Comment"]
    assert {row[3] for row in rows[1:]} == {"'@SUM(1+1)*cmd"}
    volume = list(csv.reader(io.StringIO(client.get("/admin/analytics/", {"csv": "volume"}).content.decode())))
    assert volume[0] == ["Day", "Opened", "Resolved", "Reopened"] and len(volume) == 31
    assert client.get("/admin/analytics/", {"csv": "nope"}).status_code == 404


def test_agents_are_refused_and_hostile_filters_are_harmless(desk, alpha, alpha_client):
    agent_client = _member_client(alpha_client, alpha, Role.AGENT)
    for page in ("", "agents/", "ai/", "csat/"):
        assert agent_client.get(f"/admin/analytics/{page}").status_code == 403


def test_hostile_filters_fall_back_to_the_default_period(desk, alpha, client):
    from django.test import Client

    manager = _member_client(Client(HTTP_HOST="alpha.localhost"), alpha, Role.MANAGER)
    for params in ({"period": "custom", "since": "2026-13-01"}, {"inbox": "1e99"}, {"team": "-1"}, {"period": "custom", "since": "1900-01-01", "until": "2026-01-01"},
                   {"inbox": str(desk["inbox"].pk), "team": str(desk["team"].pk)}):
        response = manager.get("/admin/analytics/", params)
        assert response.status_code == 200, params
    assert manager.get("/admin/conversations/conversation/", {"created_day": "2026-02-30"}).context["cl"].result_list.count() == 0


def test_a_manager_of_another_account_cannot_read_these_pages(desk, beta, beta_client, alpha_client):
    manager = MembershipFactory(account=beta, role=Role.MANAGER).user
    refused = alpha_client.post("/admin/login/", {"username": manager.email, "password": PASSWORD})
    assert refused.status_code == 200  # the login form again: not a member here
    assert alpha_client.get("/admin/analytics/").status_code == 302  # to the login page


def test_each_csat_rating_and_comment_opens_exactly_the_conversations_rated_so(desk, alpha, alpha_client):
    client = _member_client(alpha_client, alpha, Role.MANAGER)
    conversation = Conversation.objects.filter(csat__isnull=True).first() or services.conversation_open(
        inbox=desk["inbox"], contact=ContactFactory(), content="Meh", at=day_bounds(desk["days"][2])[0] + timedelta(hours=9))
    services.csat_record(conversation=conversation, rating=2, comment="slow", at=day_bounds(desk["days"][2])[0] + timedelta(hours=10))
    day_rollup(day=desk["days"][2])
    html = client.get("/admin/analytics/csat/", {"period": "7"}).content.decode()
    ratings = html.split('data-table="csat"')[1].split("</table>")[0]
    shown = {}
    for link, text in _anchors(ratings):
        if text.isdigit():
            shown[link] = int(text)
    assert sorted(shown.values()) == [0, 0, 0, 1, 3]
    for link, count in shown.items():
        assert "rated_day=" in link and "csat=" in link
        assert len(client.get(link).context["cl"].result_list) == count, link
    comments = html.split('data-table="csat-comments"')[1].split("</table>")[0]
    [(slow_link, _)] = [(link, text) for link, text in _anchors(comments) if text == "2"]
    assert [c.pk for c in client.get(slow_link).context["cl"].result_list] == [conversation.pk]
    assert client.get("/admin/conversations/conversation/", {"csat": "9"}).context["cl"].result_list.count() == 0


def test_the_period_chosen_is_the_period_shown(desk, alpha, alpha_client):
    client = _member_client(alpha_client, alpha, Role.MANAGER)
    for params, days in (({"period": "7"}, 7), ({"period": "90"}, 90), ({}, 30),
                         ({"period": "custom", "since": desk["days"][3].isoformat(), "until": desk["days"][2].isoformat()}, 2)):
        volume = list(csv.reader(io.StringIO(client.get("/admin/analytics/", {**params, "csv": "volume"}).content.decode())))
        assert len(volume) == days + 1, params
