"""The demo tenant's AI: its categories, examples and a trained classifier, so that a message
typed into the demo widget is classified as soon as the worker runs.

Categories are the topics of the seeded conversations (`conversations.demo_data.TOPICS`, the
same names as their `ai_category`). Examples are the opening customer message of every seeded
conversation of each topic, plus a few more written here, because the seed reuses three
openers per topic and a model learnt from three sentences knows little. About eighty examples:
embedding and training take seconds, not minutes, so `make run` stays quick. Idempotent:
examples are de-duplicated by text and the model is retrained only when something is new.
"""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from ai.examples import examples_import
from ai.models import Category, TrainingExample
from ai.training import classifier_needs_training, classifier_train

DESCRIPTIONS = {
    "billing": "Charges, refunds, invoices, payment methods, plans and cancelling a subscription.",
    "shipping": "Orders in transit, delivery dates, tracking, damaged or lost parcels, delivery addresses.",
    "technical": "Logging in, errors, bugs, exports, the API and integrations.",
    "account": "Workspace members, account details and e-mail, personal data and GDPR requests.",
}
WRITTEN = {
    "billing": [
        "Why was I charged again after I cancelled?",
        "Please refund my last payment, I didn't use the service",
        "Can I pay by bank transfer instead of card?",
        "The invoice shows the wrong amount",
        "How do I update the credit card on file?",
        "I want to switch to the annual plan",
        "Where can I download my receipts?",
        "My card was declined but the money left my account",
        "Do you offer a discount for non-profits?",
        "Stop the automatic renewal of my subscription",
        "I see an unknown charge from you on my statement",
        "Can you add our company address to the invoices?",
    ],
    "shipping": [
        "My package still hasn't arrived",
        "Tracking says delivered but there's nothing at my door",
        "How long does shipping to Germany take?",
        "The courier left my parcel with a neighbour I don't know",
        "Can you send the order to my office instead?",
        "Half of my order is missing from the box",
        "Do you deliver on weekends?",
        "The item I received is broken",
        "When will my order ship?",
        "I need to return a product, how do I send it back?",
        "The tracking link doesn't work",
        "My order was sent to my old address",
    ],
    "technical": [
        "The app crashes when I open the settings",
        "I get an error 500 when I save my changes",
        "The password reset email never arrives",
        "Two-factor codes are always rejected",
        "The dashboard is blank since this morning",
        "Your webhook stopped sending events",
        "The integration with Shopify fails to sync",
        "Uploading an attachment freezes the page",
        "The API returns 401 with a valid token",
        "Search doesn't return any results anymore",
        "The mobile app logs me out every few minutes",
        "Reports show the wrong dates",
    ],
    "account": [
        "How do I remove a user from our workspace?",
        "I want to change the name on my account",
        "Please close my account and erase my personal data",
        "Can I have two admins on one account?",
        "How do I transfer ownership of the workspace to a colleague?",
        "Send me a copy of all the data you have about me",
        "I need to update my phone number on my profile",
        "How do I change my account's email address?",
        "Can I merge two accounts into one?",
        "Where do I change my notification preferences?",
        "My colleague never got the invitation email",
        "Update our company name in the account settings",
    ],
}


def demo_ai_seed() -> int | None:
    """Categories, examples and a trained classifier for the current (demo) tenant. Returns
    the new classifier version, or None when the one in place already knows everything."""
    from conversations.models import Conversation, Message

    for name, description in DESCRIPTIONS.items():
        Category.objects.get_or_create(name=name, defaults={"description": description})
    opener = Message.objects.filter(
        conversation=OuterRef("pk"), direction=Message.Direction.INCOMING, kind=Message.Kind.TEXT
    ).order_by("created_at", "id").values("content")[:1]
    seeded = Conversation.objects.filter(ai_category__in=DESCRIPTIONS).annotate(opener=Subquery(opener)).values_list("opener", "ai_category")
    rows = [(text, topic) for text, topic in seeded if text]
    rows += [(text, topic) for topic, texts in WRITTEN.items() for text in texts]
    examples_import(rows, source=TrainingExample.Source.DEMO)
    _demo_routing_rules_seed()
    if not classifier_needs_training():
        return None
    return classifier_train().version


# Where each topic goes in the demo (the seeded conversations' own teams, conversations.demo_data).
DEMO_ROUTES = [
    # (rule name, category, team, label)
    ("Billing questions to Billing", "billing", "Billing", None),
    ("Bugs and API questions to Technical", "technical", "Technical", "bug"),
    ("Shipping to Customer success", "shipping", "Customer success", None),
    ("Account questions to Customer success", "account", "Customer success", None),
]


def _demo_routing_rules_seed() -> None:
    """Routing rules matching the demo's teams, so a message typed into the demo widget is
    classified and lands in its team (by name: re-seeding changes nothing)."""
    from ai.models import RoutingRule
    from conversations.models import Label, Team

    for position, (name, category, team_name, label) in enumerate(DEMO_ROUTES):
        team = Team.objects.filter(name=team_name).first()
        if team is None:  # a tenant without the demo's teams gets no rule pointing nowhere
            continue
        RoutingRule.objects.get_or_create(
            name=name,
            defaults={
                "position": position,
                "category": Category.objects.get(name=category),
                "team": team,
                "add_label": Label.objects.filter(name=label).first() if label else None,
            },
        )
