"""Knowledge gaps in the admin: managers see the questions no article answered, counted per
category (open, last 30 days), filter them and mark them resolved; agents do not see them;
another tenant's gaps never show."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from ai.models import KnowledgeGap
from tests.accounts.factories import MembershipFactory, PASSWORD
from tests.ai.draft_world import Role, in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conftest import admin_login

pytestmark = pytest.mark.usefixtures("in_alpha")
GAPS = "/admin/ai/knowledgegap/"


@pytest.fixture
def gaps(open_conversation):
    made = []
    for category, question in [("billing", "Can I pay by bank transfer from Japan?"), ("billing", "Do you invoice in yen?"),
                               ("shipping", "Do you ship to Antarctica?"), ("", "What is the meaning of life?")]:
        conversation = open_conversation(content=question)
        made.append(KnowledgeGap.objects.create(category=category, question=question, conversation=conversation,
                                                message=conversation.messages.first(), best_similarity=0.71))
    return made


def _counts(page: str) -> dict[str, int]:
    table = re.search(r'<table id="gaps-by-category".*?</table>', page, re.S).group(0)
    return {name: int(count) for name, count in re.findall(r"<td><a [^>]*>([^<]+)</a></td><td>(\d+)</td>", table)}


def test_managers_see_gaps_counted_per_category_and_mark_them_resolved(gaps, alpha_client, make_member):
    admin_login(alpha_client, make_member(role=Role.MANAGER).email, PASSWORD)

    page = alpha_client.get(GAPS).content.decode()
    assert _counts(page) == {"billing": 2, "shipping": 1, "out of scope": 1}
    billing = alpha_client.get(GAPS, {"category": "billing"}).content.decode()
    assert "bank transfer from Japan" in billing and "Antarctica" not in billing

    billing_gaps = [g.pk for g in gaps if g.category == "billing"]
    alpha_client.post(GAPS, {"action": "mark_resolved", "_selected_action": billing_gaps})

    assert KnowledgeGap.objects.filter(pk__in=billing_gaps, resolved_at__isnull=False).count() == 2
    assert _counts(alpha_client.get(GAPS).content.decode()) == {"shipping": 1, "out of scope": 1}
    assert "bank transfer" not in alpha_client.get(GAPS, {"resolved": "no"}).content.decode()


def test_agents_do_not_see_knowledge_gaps(gaps, alpha_client, make_member):
    admin_login(alpha_client, make_member(role=Role.AGENT).email, PASSWORD)
    response = alpha_client.get(GAPS)
    assert response.status_code == 403 and "Antarctica" not in response.content.decode()


def test_another_tenant_s_owner_sees_none_of_these_gaps(gaps, beta, beta_client):
    with tenant_context(beta):
        owner = MembershipFactory(account=beta, role=Role.OWNER).user
    admin_login(beta_client, owner.email, PASSWORD)
    page = beta_client.get(GAPS)
    assert page.status_code == 200 and "Antarctica" not in page.content.decode()
