"""Realistic desk data for the demo tenant, written through the services (with past `at`
times), so the demo's SLA, first responses and timelines are what real use would produce.

Deterministic (fixed random seed) and run once: `seed_demo` skips it when the tenant already
has conversations.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from accounts.models import Membership, User
from conversations import services
from conversations.events import Actor
from conversations.models import (
    CannedResponse,
    Conversation,
    Inbox,
    Label,
    Priority,
    SLAPolicy,
    SLATarget,
    Team,
    TeamMember,
)

WEEKDAY_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}

TOPICS = {
    "billing": [
        ("Charged twice this month", "Hi, I was charged twice for my subscription this month. Can you refund one of them?"),
        ("Invoice needs our VAT number", "Could you re-issue invoice INV-2291 with our VAT number on it?"),
        ("Cancel my plan", "I'd like to cancel at the end of the billing period. How do I do that?"),
    ],
    "shipping": [
        ("Where is my order?", "My order #48213 was supposed to arrive on Monday and tracking hasn't moved since."),
        ("Parcel arrived damaged", "The box was crushed and the mug inside is broken. What can you do?"),
        ("Change delivery address", "Can I still change the delivery address for the order I placed an hour ago?"),
    ],
    "technical": [
        ("Can't log in", "I reset my password twice and still get 'invalid credentials'. Help!"),
        ("Export to CSV fails", "Exporting my reports to CSV gives an error 500 every time since yesterday."),
        ("API rate limit", "We're hitting 429s on the orders endpoint. What are the limits and can they be raised?"),
    ],
    "account": [
        ("Add a teammate", "How do I invite a colleague to our workspace?"),
        ("Delete my data", "Please delete all data you hold about me under GDPR."),
        ("Change account email", "I changed jobs; can you move my account to my new email address?"),
    ],
}
FOLLOW_UPS = ["Any update on this?", "Thanks, that worked!", "Still not working, sorry.", "Here is a screenshot of the error.", "Great, thank you for the quick help."]
REPLIES = [
    "Thanks for reaching out! I'm looking into this now.",
    "Sorry about that. I've issued the refund; it should show within 3-5 business days.",
    "Could you send me the order number and the email you used at checkout?",
    "I've escalated this to our engineers and will update you as soon as I hear back.",
    "Done! Let me know if there's anything else I can help with.",
]
NAMES = ["Ava Patel", "Ben Okafor", "Chloe Martin", "Diego Alvarez", "Elena Rossi", "Farah Khan", "George Li", "Hana Suzuki",
         "Isaac Cohen", "Julia Novak", "Kofi Mensah", "Lina Haddad", "Marco Bianchi", "Nora Berg", "Omar Farouk", "Priya Nair",
         "Quinn Taylor", "Rosa Silva", "Sven Larsen", "Tara O'Neil", "Umar Sheikh", "Vera Ivanova", "Will Turner", "Yuki Tanaka"]


def _setup(account) -> dict:
    standard = SLAPolicy.objects.create(name="Standard", description="Business-hours targets by priority", business_hours_only=True)
    for priority, first, resolution in [
        (Priority.URGENT, 15, 240), (Priority.HIGH, 60, 480), (Priority.MEDIUM, 240, 1440),
        (Priority.LOW, 480, 2880), (Priority.NONE, 1440, 4320),
    ]:
        SLATarget.objects.create(policy=standard, priority=priority, first_response_minutes=first, resolution_minutes=resolution)

    teams = {
        "billing": Team.objects.create(name="Billing", description="Payments, invoices, refunds", strategy=Team.Strategy.ROUND_ROBIN),
        "technical": Team.objects.create(name="Technical", description="Bugs, API, integrations", strategy=Team.Strategy.LEAST_LOADED),
        "success": Team.objects.create(name="Customer success", description="Accounts, onboarding, shipping", strategy=Team.Strategy.ROUND_ROBIN),
    }
    members = {m.user.email: m.user for m in Membership.objects.filter(account=account).select_related("user")}
    agents = [user for email, user in members.items() if email.startswith(("agent@", "sam@", "lee@", "noor@"))]
    for index, agent in enumerate(agents):
        TeamMember.objects.get_or_create(team=list(teams.values())[index % 3], user=agent)
        TeamMember.objects.get_or_create(team=list(teams.values())[(index + 1) % 3], user=agent)

    inboxes = [services.inbox_create(inbox=inbox) for inbox in [  # within the demo's plan, as any inbox
        Inbox(name="Website chat", channel=Inbox.Channel.WEB_WIDGET, greeting="Hi! How can we help?",
              allowed_origins=["http://demo.localhost:8000", "http://localhost:8000"], timezone="Europe/London",
              default_team=teams["success"], sla_policy=standard, ai_auto_reply=True, ai_confidence_threshold=0.85),
        Inbox(name="Support email", channel=Inbox.Channel.EMAIL, timezone="Europe/London", business_hours=WEEKDAY_HOURS,
              default_team=teams["billing"], sla_policy=standard),
        Inbox(name="Partner API", channel=Inbox.Channel.API, timezone="UTC", default_team=teams["technical"], sla_policy=standard),
    ]]
    labels = [Label.objects.create(name=name, color=color) for name, color in [
        ("refund", "#dc2626"), ("vip", "#7c3aed"), ("bug", "#ea580c"), ("feature-request", "#2563eb"), ("gdpr", "#059669"),
    ]]
    for code, body in [
        ("thanks", "Thanks for reaching out! We're on it and will get back to you shortly."),
        ("refund", "I've issued a full refund. It usually shows on your statement within 3-5 business days."),
        ("reset", "You can reset your password at https://example.com/reset. The link is valid for one hour."),
        ("closing", "I'll close this conversation for now. Just reply here if anything else comes up!"),
    ]:
        CannedResponse.objects.create(short_code=code, body=body)
    return {"teams": teams, "inboxes": inboxes, "labels": labels, "agents": agents}


def demo_desk_seed(*, account, conversations: int = 220) -> int:
    """Fill the (current) demo tenant schema. Returns the number of conversations made."""
    if Conversation.objects.exists():
        return 0
    rng = random.Random(20261122)
    setup = _setup(account)
    team_for_topic = {"billing": "billing", "shipping": "success", "technical": "technical", "account": "success"}
    contacts = [
        services.contact_create(name=name, email=f"{name.split()[0].lower()}.{name.split()[1].lower().replace(chr(39), '')}@example.org",
                                external_id=f"cust-{1000 + index}", custom_attributes={"plan": rng.choice(["free", "pro", "business"])})
        for index, name in enumerate(NAMES)
    ]
    now = timezone.now()
    made = 0
    for _ in range(conversations):
        topic = rng.choice(list(TOPICS))
        subject, first_message = rng.choice(TOPICS[topic])
        outcome = rng.choices(["resolved", "open_answered", "open_waiting", "pending", "snoozed"], weights=[55, 12, 15, 10, 8])[0]
        # Resolved work spreads over the month; what is still in the queue is recent.
        max_age = 30 * 24 * 60 if outcome == "resolved" else 3 * 24 * 60
        opened_at = now - timedelta(minutes=rng.randint(10, max_age))
        inbox = rng.choice(setup["inboxes"])
        conversation = services.conversation_open(
            inbox=inbox, contact=rng.choice(contacts), content=first_message, subject=subject,
            priority=rng.choices(Priority.values, weights=[30, 25, 25, 13, 7])[0], at=opened_at,
        )
        conversation.refresh_from_db()
        team = setup["teams"][team_for_topic[topic]]
        if conversation.team_id != team.pk:
            services.conversation_assignment_set(conversation=conversation, team=team, by=Actor.system(), at=opened_at)
        services.conversation_classification_set(conversation=conversation, category=topic, confidence=round(rng.uniform(0.55, 0.99), 2))
        if rng.random() < 0.4:
            services.conversation_labels_add(conversation=conversation, labels=rng.sample(setup["labels"], rng.randint(1, 2)), by=Actor.system(), at=opened_at)

        moment = opened_at
        agent = conversation.assignee or rng.choice(setup["agents"])
        if outcome != "open_waiting":
            moment += timedelta(minutes=rng.choices([3, 12, 45, 90, 240, 600, 1500], weights=[20, 25, 20, 15, 10, 6, 4])[0])
            if moment >= now:
                moment = now - timedelta(minutes=1)
            if rng.random() < 0.25:
                services.message_add_note(conversation=conversation, content="Checked the account: paid customer since 2023.", author=agent, at=moment)
            if rng.random() < 0.15:
                services.message_add_reply(conversation=conversation, content="Here's what I found in our help centre: this is usually fixed by clearing the cache.", by_ai=True, at=moment)
            else:
                services.message_add_reply(conversation=conversation, content=rng.choice(REPLIES), author=agent, at=moment)
            if rng.random() < 0.5 and moment + timedelta(minutes=30) < now:
                moment += timedelta(minutes=rng.randint(5, 600))
                moment = min(moment, now - timedelta(minutes=1))
                services.message_add_incoming(conversation=conversation, content=rng.choice(FOLLOW_UPS), at=moment)
                moment = min(moment + timedelta(minutes=rng.randint(5, 300)), now - timedelta(seconds=30))
                services.message_add_reply(conversation=conversation, content=rng.choice(REPLIES), author=agent, at=moment)
        actor = Actor.agent(agent)
        if outcome == "resolved":
            moment = min(moment + timedelta(minutes=rng.choice([20, 60, 180, 600, 2400])), now - timedelta(seconds=10))
            services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=actor, at=moment)
            if rng.random() < 0.6:
                services.csat_record(conversation=conversation, rating=rng.choices([1, 2, 3, 4, 5], weights=[5, 5, 10, 30, 50])[0],
                                     comment=rng.choice(["", "", "Quick and helpful", "Took too long", "Great support!"]), at=moment)
        elif outcome == "pending":
            services.conversation_status_set(conversation=conversation, status=Conversation.Status.PENDING, by=actor, at=moment)
        elif outcome == "snoozed":
            until = now + timedelta(hours=rng.randint(1, 72))
            services.conversation_status_set(conversation=conversation, status=Conversation.Status.SNOOZED, by=actor, snoozed_until=until, at=moment)
        made += 1
    services.sla_breaches_mark(at=now)
    return made


DEMO_EXTRA_AGENTS = [("sam@demo.example.com", "Sam Rivera"), ("lee@demo.example.com", "Lee Chen"), ("noor@demo.example.com", "Noor Aziz")]


def demo_agents_ensure(*, account, password: str) -> list[User]:
    from accounts.services import membership_add

    users = []
    for email, name in DEMO_EXTRA_AGENTS:
        user = User.objects.filter(email=email).first() or User.objects.create_user(email, password, full_name=name)
        membership_add(user=user, account=account, role=Membership.Role.AGENT, availability=Membership.Availability.ONLINE)
        users.append(user)
    return users
