"""An agent correcting the AI's category, from every door that changes it (the conversation
page, the queue's bulk action, the agents' API): each records a correction, turns the
customer's text into a training example and writes a timeline event naming the agent."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from accounts.services import api_token_create
from ai import services as ai_services
from ai.models import Category, Classification, Correction, TrainingExample
from conversations.models import Conversation, ConversationEvent, Message
from tests.accounts.factories import PASSWORD
from tests.ai.desk_world import QUEUE, Role, classification_add, in_alpha, make_member, open_conversation, page_of, world  # noqa: F401
from tests.conftest import admin_login

pytestmark = pytest.mark.usefixtures("in_alpha")


def _assert_corrected(conversation, *, to: str, from_: str, by, text: str):
    conversation.refresh_from_db()
    assert (conversation.ai_category, conversation.ai_confidence) == (to, None)
    correction = Correction.objects.get(conversation=conversation)
    assert (correction.from_category, correction.to_category.name, correction.corrected_by) == (from_, to, by)
    assert (correction.example.category.name, correction.example.text, correction.example.source) == (to, text, "correction")
    event = ConversationEvent.objects.filter(conversation=conversation).latest("created_at", "id")
    assert (event.action, event.actor_type, event.actor_id, event.old_value, event.new_value) == ("category_changed", "agent", by.pk, from_, to)


# ----------------------------------------------------------------------------- the service


def test_a_correction_records_what_the_ai_said_and_teaches_the_text_it_got_wrong(world):
    agent, ours = world["agent"], world["ours"]
    correction = ai_services.classification_correct(conversation=ours, category=world["categories"]["billing"], by=agent)

    _assert_corrected(ours, to="billing", from_="login", by=agent, text="I was charged twice for the same parcel")
    assert correction.classification == world["latest"]  # the latest classification, not the first
    assert correction.example.message == world["latest"].message and correction.example.created_by == agent
    assert correction.example.text_hash == ai_services.example_text_hash("i was charged TWICE for the same  parcel ")


def test_correcting_again_to_the_same_category_changes_nothing(world):
    billing = world["categories"]["billing"]
    ai_services.classification_correct(conversation=world["ours"], category=billing, by=world["agent"])
    again = ai_services.classification_correct(conversation=world["ours"], category=billing, by=world["agent"])

    assert again is None
    assert Correction.objects.count() == 1 and TrainingExample.objects.count() == 1
    assert ConversationEvent.objects.filter(conversation=world["ours"], action="category_changed").count() == 1


def test_a_later_correction_to_another_category_moves_the_example_and_keeps_curated_ones(world):
    billing, shipping = world["categories"]["billing"], world["categories"]["shipping"]
    text = "I was charged twice for the same parcel"
    # An admin's imported example of the same words stays: corrections never delete curated data.
    imported = ai_services.training_example_add(category=world["categories"]["login"], text=text, source=TrainingExample.Source.IMPORT)
    first = ai_services.classification_correct(conversation=world["ours"], category=billing, by=world["agent"])
    second = ai_services.classification_correct(conversation=world["ours"], category=shipping, by=world["agent"])

    examples = {(e.category.name, e.source) for e in TrainingExample.objects.filter(text_hash=ai_services.example_text_hash(text))}
    assert examples == {("shipping", "correction"), ("login", "import")}
    assert TrainingExample.objects.filter(pk=imported.pk).exists()
    first.refresh_from_db()
    assert first.example is None and second.example.category == shipping  # the superseded example is gone
    assert (second.from_category, second.to_category) == ("billing", shipping)
    assert list(Correction.objects.order_by("id").values_list("to_category__name", flat=True)) == ["billing", "shipping"]


def test_a_conversation_never_classified_teaches_the_customers_first_message(world, open_conversation):  # noqa: F811
    conversation = open_conversation(inbox=world["inbox"], content="  My password reset mail never comes  ")
    ai_services.classification_correct(conversation=conversation, category=world["categories"]["login"], by=world["agent"])
    _assert_corrected(conversation, to="login", from_="", by=world["agent"], text="My password reset mail never comes")
    assert Correction.objects.get(conversation=conversation).classification is None


def test_an_inactive_category_is_refused(world):
    from config.errors import ApplicationError

    login = world["categories"]["login"]
    ai_services.categories_active_set(categories=[login], is_active=False)
    login.refresh_from_db()
    with pytest.raises(ApplicationError):
        ai_services.classification_correct(conversation=world["ours"], category=login, by=world["agent"])
    assert not Correction.objects.exists()


def test_the_same_words_differently_spaced_or_cased_are_one_example(world):
    billing = world["categories"]["billing"]
    one = ai_services.training_example_add(category=billing, text="Where is my  ORDER?\n")
    two = ai_services.training_example_add(category=billing, text="where is my order?")
    assert one.pk == two.pk and TrainingExample.objects.count() == 1
    assert one.text == "Where is my  ORDER?"


# ----------------------------------------------------------------------------- the conversation page


def test_the_page_shows_the_latest_classification_and_the_history(world, alpha_client):
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    page = alpha_client.get(page_of(world["ours"])).content.decode()
    box = page[page.index('id="ai-classification"'):]
    box = box[: box.index('<h3>Customer</h3>')]
    for shown in [
        "login</strong> (0.44)", "login, confidence 0.44", "Frustrated (-0.70)", "<dd>en</dd>", "<dd>High</dd>",
        "<dd>Billing team</dd>", world["agent"].get_full_name(), "similar to &quot;my card was charged twice&quot; (billing, 0.71)",
        "local · e5-small+centroid", "shipping (0.81)", "Where is my parcel?",
    ]:
        assert shown in box, shown
    # The agent's choices are the tenant's active categories.
    assert all(f">{name}</option>" in box for name in ("billing", "shipping", "login"))


def test_out_of_scope_is_said_so(world, alpha_client, open_conversation):  # noqa: F811
    conversation = open_conversation(inbox=world["inbox"], content="What's the weather on Mars?")
    classification_add(conversation.messages.get(sender_type="contact"), "", confidence=0.12, out_of_scope=True)
    Conversation.objects.filter(pk=conversation.pk).update(team=world["teams"][0])
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    assert "out of scope (fits none of the categories), confidence 0.12" in alpha_client.get(page_of(conversation)).content.decode()


def test_an_agent_corrects_the_category_in_one_click(world, alpha_client):
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    response = alpha_client.post(page_of(world["ours"]), {"action": "category", "category-category": world["categories"]["billing"].pk})

    assert response.status_code == 302
    _assert_corrected(world["ours"], to="billing", from_="login", by=world["agent"], text="I was charged twice for the same parcel")
    page = alpha_client.get(page_of(world["ours"])).content.decode()
    assert "Category: billing. The AI learns from it." in page
    assert f"{world['agent'].get_full_name()} changed the category from login to billing" in page
    assert "billing</strong> (set by an agent)" in page


def test_the_correction_form_needs_csrf(world, alpha_client):
    from django.test import Client

    admin_login(alpha_client, world["agent"].email, PASSWORD)
    client = Client(HTTP_HOST=alpha_client.defaults["HTTP_HOST"], enforce_csrf_checks=True)
    client.cookies = alpha_client.cookies
    response = client.post(page_of(world["ours"]), {"action": "category", "category-category": world["categories"]["billing"].pk})
    assert response.status_code == 403
    assert not Correction.objects.exists()


def test_an_unknown_or_inactive_category_is_a_form_error_and_changes_nothing(world, alpha_client):
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    shipping = world["categories"]["shipping"]
    ai_services.categories_active_set(categories=[shipping], is_active=False)
    for value in [shipping.pk, 999999, "billing", "9" * 30, "-1"]:
        response = alpha_client.post(page_of(world["ours"]), {"action": "category", "category-category": value})
        assert response.status_code == 200 and "Select a valid choice" in response.content.decode(), value
    assert alpha_client.post(page_of(world["ours"]), {"action": "category", "category-category": "\x00"}).status_code == 400
    world["ours"].refresh_from_db()
    assert world["ours"].ai_category == "login" and not Correction.objects.exists()
    assert ">shipping</option>" not in alpha_client.get(page_of(world["ours"])).content.decode()


def test_an_agent_cannot_correct_another_teams_conversation(world, alpha_client):
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    response = alpha_client.post(page_of(world["theirs"]), {"action": "category", "category-category": world["categories"]["billing"].pk})
    assert response.status_code == 403
    world["theirs"].refresh_from_db()
    assert world["theirs"].ai_category == "login" and not Correction.objects.exists() and not TrainingExample.objects.exists()


def test_the_page_runs_the_same_queries_with_one_or_many_classifications(world, alpha_client):
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    url = page_of(world["ours"])
    alpha_client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert alpha_client.get(url).status_code == 200
    for n in range(8):
        message = Message.objects.create(conversation=world["ours"], direction="incoming", sender_type="contact", content=f"more {n}")
        classification_add(message, "billing", suggested_team=world["teams"][n % 2], suggested_agent=world["agent"])
    alpha_client.get(url)
    with CaptureQueriesContext(connection) as many:
        assert alpha_client.get(url).status_code == 200
    assert len(many) == len(few)


# ----------------------------------------------------------------------------- the queue's bulk action


def test_the_bulk_action_corrects_each_selected_conversation(world, alpha_client, make_member):  # noqa: F811
    manager = make_member(role=Role.MANAGER)
    admin_login(alpha_client, manager.email, PASSWORD)
    billing = world["categories"]["billing"]
    selected = [world["ours"].pk, world["theirs"].pk]
    response = alpha_client.post(QUEUE, {"action": "set_category", "_selected_action": selected, "category": billing.pk})

    assert response.status_code == 302
    _assert_corrected(world["ours"], to="billing", from_="login", by=manager, text="I was charged twice for the same parcel")
    _assert_corrected(world["theirs"], to="billing", from_="login", by=manager, text="Zqteamb the API returns 500")
    assert "Filed under billing: 2 conversation(s)." in alpha_client.get(QUEUE).content.decode()

    missing = alpha_client.post(QUEUE, {"action": "set_category", "_selected_action": selected, "category": ""})
    assert missing.status_code == 302 and "Choose a category" in alpha_client.get(QUEUE).content.decode()


def test_the_bulk_action_reaches_only_the_agents_own_conversations(world, alpha_client):
    admin_login(alpha_client, world["agent"].email, PASSWORD)
    selected = [world["ours"].pk, world["theirs"].pk]
    alpha_client.post(QUEUE, {"action": "set_category", "_selected_action": selected, "category": world["categories"]["billing"].pk})

    assert list(Correction.objects.values_list("conversation_id", flat=True)) == [world["ours"].pk]
    world["theirs"].refresh_from_db()
    assert world["theirs"].ai_category == "login"


# ----------------------------------------------------------------------------- the agents' API


@pytest.fixture
def api(alpha, alpha_client):
    def patch(user, number, body):
        key = api_token_create(user=user, account=alpha, name="tests")[1]
        return alpha_client.patch(f"/api/v1/conversations/{number}/", data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")

    return patch


def test_the_api_sets_the_category_as_a_correction(world, api):
    response = api(world["agent"], world["ours"].number, {"ai_category": "shipping"})

    assert response.status_code == 200, response.content
    assert (response.json()["ai_category"], response.json()["ai_confidence"]) == ("shipping", None)
    _assert_corrected(world["ours"], to="shipping", from_="login", by=world["agent"], text="I was charged twice for the same parcel")


@pytest.mark.parametrize("value", ["refunds", "", "Billing", None, 7, ["billing"], {"name": "billing"}, "x" * 51])
def test_the_api_refuses_anything_but_an_active_category_with_the_field_named(world, api, value):
    response = api(world["agent"], world["ours"].number, {"ai_category": value})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and "ai_category" in error["fields"]
    world["ours"].refresh_from_db()
    assert world["ours"].ai_category == "login" and not Correction.objects.exists()


def test_the_api_refuses_an_inactive_category_and_another_teams_conversation(world, api):
    ai_services.categories_active_set(categories=[world["categories"]["shipping"]], is_active=False)
    assert api(world["agent"], world["ours"].number, {"ai_category": "shipping"}).status_code == 400
    refused = api(world["agent"], world["theirs"].number, {"ai_category": "billing"})
    assert refused.status_code == 403 and b"Zqteamb" not in refused.content
    assert not Correction.objects.exists()


def test_another_tenants_categories_are_unknown(world, api, beta):
    with tenant_context(beta):
        Category.objects.create(name="beta-only")
    response = api(world["agent"], world["ours"].number, {"ai_category": "beta-only"})
    assert response.status_code == 400 and "ai_category" in response.json()["error"]["fields"]
    with tenant_context(beta):
        assert not Category.objects.filter(name="billing").exists() and not Classification.objects.exists()
