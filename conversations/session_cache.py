"""The widget's verified sessions, kept in Redis for a few seconds: verifying a session was a
quarter to a third of every widget request (one query joining session, inbox and contact,
and Django building its 50-column select), and a chat widget polls with the same token over
and over.

The rule that keeps it honest, in one place: **any change to a widget session, an inbox or a
contact of the tenant makes every cached session of that tenant stale** (`sessions_stale`).
Saves and deletes of those three models (the admin's too, and cascades) call it through the
signals connected in `conversations.apps`; the services that change them with a queryset
`update()` (revoking a session, rotating a widget token or an HMAC secret, marking a
contact's business fields) call it themselves. A new session or contact changes nothing
cached, so opening sessions does not empty the cache.

How: each tenant has a generation number in Redis; an entry stores the generation it was read
under and is served only while that is still the tenant's generation. `sessions_stale` adds
one to it, at once and again after the transaction commits, so a request that read the
database before the commit cannot cache what the commit changed: it read the old generation
first and its entry is stale on arrival. Entries live `ENTRY_SECONDS` at most, and never past
the session's own expiry, which is checked on every request anyway.
"""

from __future__ import annotations

import copy
import logging
import pickle
import secrets

import django
import redis
from django.db import transaction

from config.ratelimit import windows_count_with
from config.redis import redis_binary_client, tenant_cache_keys
from conversations.models import Contact, Inbox, WidgetSession

logger = logging.getLogger(__name__)

ENTRY_SECONDS = 30
# Part of the key: a deploy that changes the models, the entry's layout or Django (whose model
# state an entry holds) reads none of the old entries.
_FORMAT = f"2-{django.__version__}"


# The tenant's generation counter is NOT versioned with the entries: during a deploy (or a
# Django upgrade) processes of both releases serve requests, and a change made by either must
# make the entries of both stale. Its name is the one the first entry format used, so it is
# shared with the release before this format too.
_GENERATION_NAME = "widget-sessions:v1:generation"
_ENTRY_PREFIX = f"widget-sessions:v{_FORMAT}:"


def _generation_key() -> str:
    # django-tenants' cache key function puts the tenant's schema first: one counter per tenant.
    # Every key here is made by tenant_cache_keys, the one builder session_get_counting uses too.
    return tenant_cache_keys(_GENERATION_NAME)[0]


def _entry_key(session_id: str) -> str:
    return tenant_cache_keys(_ENTRY_PREFIX + session_id)[0]


def session_get(session_id: str):
    """(the cached WidgetSession with its inbox and contact, or None; the generation to fill
    with, or None when the entry must not be filled). Redis down: a miss, never an error."""
    session, generation, _ = session_get_counting(session_id, {})
    return session, generation


def session_get_counting(session_id: str, windows: dict[str, int]):
    """session_get, with the request counted in the throttles' `windows` in the same round
    trip (config.ratelimit.windows_count_with). Returns (session, generation, the counts or
    None when Redis did not count them: the throttles then count, and fail, on their own)."""
    counts = None
    try:
        generation_key, entry_key = tenant_cache_keys(_GENERATION_NAME, _ENTRY_PREFIX + session_id)
        counts, reply = windows_count_with(windows, ("MGET", generation_key, entry_key))
        if isinstance(reply, Exception):
            raise reply
        generation, entry = reply
        if generation is None:
            # First use, or Redis lost the counter: start at a random number, so an entry
            # written under an earlier count can never match again; this request fills nothing.
            redis_binary_client().set(generation_key, secrets.randbits(62), nx=True)
            return None, None, counts
        if entry is not None:
            entry_generation, _, pickled = entry.partition(b":")
            if entry_generation == generation:
                return _thawed(pickled), generation, counts
        return None, generation, counts
    except (redis.RedisError, pickle.UnpicklingError, AttributeError, EOFError, ImportError, ValueError):
        logger.warning("widget session cache unreadable; reading the database", exc_info=True)
        return None, None, counts


def session_put(session, *, generation: bytes | None, seconds: float) -> None:
    """Keep a verified session (read after `generation` was) for at most `seconds`."""
    if generation is None or seconds < 1:
        return
    frozen = _frozen(session)
    if frozen is None:
        return
    try:
        redis_binary_client().set(_entry_key(str(session.pk)), generation + b":" + frozen, ex=min(ENTRY_SECONDS, int(seconds)))
    except redis.RedisError:
        logger.warning("widget session cache unwritable", exc_info=True)


# An entry: the pickled __dict__ of the session, its inbox and its contact, without Django's
# pickling of models. That one unpickles each model through `model_unpickle` (the app registry's
# get_model) and Model.__setstate__: about 45 Python calls per request. The attribute dicts
# unpickle in C alone; the three objects are rebuilt as Model.__setstate__ would rebuild them.
def _frozen(session) -> bytes | None:
    """The entry for `session` (its inbox and contact loaded), or None if it cannot be one."""
    states = []
    for instance in (session, session.inbox, session.contact):
        state = instance.__dict__.copy()
        if any(isinstance(value, memoryview) for value in state.values()):  # Model.__getstate__'s case: not kept
            return None
        state["_state"] = copy.copy(state["_state"])
        state["_state"].fields_cache = {}  # the session's two are set again by _thawed; nothing else is kept
        states.append(state)
    return pickle.dumps(tuple(states), pickle.HIGHEST_PROTOCOL)


def _thawed(frozen: bytes):
    session_state, inbox_state, contact_state = pickle.loads(frozen)
    session, inbox, contact = WidgetSession.__new__(WidgetSession), Inbox.__new__(Inbox), Contact.__new__(Contact)
    session.__dict__.update(session_state)
    inbox.__dict__.update(inbox_state)
    contact.__dict__.update(contact_state)
    session._state.fields_cache = {"inbox": inbox, "contact": contact}
    return session


def _bump(key: str) -> None:
    try:
        redis_binary_client().incr(key)
    except redis.RedisError:
        # Cannot make the cache stale: the entries still end within ENTRY_SECONDS; say so loudly.
        logger.error("widget session cache could not be made stale; entries may live %ss", ENTRY_SECONDS, exc_info=True)


def sessions_stale() -> None:
    """Every cached widget session of the current tenant is stale: call after changing a
    widget session, an inbox or a contact (saves and deletes call it through signals)."""
    key = _generation_key()  # now: the commit may run when another tenant is current
    _bump(key)
    transaction.on_commit(lambda: _bump(key))


def _on_save(sender, instance, created=False, raw=False, **kwargs) -> None:
    if not created and not raw:
        sessions_stale()


def _on_delete(sender, instance, **kwargs) -> None:
    sessions_stale()


def signals_connect() -> None:
    from django.db.models.signals import post_delete, post_save

    for model in (WidgetSession, Inbox, Contact):
        post_save.connect(_on_save, sender=model, dispatch_uid=f"session_cache_save_{model.__name__}")
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"session_cache_delete_{model.__name__}")
