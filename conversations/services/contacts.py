"""Contacts: who the customers are, and which of their fields the business owns.

A field the business set (an agent in the admin or through the agents' API) is the
business's: `Contact.business_fields` lists it ("name", "email", "phone",
"custom_attributes.<key>"), and the customer's own updates from the widget may not change it.
A customer update that would change such a field is refused as a whole with a 400 naming the
field (nothing is half-applied); sending the value it already has is fine.

Custom attributes are small by rule, checked here for every door (`custom_attributes_check`).
"""

from __future__ import annotations

import json

from django.db import IntegrityError, transaction

from config.errors import ApplicationError
from conversations import session_cache
from conversations.models import Contact

MAX_CUSTOM_ATTRIBUTES = 50
MAX_ATTRIBUTE_NAME_CHARS = 50
MAX_ATTRIBUTE_VALUE_CHARS = 500
MAX_CUSTOM_ATTRIBUTES_BYTES = 16 * 1024
_SCALARS = (str, int, float, bool)


def _too_large(message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid_custom_attributes", fields={"custom_attributes": [message]})


def custom_attributes_check(attributes: dict) -> dict:
    """Refuse attributes over the limits (count, name and value length, total size) or of
    a shape the desk cannot show (values are strings, numbers, booleans; null deletes)."""
    if not isinstance(attributes, dict):
        raise _too_large("custom attributes are an object of names to values")
    if len(attributes) > MAX_CUSTOM_ATTRIBUTES:
        raise _too_large(f"at most {MAX_CUSTOM_ATTRIBUTES} custom attributes")
    for key, value in attributes.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_ATTRIBUTE_NAME_CHARS:
            raise _too_large(f"attribute names are 1-{MAX_ATTRIBUTE_NAME_CHARS} characters")
        if not (value is None or isinstance(value, _SCALARS)):
            raise _too_large(f"{key}: values are strings, numbers, booleans or null")
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
            raise _too_large(f"{key}: at most {MAX_ATTRIBUTE_VALUE_CHARS} characters")
    encoded = json.dumps(attributes, ensure_ascii=False)
    if "\x00" in encoded or "\\u0000" in encoded:
        raise _too_large("custom attributes must not contain NUL characters")
    if len(encoded.encode()) > MAX_CUSTOM_ATTRIBUTES_BYTES:
        raise _too_large(f"custom attributes are at most {MAX_CUSTOM_ATTRIBUTES_BYTES // 1024} KiB in all")
    return attributes


def _merged(current: dict, changes: dict) -> dict:
    merged = {**current, **changes}
    return custom_attributes_check({key: value for key, value in merged.items() if value is not None})


def _external_id_taken(external_id: str) -> ApplicationError:
    return ApplicationError(f"a contact with external id {external_id!r} exists", code="duplicate_external_id", fields={"external_id": ["taken"]})


def contact_create(
    *, name: str = "", email: str = "", phone: str = "", external_id: str | None = None, custom_attributes: dict | None = None,
    by_business: bool = True,
) -> Contact:
    """A new contact. Made by the business (agents' API, admin), the fields it gave are the
    business's; made for a widget visitor (`by_business=False`), none are."""
    attributes = custom_attributes_check({k: v for k, v in (custom_attributes or {}).items() if v is not None})
    contact = Contact(
        name=name.strip(), email=email.strip().lower(), phone=phone.strip(), external_id=external_id or None,
        custom_attributes=attributes,
    )
    if by_business:
        contact.business_fields = sorted(
            [field for field in ("name", "email", "phone") if getattr(contact, field)] + [f"custom_attributes.{key}" for key in attributes]
        )
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives a duplicate
            contact.save(force_insert=True)
    except IntegrityError as error:
        if contact.external_id and Contact.objects.filter(external_id=contact.external_id).exists():
            raise _external_id_taken(contact.external_id) from error
        raise
    return contact


def contact_get_or_create_by_external_id(*, external_id: str, name: str = "", email: str = "") -> tuple[Contact, bool]:
    """The contact with this external id, made now for a widget visitor if there is none.
    Two first visits at once both get the one contact: the unique external id decides, the
    loser reads the winner's row. Returns (contact, created)."""
    existing = Contact.objects.filter(external_id=external_id).first()
    if existing is not None:
        return existing, False
    try:
        return contact_create(name=name, email=email, external_id=external_id, by_business=False), True
    except ApplicationError:
        return Contact.objects.get(external_id=external_id), False


def _changes(contact: Contact, name, email, phone, custom_attributes) -> dict[str, object]:
    """The fields that would change, as business_fields names them, with their new values."""
    changes: dict[str, object] = {}
    for field, value in (("name", name), ("email", email), ("phone", phone)):
        if value is not None and value != getattr(contact, field):
            changes[field] = value
    for key, value in (custom_attributes or {}).items():
        if contact.custom_attributes.get(key) != value:
            changes[f"custom_attributes.{key}"] = value
    return changes


def _normalised(name, email, phone):
    return (
        None if name is None else name.strip(),
        None if email is None else email.strip().lower(),
        None if phone is None else phone.strip(),
    )


@transaction.atomic
def contact_update(
    *, contact: Contact, name: str | None = None, email: str | None = None, phone: str | None = None,
    external_id: str | None = None, clear_external_id: bool = False, custom_attributes: dict | None = None,
    blocked: bool | None = None,
) -> Contact:
    """The business changes a contact (admin, agents' API); fields left as None stay, and the
    fields it changes become the business's. Custom attributes merge (a key set to null is
    removed). `clear_external_id=True` removes the external id."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    name, email, phone = _normalised(name, email, phone)
    changes = _changes(contact, name, email, phone, custom_attributes)
    fields = [field for field in ("name", "email", "phone") if field in changes]
    for field in fields:
        setattr(contact, field, changes[field])
    if clear_external_id or external_id is not None:
        external_id = None if clear_external_id else (external_id or None)
        if external_id and Contact.objects.exclude(pk=contact.pk).filter(external_id=external_id).exists():
            raise _external_id_taken(external_id)
        contact.external_id = external_id
        fields.append("external_id")
    if custom_attributes is not None:
        contact.custom_attributes = _merged(contact.custom_attributes, custom_attributes)
        fields.append("custom_attributes")
    if blocked is not None:
        contact.blocked = blocked
        fields.append("blocked")
    owned = set(contact.business_fields) | {field for field, value in changes.items() if value is not None}
    owned -= {field for field, value in changes.items() if value is None}  # a removed attribute is nobody's
    if owned != set(contact.business_fields):
        contact.business_fields = sorted(owned)
        fields.append("business_fields")
    if fields:
        try:
            with transaction.atomic():
                contact.save(update_fields=fields)
        except IntegrityError as error:
            raise _external_id_taken(contact.external_id) from error
    return contact


@transaction.atomic
def contact_update_by_customer(
    *, contact: Contact, name: str | None = None, email: str | None = None, custom_attributes: dict | None = None
) -> Contact:
    """The customer changes their own details (the widget). A field the business set is
    refused with a 400 naming it; nothing else of the request is applied then."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    name, email, _ = _normalised(name, email, None)
    changes = _changes(contact, name, email, None, custom_attributes)
    owned = sorted(field for field in changes if field in contact.business_fields)
    if owned:
        raise ApplicationError(
            f"{', '.join(owned)} {'was' if len(owned) == 1 else 'were'} set by the business and cannot be changed here",
            code="set_by_business", fields={field: ["set by the business"] for field in owned},
        )
    fields = [field for field in ("name", "email") if field in changes]
    for field in fields:
        setattr(contact, field, changes[field])
    if custom_attributes is not None:
        contact.custom_attributes = _merged(contact.custom_attributes, custom_attributes)
        fields.append("custom_attributes")
    if fields:
        contact.save(update_fields=fields)
    return contact


def contact_business_fields_mark(*, contact: Contact, fields: list[str], attributes_before: dict | None = None) -> Contact:
    """The admin's contact form saved these model fields: they are the business's now. Of the
    custom attributes, the keys the form added or changed are; a key it removed is nobody's."""
    before = attributes_before or {}
    owned = set(contact.business_fields) | {field for field in fields if field in ("name", "email", "phone")}
    if "custom_attributes" in fields:
        after = contact.custom_attributes or {}
        owned |= {f"custom_attributes.{key}" for key, value in after.items() if key not in before or before[key] != value}
        owned -= {f"custom_attributes.{key}" for key in before if key not in after}
    if owned != set(contact.business_fields):
        contact.business_fields = sorted(owned)
        Contact.objects.filter(pk=contact.pk).update(business_fields=contact.business_fields)
        session_cache.sessions_stale()  # the cached contact's business fields; updates send no signal
    return contact
