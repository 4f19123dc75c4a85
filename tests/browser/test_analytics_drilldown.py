"""A manager, in a real browser, opens the analytics overview, sees the volume chart, clicks
one day's bar and lands on the queue filtered to that day's conversations: as many as the bar."""

from datetime import timedelta

import pytest
from django.conf import global_settings
from django.test import override_settings
from django_tenants.utils import tenant_context

from accounts.models import Membership
from analytics.rollups import account_today, day_bounds, day_rollup
from conversations import services
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.browser.conftest import sign_in
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db")


def test_a_bar_of_the_volume_chart_opens_that_days_conversations(alpha, alpha_base, browser):
    manager = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        manager.set_password(PASSWORD)
        manager.save(update_fields=["password"])
    with tenant_context(alpha):
        today = account_today()
        inbox = InboxFactory(auto_assign=False)
        counts = {today - timedelta(days=3): 3, today - timedelta(days=2): 1}
        for day, count in counts.items():
            for n in range(count):
                services.conversation_open(inbox=inbox, contact=ContactFactory(), content=f"Question {n}", at=day_bounds(day)[0] + timedelta(hours=9 + n))
            day_rollup(day=day)
    day = today - timedelta(days=3)

    page = browser.new_page()
    sign_in(page, alpha_base, manager.email)
    page.goto(f"{alpha_base}/admin/analytics/?period=7")
    canvas = page.locator("#chart-volume canvas")
    page.wait_for_function("document.querySelector('#chart-volume canvas').chart !== undefined")
    canvas.scroll_into_view_if_needed()  # below the tiles: a click outside the viewport hits nothing
    # Where Chart.js drew the "Opened" bar of that day, and the number it stands for.
    bar = page.evaluate(
        """(day) => { const chart = document.querySelector('#chart-volume canvas').chart;
                      const index = chart.data.labels.indexOf(day);
                      const element = chart.getDatasetMeta(0).data[index];
                      return {x: element.x, y: (element.y + element.base) / 2, value: chart.data.datasets[0].data[index]}; }""",
        day.isoformat(),
    )
    assert bar["value"] == 3
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + bar["x"], box["y"] + bar["y"])
    page.wait_for_url(f"**/admin/conversations/conversation/?created_day={day.isoformat()}")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == bar["value"]
    page.close()
