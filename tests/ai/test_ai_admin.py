"""The AI's admin pages: categories (owners and admins edit, others read; deactivated rather
than deleted once used), training examples (hashed by the service, filters, search), and the
read-only classification and correction history (an agent sees their teams' rows only). Two
tenants never see each other's categories or examples."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from ai import services as ai_services
from ai.models import Category, Classification, Correction, TrainingExample
from tests.accounts.factories import PASSWORD
from tests.ai.desk_world import Role, in_alpha, make_member, open_conversation, page_of, world  # noqa: F401
from tests.conftest import admin_login

pytestmark = pytest.mark.usefixtures("in_alpha")
ADMIN = "/admin/ai/"


def _as(client, user):
    admin_login(client, user.email, PASSWORD)
    return client


# ----------------------------------------------------------------------------- categories


def test_owners_add_categories_managers_and_agents_only_read_them(world, alpha_client, make_member):  # noqa: F811
    _as(alpha_client, make_member(role=Role.OWNER))
    response = alpha_client.post(f"{ADMIN}category/add/", {"name": "refunds", "description": "Money back", "is_active": "on"})
    assert response.status_code == 302 and Category.objects.filter(name="refunds", is_active=True).exists()

    for role in (Role.MANAGER, Role.AGENT):
        client = _as(type(alpha_client)(HTTP_HOST=alpha_client.defaults["HTTP_HOST"]), make_member(role=role))
        listing = client.get(f"{ADMIN}category/")
        assert listing.status_code == 200 and "refunds" in listing.content.decode(), role
        assert client.get(f"{ADMIN}category/add/").status_code == 403, role
        refunds = Category.objects.get(name="refunds")
        client.post(f"{ADMIN}category/{refunds.pk}/change/", {"description": "changed", "is_active": ""})
        refunds.refresh_from_db()
        assert (refunds.description, refunds.is_active) == ("Money back", True), role


def test_a_used_category_cannot_be_deleted_and_says_to_deactivate_it(world, alpha_client, make_member):  # noqa: F811
    ai_services.training_example_add(category=world["categories"]["billing"], text="Refund my double charge")
    unused = Category.objects.create(name="typo-categry")
    _as(alpha_client, make_member(role=Role.ADMIN))
    billing = world["categories"]["billing"]

    page = alpha_client.get(f"{ADMIN}category/{billing.pk}/delete/").content.decode()
    assert "1 training example(s)" in page and "deactivate it instead" in page
    alpha_client.post(f"{ADMIN}category/{billing.pk}/delete/", {"post": "yes"})
    # The bulk delete is held back the same way; the unused one goes.
    alpha_client.post(f"{ADMIN}category/", {"action": "delete_selected", "_selected_action": [billing.pk, unused.pk], "post": "yes"})
    assert Category.objects.filter(pk=billing.pk).exists() and TrainingExample.objects.filter(category=billing).exists()
    alpha_client.post(f"{ADMIN}category/", {"action": "delete_selected", "_selected_action": [unused.pk], "post": "yes"})
    assert not Category.objects.filter(pk=unused.pk).exists()


def test_a_deactivated_category_leaves_the_agents_choices_and_keeps_its_history(world, alpha_client, make_member):  # noqa: F811
    shipping = world["categories"]["shipping"]
    ai_services.training_example_add(category=shipping, text="Parcel is late")
    _as(alpha_client, make_member(role=Role.OWNER))
    alpha_client.post(f"{ADMIN}category/", {"action": "deactivate", "_selected_action": [shipping.pk]})

    shipping.refresh_from_db()
    assert not shipping.is_active and shipping.examples.count() == 1
    assert ">shipping</option>" not in alpha_client.get(page_of(world["ours"])).content.decode()
    assert "shipping" not in alpha_client.get("/admin/conversations/conversation/").content.decode().split('name="category"')[1].split("</select>")[0]


# ----------------------------------------------------------------------------- training examples


def test_an_example_added_in_the_admin_is_hashed_by_the_service_and_not_duplicated(world, alpha_client, make_member):  # noqa: F811
    owner = make_member(role=Role.OWNER)
    _as(alpha_client, owner)
    billing = world["categories"]["billing"]
    response = alpha_client.post(f"{ADMIN}trainingexample/add/", {"category": billing.pk, "text": "  Why was I billed twice?  "})
    assert response.status_code == 302
    example = TrainingExample.objects.get()
    assert (example.text, example.text_hash, example.source, example.created_by) == (
        "Why was I billed twice?", ai_services.example_text_hash("why was i BILLED twice?"), "manual", owner,
    )

    again = alpha_client.post(f"{ADMIN}trainingexample/add/", {"category": billing.pk, "text": "why was I billed   TWICE?"})
    assert again.status_code == 200 and "already has this example" in again.content.decode()
    assert TrainingExample.objects.count() == 1

    # Rewording an example gives it the new words' hash.
    alpha_client.post(f"{ADMIN}trainingexample/{example.pk}/change/", {"category": billing.pk, "text": "Charged two times"})
    example.refresh_from_db()
    assert example.text_hash == ai_services.example_text_hash("charged two times")


def test_examples_filter_by_category_and_source_and_search(world, alpha_client, make_member):  # noqa: F811
    billing, login = world["categories"]["billing"], world["categories"]["login"]
    ai_services.training_example_add(category=billing, text="Invoice has the wrong VAT number", source="import")
    ai_services.training_example_add(category=login, text="Password reset never arrives", source="manual")
    _as(alpha_client, make_member(role=Role.MANAGER))

    def shown(**params):
        page = alpha_client.get(f"{ADMIN}trainingexample/", params).content.decode()
        return {text for text in ("Invoice has the wrong VAT number", "Password reset never arrives") if text in page}

    assert shown() == {"Invoice has the wrong VAT number", "Password reset never arrives"}
    assert shown(category__id__exact=login.pk) == {"Password reset never arrives"}
    assert shown(source__exact="import") == {"Invoice has the wrong VAT number"}
    assert shown(q="VAT") == {"Invoice has the wrong VAT number"}


def test_agents_do_not_open_training_examples(world, alpha_client):
    _as(alpha_client, world["agent"])
    assert alpha_client.get(f"{ADMIN}trainingexample/").status_code == 403


# ----------------------------------------------------------------------------- history


def test_an_agent_sees_only_their_teams_classifications_and_corrections(world, alpha_client, make_member):  # noqa: F811
    manager = make_member(role=Role.MANAGER)
    ai_services.classification_correct(conversation=world["theirs"], category=world["categories"]["billing"], by=manager)
    ai_services.classification_correct(conversation=world["ours"], category=world["categories"]["shipping"], by=world["agent"])
    theirs_correction = Correction.objects.get(conversation=world["theirs"])
    _as(alpha_client, world["agent"])

    listing = alpha_client.get(f"{ADMIN}classification/")
    assert listing.status_code == 200
    assert f"#{world['ours'].number}<" in listing.content.decode() and f"#{world['theirs'].number}<" not in listing.content.decode()
    assert alpha_client.get(f"{ADMIN}classification/{world['latest'].pk}/change/").status_code == 200
    refused = alpha_client.get(f"{ADMIN}classification/{world['theirs_classification'].pk}/change/")
    assert refused.status_code == 404 and b"Zqteamb" not in refused.content

    corrections = alpha_client.get(f"{ADMIN}correction/").content.decode()
    assert f"#{world['ours'].number}<" in corrections and f"#{world['theirs'].number}<" not in corrections
    assert alpha_client.get(f"{ADMIN}correction/{theirs_correction.pk}/change/").status_code == 404

    # A manager sees both; nobody edits or deletes the history.
    _as(alpha_client, manager)
    listing = alpha_client.get(f"{ADMIN}classification/").content.decode()
    assert f"#{world['theirs'].number}<" in listing and f"#{world['ours'].number}<" in listing
    alpha_client.post(f"{ADMIN}classification/{world['latest'].pk}/delete/", {"post": "yes"})
    assert Classification.objects.filter(pk=world["latest"].pk).exists()


def test_the_history_filters_out_of_scope_and_by_category(world, alpha_client, make_member, open_conversation):  # noqa: F811
    from tests.ai.desk_world import classification_add

    odd = open_conversation(inbox=world["inbox"], content="Weather on Mars?")
    classification_add(odd.messages.get(sender_type="contact"), "", confidence=0.1, out_of_scope=True)
    _as(alpha_client, make_member(role=Role.OWNER))

    def numbers(**params):
        page = alpha_client.get(f"{ADMIN}classification/", params)
        assert page.status_code == 200
        return {c.number for c in (world["ours"], world["theirs"], odd) if f"#{c.number}<" in page.content.decode()}

    assert numbers(is_out_of_scope__exact="1") == {odd.number}
    assert numbers(category__exact="shipping") == {world["ours"].number}
    assert numbers(category__exact="login") == {world["ours"].number, world["theirs"].number}
    assert alpha_client.get(f"{ADMIN}classification/", {"message__content__startswith": "W"}).status_code == 400


def test_every_ai_admin_page_renders_for_an_owner(world, alpha_client, make_member):  # noqa: F811
    example = ai_services.training_example_add(category=world["categories"]["billing"], text="Refund please")
    correction = ai_services.classification_correct(conversation=world["ours"], category=world["categories"]["billing"], by=world["agent"])
    _as(alpha_client, make_member(role=Role.OWNER))
    pages = [ADMIN, f"{ADMIN}category/add/", f"{ADMIN}trainingexample/add/"]
    for model, obj in [("category", world["categories"]["billing"]), ("trainingexample", example), ("classification", world["latest"]), ("correction", correction)]:
        pages += [f"{ADMIN}{model}/", f"{ADMIN}{model}/{obj.pk}/change/"]
    for path in pages:
        assert alpha_client.get(path).status_code == 200, path


# ----------------------------------------------------------------------------- tenants


def test_another_tenants_owner_sees_none_of_these_categories_or_examples(world, beta, beta_client, make_member):  # noqa: F811
    example = ai_services.training_example_add(category=world["categories"]["billing"], text="Zqalpha refund text")
    _as(beta_client, make_member(role=Role.OWNER, account=beta))
    with tenant_context(beta):
        Category.objects.create(name="beta-thing")
    for path in ["category/", "trainingexample/", "classification/", "correction/"]:
        page = beta_client.get(f"{ADMIN}{path}")
        assert page.status_code == 200 and b"Zqalpha" not in page.content and b"billing" not in page.content, path
    assert b"beta-thing" in beta_client.get(f"{ADMIN}category/").content
    for path in [f"trainingexample/{example.pk}/change/", f"classification/{world['latest'].pk}/change/"]:
        response = beta_client.get(f"{ADMIN}{path}")
        assert response.status_code in (302, 404) and b"Zqalpha" not in response.content, path
