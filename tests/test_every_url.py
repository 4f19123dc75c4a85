"""Every URL of the project, as every role, with ordinary and hostile input.

The URL patterns are found by walking the resolvers of both URL confs (the tenant's, admin
included, and the public host's), so a URL added later is requested here without editing
this file. Each pattern is requested:
- with real ids of existing rows, and with hostile values in every path parameter;
- with common query parameters (ordinary, then hostile) and unknown admin lookups;
- with hostile form bodies (admin and pages) or hostile JSON bodies (/api/);
as anonymous, an agent of team A, a manager, the owner, and the owner of another tenant.

It asserts what a user or an attacker would notice: no response is a 5xx; nothing of this
tenant reaches the other tenant's owner; nothing of team B's conversations reaches the agent
of team A (nor team A's customer, through the widget API).
"""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Membership
from accounts.services import api_token_create
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, Message
from conversations.widget import identifier_hash_for, widget_session_open
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.conftest import HearthClient
from tests.conversations.factories import CannedResponseFactory, InboxFactory, LabelFactory, TeamFactory, TeamMemberFactory

# Strings that appear only in the data they mark, never in a request this test sends.
ALPHA_MARK = "Zqalphamark"  # any of alpha's data: beta's owner must never see it
TEAM_B_MARK = "Zqteambmark"  # team B's conversations: the agent of team A must never see it

PATH_HOSTILE = ["\x00", "²", "-1", "9" * 30, "not-a-uuid-☃", "1' OR '1'='1<script>x</script>"]
QUERY_PARAMS = ["q", "o", "p", "page", "page_size", "after", "status", "assignee", "team", "inbox", "label", "priority",
                "updated_since", "widget_token", "version", "all", "e", "_changelist_filters", "id__exact", "pk",
                "since", "until", "period", "group_by", "category", "agent", "csat", "created_day", "first_response_day",
                "resolved_day", "rated_day"]
QUERY_ORDINARY = {"q": "order", "o": "1", "p": "1", "page": "1", "after": "1", "status": "open"}
# Days that parse but whose end, month or zone shift overflows a date (reports, analytics, drill-down).
QUERY_CALENDAR_EDGE = {"period": "custom", "since": "9999-12-01", "until": "9999-12-31", "created_day": "9999-12-31",
                       "first_response_day": "0001-01-01", "resolved_day": "0001-01-01..9999-12-31", "rated_day": "9999-12-31"}
QUERY_HOSTILE = ["\x00", "²", "-1", "9" * 30, "' OR 1=1 --", "<b>x</b>\r\nX-Injected: yes"]
UNKNOWN_LOOKUPS = [{"foo__regex": "("}, {"contact__widget_sessions__id__startswith": "a"}, {"pk__in": "1,²"}]
FORM_KEYS = ["action", "_selected_action", "select_across", "index", "post", "q", "username", "password", "next",
             "availability", "email", "full_name", "role", "content", "reply-content", "note-content", "assign-assignee",
             "assign-team", "status-status", "status-snoozed_until", "priority-priority", "labels-labels", "team", "priority",
             "label", "password1", "password2", "old_password", "new_password1", "new_password2", "usable_password"]
FORM_HOSTILE = ["\x00", "²", "9" * 30, "{\"a\": \"\\u0000\"}", "' OR 1=1 --<script>x</script>"]
JSON_KEYS = ["content", "subject", "rating", "comment", "widget_token", "identifier", "identifier_hash", "name", "email",
             "custom_attributes", "assignee_id", "team_id", "status", "snoozed_until", "phone", "external_id", "blocked", "priority"]
JSON_HOSTILE_VALUES = ["a\x00b", "²", -1, 10**30, "9" * 30, {"k\x00": "v"}, [[[["deep"]]]], None, "' OR 1=1 --<b>"]


def _deep(levels: int):
    return "[" * levels + "]" * levels


JSON_HOSTILE_BODIES = [
    _deep(100_000),  # RecursionError in json.loads
    '{"content": "x", "custom_attributes": ' + _deep(60) + "}",  # nested past any sane depth
    '{"content": "x' + "a" * 200_000 + '"}',  # over the body limit
    '{"content": NaN, "rating": Infinity, "custom_attributes": {"a": NaN}}',
    '{"content": "\\ud800", "name": "\\u0000"}',  # a lone surrogate and an escaped NUL
    "not json at all",
    "[1, 2, 3]",
]


# ----------------------------------------------------------------------------- URL patterns


@dataclass(frozen=True)
class Route:
    urlconf: str
    parts: tuple  # of URLPattern/URLResolver pattern objects, outermost first
    name: str

    @property
    def id(self) -> str:
        return f"{'tenant' if self.urlconf.endswith('tenant') else 'public'}:{self.template}"

    @property
    def template(self) -> str:
        return "".join(str(part.pattern) for part in self.parts)

    @property
    def callback(self):
        return self.parts[-1].callback

    @property
    def params(self) -> list[str]:
        names = []
        for part in self.parts:
            names += list(getattr(part.pattern, "converters", {}) or part.pattern.regex.groupindex)
        return names

    def build(self, values: dict[str, str]) -> str:
        """The URL path with each parameter replaced by its (percent-encoded) value."""
        url = ""
        for part in self.parts:
            text = str(part.pattern)
            text = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: quote(values[m[1]], safe=""), text)
            text = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: quote(values[m[1]], safe=""), text)
            url += text.lstrip("^").rstrip("$")
        return "/" + url


def _walk(resolver, urlconf: str, parents=()):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, urlconf, (*parents, entry))
        elif isinstance(entry, URLPattern):
            yield Route(urlconf, (*parents, entry), entry.name or "")


def all_routes() -> list[Route]:
    return [route for urlconf in ("config.urls_tenant", "config.urls_public") for route in _walk(get_resolver(urlconf), urlconf)]


ROUTES = all_routes()

# A health probe answers 503 while a worker is down (none runs here): that is its job.
ALLOWED_5XX = {"public:healthz": 503}

# Known failures, each strict: the test fails once the failure is gone, so the entry goes with
# its fix. Empty: every URL answers without a 5xx and without a leak.
KNOWN_LEAKS: dict[str, str] = {}
KNOWN_SERVER_ERRORS: dict[str, str] = {}


# ----------------------------------------------------------------------------- the world


@dataclass
class Caller:
    name: str
    host: str
    client: Client
    api_token: str | None = None
    widget_token: str | None = None
    forbidden_marks: tuple[str, ...] = ()
    # Hostile values in every slot, for the roles that reach the most code (the owner, the
    # platform operator); the other roles get real ids and ordinary input, and those with data
    # they must not see also the lookup probes.
    full_fuzz: bool = False
    cookies: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.cookies = {name: morsel.value for name, morsel in self.client.cookies.items()}


@dataclass
class World:
    callers: list[Caller]
    ids: dict[str, list[str]] = field(default_factory=dict)  # path parameter name -> real values


def _client(host: str) -> Client:
    return HearthClient(HTTP_HOST=host, raise_request_exception=False)


def _signed_in(account, user, host: str) -> Client:
    client = _client(host)
    with tenant_context(account) if account is not None else schema_context("public"):  # the session row's schema
        client.force_login(user)
    return client


def _desk(account, mark: str, prefix: str, author):
    """Two teams, an inbox, a customer and a conversation per team (note, AI answer, label,
    CSAT, events); every text carries `mark`, team B's in alpha also TEAM_B_MARK."""
    with tenant_context(account):
        team_a, team_b = TeamFactory(name=f"{prefix} team A"), TeamFactory(name=f"{prefix} team B")
        # No mark on the inbox: its name and greeting are public (the widget shows them to anyone).
        inbox = InboxFactory(auto_assign=False, name=f"{prefix} inbox", allowed_origins=["https://shop.example"])
        label = LabelFactory(name=f"{prefix}-label")
        CannedResponseFactory(short_code=f"{prefix}code", body=f"Canned {mark}")
        conversations = {}
        for team, extra in ((team_a, ""), (team_b, TEAM_B_MARK if prefix == "alpha" else "")):
            contact = services.contact_create(name=f"Customer {team.name}", email=f"{team.pk}-{prefix}@example.org",
                                              external_id=f"{prefix}-{team.pk}", custom_attributes={"plan": "gold"})
            conversation = services.conversation_open(inbox=inbox, contact=contact, content=f"Question {mark} {extra}", subject=f"Subject {mark} {extra}")
            services.conversation_team_set(conversation=conversation, team=team, by=Actor.system())
            services.message_add_note(conversation=conversation, content=f"Note {mark} {extra}", author=author)
            services.message_add_reply(conversation=conversation, content=f"AI answer {mark} {extra}", by_ai=True)
            services.conversation_labels_add(conversation=conversation, labels=[label], by=Actor.system())
            services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.system())
            services.csat_record(conversation=conversation, rating=4, comment=f"CSAT {mark} {extra}")
            conversations[team] = conversation
        return team_a, team_b, inbox, conversations


def _member(account, role, email):
    return MembershipFactory(account=account, role=role, user=UserFactory(email=email, full_name=f"{role} person")).user


def _build_world(alpha, beta) -> World:
    agent = _member(alpha, Membership.Role.AGENT, "agent-a@alpha.example")
    manager = _member(alpha, Membership.Role.MANAGER, "manager@alpha.example")
    owner = _member(alpha, Membership.Role.OWNER, "owner@alpha.example")
    beta_owner = _member(beta, Membership.Role.OWNER, "owner@beta.example")
    operator = UserFactory(email="ops@hearth.example", is_superuser=True)
    team_a, team_b, inbox, conversations = _desk(alpha, ALPHA_MARK, "alpha", manager)
    _desk(beta, "beta-only", "beta", beta_owner)
    with tenant_context(alpha):
        TeamMemberFactory(team=team_a, user=agent)
        customer_a = conversations[team_a].contact
        widget_a = widget_session_open(inbox=inbox, identifier=customer_a.external_id,
                                       identifier_hash=identifier_hash_for(inbox=inbox, identifier=customer_a.external_id))[1]
    with tenant_context(beta):
        beta_widget = widget_session_open(inbox=InboxFactory(auto_assign=False))[1]

    def token(user, account):
        return api_token_create(user=user, account=account, name="every-url")[1]

    alpha_host, beta_host = "alpha.localhost", "beta.localhost"
    callers = [
        Caller("anonymous", alpha_host, _client(alpha_host)),
        Caller("anonymous", "localhost", _client("localhost")),
        # Team A's customer's widget session rides along with the agent: neither sees team B.
        Caller("agent of team A", alpha_host, _signed_in(alpha, agent, alpha_host), token(agent, alpha), widget_a, (TEAM_B_MARK,)),
        Caller("manager", alpha_host, _signed_in(alpha, manager, alpha_host), token(manager, alpha), widget_a),
        Caller("owner", alpha_host, _signed_in(alpha, owner, alpha_host), token(owner, alpha), widget_a, full_fuzz=True),
        # Beta's owner with beta's credentials, on alpha's host and on beta's own (with alpha's ids).
        Caller("beta's owner on alpha's host", alpha_host, _signed_in(beta, beta_owner, alpha_host), token(beta_owner, beta), beta_widget, (ALPHA_MARK,)),
        Caller("beta's owner on beta's host", beta_host, _signed_in(beta, beta_owner, beta_host), token(beta_owner, beta), beta_widget, (ALPHA_MARK,)),
        Caller("platform operator", "localhost", _signed_in(None, operator, "localhost"), full_fuzz=True),
    ]
    world = World(callers)
    with tenant_context(alpha):
        b, a = conversations[team_b], conversations[team_a]
        world.ids = {
            "number": [str(b.number), str(a.number)],
            "message_id": [str(m.pk) for m in Message.objects.filter(conversation__in=[b, a], sender_type=Message.SenderType.AI).order_by("-pk")],
            "contact_id": [str(b.contact_id), str(a.contact_id)],
            "content_type_id": [str(ContentType.objects.get_for_model(Conversation).pk)],
            "object_id": [str(b.pk)],
            "id": [str(agent.pk)],
            "app_label": ["conversations", "accounts"],
            "url": ["nowhere/"],
        }
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Made once for the module inside a transaction rolled back at its end (each request is
    rolled back to a savepoint, so what one request changes or breaks never reaches the next)."""
    from accounts.models import Account

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        with transaction.atomic():
            yield _build_world(Account.objects.get(schema_name="alpha"), Account.objects.get(schema_name="beta"))
            transaction.set_rollback(True)
        connection.set_schema_to_public()


def _admin_object_ids(route: Route) -> list[str]:
    """Real primary keys of an admin URL's model, the newest first (team B's rows in alpha)."""
    model_admin = getattr(route.callback, "model_admin", None)
    if model_admin is None:
        return []
    in_schema = schema_context("public") if route.urlconf.endswith("public") else schema_context("alpha")
    with in_schema:
        return [str(pk) for pk in model_admin.model._default_manager.order_by("-pk").values_list("pk", flat=True)[:2]]


# ----------------------------------------------------------------------------- requests


@dataclass
class Findings:
    allowed_5xx: int | None = None
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)

    def check(self, caller: Caller, method: str, url: str, response, what: str) -> None:
        where = f"{caller.name}: {method} {url!r} ({what})"
        if response.status_code >= 500 and response.status_code != self.allowed_5xx:
            exc = getattr(response, "exc_info", None)
            detail = f"{exc[0].__name__}: {str(exc[1])[:300]}" if exc else response.content[:300]
            self.errors.append(f"{response.status_code} {where}: {detail}")
        if caller.forbidden_marks and not getattr(response, "streaming", False):
            body = response.content.decode("utf-8", "replace")
            for mark in caller.forbidden_marks:
                if mark in body:
                    self.leaks.append(f"{mark} shown to {where}")


def _headers(caller: Caller, url: str) -> dict:
    if "/api/widget/" in url and caller.widget_token:
        return {"HTTP_AUTHORIZATION": f"Bearer {caller.widget_token}"}
    if "/api/" in url and caller.api_token:
        return {"HTTP_AUTHORIZATION": f"Token {caller.api_token}"}
    return {}


def _paths(route: Route, world: World, caller: Caller, object_ids: list[str]) -> list[tuple[str, str]]:
    params = route.params
    if not params:
        return [(route.build({}), "no parameters")]
    real = {name: (object_ids if name == "object_id" and object_ids else world.ids.get(name, ["1"])) for name in params}
    paths = [(route.build({name: values[index % len(values)] for name, values in real.items()}), "real ids")
             for index in range(max(len(values) for values in real.values()))]
    for name in params if caller.full_fuzz else []:
        for value in PATH_HOSTILE:
            paths.append((route.build({**{n: v[0] for n, v in real.items()}, name: value}), f"{name}={value!r}"))
    return paths


def _queries(caller: Caller) -> list[dict]:
    if caller.full_fuzz:
        return [QUERY_ORDINARY, QUERY_CALENDAR_EDGE, *({name: value for name in QUERY_PARAMS} for value in QUERY_HOSTILE), *UNKNOWN_LOOKUPS]
    if caller.forbidden_marks:  # the lookup probes are an oracle for whoever may not see the rows
        return [QUERY_ORDINARY, *UNKNOWN_LOOKUPS[:2]]
    return [QUERY_ORDINARY]


def _json_bodies(caller: Caller) -> list[str]:
    bodies = [json.dumps({key: "ordinary text" for key in JSON_KEYS})]
    if caller.full_fuzz:
        bodies += [json.dumps({key: value for key in JSON_KEYS}) for value in JSON_HOSTILE_VALUES] + JSON_HOSTILE_BODIES
    return bodies


def _body_methods(route: Route) -> list[str]:
    view_class = getattr(route.callback, "view_class", None)
    if view_class is None or not hasattr(view_class, "http_method_names"):
        return ["post"]
    return [method for method in ("post", "patch", "delete") if hasattr(view_class, method)] or ["post"]


def _send(findings: Findings, caller: Caller, method: str, url: str, what: str, **kwargs):
    # Each request runs in a savepoint rolled back afterwards: what it changed (or a database
    # error it hit) never reaches the next request.
    # The caller's own cookies every time: a logout, a login or a password change earlier in the
    # walk must not change who the next request is from.
    caller.client.cookies = SimpleCookie(caller.cookies)
    savepoint = transaction.savepoint()
    try:
        response = getattr(caller.client, method)(url, **_headers(caller, url), **kwargs)
    finally:
        transaction.set_rollback(False)  # a failed save marks the whole transaction; the savepoint undoes it
        transaction.savepoint_rollback(savepoint)
    findings.check(caller, method.upper(), url, response, what)
    return response


def _request_all(route: Route, world: World, caller: Caller, object_ids: list[str], findings: Findings) -> None:
    paths = _paths(route, world, caller, object_ids)
    for path, what in paths:
        _send(findings, caller, "get", path, what)
    path = paths[0][0]
    for query in _queries(caller):
        _send(findings, caller, "get", f"{path}?{urlencode(query)}", "query")
    if "/api/" in path:
        for method in _body_methods(route):
            for body in _json_bodies(caller) if method != "delete" else [""]:
                _send(findings, caller, method, path, f"JSON {body[:50]!r}", data=body, content_type="application/json")
        return
    model_admin = getattr(route.callback, "model_admin", None)
    keys = FORM_KEYS + ([f.name for f in model_admin.model._meta.fields] if model_admin else [])
    for value in FORM_HOSTILE if caller.full_fuzz else ["ordinary"]:
        _send(findings, caller, "post", path, f"form fields={value!r}", data={key: value for key in keys})
        if model_admin is not None and caller.full_fuzz and value in FORM_HOSTILE[1:3]:  # a bulk action on hostile ids
            data = {"action": "delete_selected", "_selected_action": [value, *object_ids[:1]], "index": "0"}
            _send(findings, caller, "post", path, f"action on {value!r}", data=data)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.id)
def test_every_url_answers_every_role_without_server_errors_or_leaks(route, world):
    findings = Findings(allowed_5xx=ALLOWED_5XX.get(route.id))
    is_public = route.urlconf.endswith("public")
    object_ids = _admin_object_ids(route)
    for caller in world.callers:
        if (caller.host == "localhost") == is_public:
            _request_all(route, world, caller, object_ids, findings)
    _expect(route.id, "server errors", findings.errors, KNOWN_SERVER_ERRORS)
    _expect(route.id, "leaks", findings.leaks, KNOWN_LEAKS)


def _expect(route_id: str, kind: str, problems: list[str], known: dict[str, str]) -> None:
    """No problems; for a known case (strict), exactly the opposite until its fix lands."""
    if route_id in known:
        if problems:
            pytest.xfail(f"{known[route_id]}: {problems[0]}")
        pytest.fail(f"{route_id} has no {kind} any more: remove it from the known cases")
    assert not problems, f"{kind}:\n" + "\n".join(problems[:40])


# ----------------------------------------------------------------------------- admin forms, one hostile field


class _FormFields(HTMLParser):
    """What a browser would send for the admin's add or change form as rendered: every input,
    textarea and select of the form (inlines and their management form included), with the
    values shown. Also which fields a person types into (text, number, JSON), by name."""

    TYPED = {"text", "number", "email", "url", "search", "tel", "password"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.data: list[tuple[str, str]] = []
        self.required: set[str] = set()
        self.typed: list[str] = []  # in page order
        self.options: dict[str, list[str]] = {}  # a select's real (non-empty) choices
        self._in_form = False
        self._textarea: str | None = None
        self._select: tuple[str, list, bool] | None = None  # name, [(value, selected)], multiple

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("id") or "").endswith("_form"):
            self._in_form = True
        if not self._in_form or not attrs.get("name") and tag != "option":
            return
        name = attrs.get("name")
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data.append((name, attrs.get("value") or ("on" if kind == "checkbox" else "")))
            if kind in self.TYPED:
                self.typed.append(name)
            if "required" in attrs:
                self.required.add(name)
        elif tag == "textarea":
            self._textarea = name
            self.data.append((name, ""))
            self.typed.append(name)
            if "required" in attrs:
                self.required.add(name)
        elif tag == "select":
            self._select = (name, [], "multiple" in attrs)
            if "required" in attrs:
                self.required.add(name)
        elif tag == "option" and self._select is not None:
            self._select[1].append((attrs.get("value", ""), "selected" in attrs))

    def handle_data(self, data):
        if self._textarea is not None:
            name, value = self.data[-1]
            self.data[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            name, options, multiple = self._select
            self.options[name] = [value for value, _ in options if value]
            chosen = [value for value, selected in options if selected]
            if not chosen and not multiple and options:
                # A required choice left empty gets the first real option; else what a browser sends.
                real = [value for value, _ in options if value]
                chosen = [real[0]] if name in self.required and real else [options[0][0]]
            self.data += [(name, value) for value in chosen]
            self._select = None


def _valid_value(name: str) -> str:
    """For a required field the form shows empty (an add form): something it accepts."""
    if "email" in name:
        return "valid@example.org"
    if "url" in name or "origin" in name:
        return "https://valid.example.org"
    if "color" in name or "colour" in name:
        return "#123456"
    return "valid-value-1"


def _required_errors(response) -> list[str]:
    form = response.context["adminform"].form if response.status_code == 200 and response.context and "adminform" in response.context else None
    if form is None:
        return []
    return [name for name, errors in form.errors.items() if name in form.fields and any("required" in str(e) for e in errors)]


def _form_data(fields: _FormFields) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in fields.data:
        if not value and name in fields.required:
            value = _valid_value(name)
        data.setdefault(name, []).append(value)
    return data


FORM_ROUTES = [route for route in ROUTES if getattr(route.callback, "model_admin", None) is not None
               and route.template.endswith(("/add/", "/change/"))]
# Per field, a few of FORM_HOSTILE (rotating, so every value meets every kind of form): bounded
# runtime, about a second per form.
HOSTILE_PER_FIELD = 2
MAX_FIELDS_PER_FORM = 12


@pytest.mark.parametrize("route", FORM_ROUTES, ids=lambda route: route.id)
def test_a_valid_admin_form_with_one_hostile_field_is_answered_without_a_server_error(route, world):
    """The hostile-form pass above sends garbage in every field at once, which a form rejects
    at its first field; here the form is the admin's own (its values as rendered, required
    gaps filled) and only one field at a time is hostile, so that field's value reaches the
    cleaning, the save and the database."""
    is_public = route.urlconf.endswith("public")
    caller = next(c for c in world.callers if c.full_fuzz and (c.host == "localhost") == is_public)
    object_ids = _admin_object_ids(route)
    if route.params and not object_ids:
        return  # no row of this model in the world: its add form is the one tried
    path = route.build({name: object_ids[0] for name in route.params})
    caller.client.cookies = SimpleCookie(caller.cookies)
    savepoint = transaction.savepoint()
    try:
        page = caller.client.get(path)
    finally:
        transaction.savepoint_rollback(savepoint)
    if page.status_code != 200:  # a form this role may not use (a read-only admin): nothing to fill
        assert page.status_code < 500, page.content[:300]
        return
    fields = _FormFields()
    fields.feed(page.content.decode())
    valid = _form_data(fields)
    findings = Findings()
    # A field the page does not mark required may still be (a rich editor, a relation): what
    # the form says is missing is filled once, as a person would.
    missing = _required_errors(_send(findings, caller, "post", path, "the valid form", data=valid))
    if missing:
        valid.update({name: [fields.options[name][0] if fields.options.get(name) else _valid_value(name)] for name in missing})
        _send(findings, caller, "post", path, "the valid form, gaps filled", data=valid)
    typed = [name for name in fields.typed if "__prefix__" not in name]  # an inline's empty template is never read
    for index, name in enumerate(typed[:MAX_FIELDS_PER_FORM]):
        for step in range(HOSTILE_PER_FIELD):
            value = FORM_HOSTILE[(index + step * 2) % len(FORM_HOSTILE)]
            _send(findings, caller, "post", path, f"valid form, {name}={value!r}", data={**valid, name: [value]})
    _expect(route.id, "server errors", findings.errors, KNOWN_SERVER_ERRORS)


def test_the_walk_finds_every_kind_of_url():
    """The enumeration itself: admin, both APIs, the schema and the public host are all in it."""
    ids = {route.id for route in ROUTES}
    assert "tenant:admin/conversations/conversation/<path:object_id>/change/" in ids
    assert "tenant:api/widget/v1/conversations/<number:number>/messages" in ids
    assert "tenant:api/v1/contacts/<id:contact_id>/" in ids
    assert "tenant:api/schema/" in ids
    assert "public:admin/accounts/account/" in ids
    assert len(ids) == len(ROUTES) > 100
