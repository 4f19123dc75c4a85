"""The base every ModelAdmin and inline of both admin sites builds on.

Three rules live here so that a model added later gets them without thinking:
- **Visibility**: an admin whose rows belong to conversations declares the path to them
  (`conversation_path = "conversation"`); its changelist, change page, history, delete page
  and autocomplete then show only what conversations/access.py lets the user see.
- **Query parameters**: a changelist answers only the parameters it declares (its list
  filters, search, ordering, paging, popups, date hierarchy). Django would otherwise accept
  any lookup on a local field (`?hmac_secret__startswith=a`), which makes a hidden value
  guessable one character at a time, and pass `?x__regex=(` to PostgreSQL (a 500).
  Anything else is a 400.
- **JSON form fields**: parsed with size and depth bounds, no NUL anywhere (PostgreSQL's
  jsonb refuses it; Python's parser would recurse until it crashes).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.filters import SimpleListFilter
from django.contrib.admin.options import IS_FACETS_VAR, IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.db import models
from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string

from config import inputs

MAX_SEARCH_LENGTH = 200
CHANGELIST_PARAMETERS = frozenset({ALL_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR, ERROR_FLAG, IS_POPUP_VAR, TO_FIELD_VAR, IS_FACETS_VAR})


class SafeJSONFormField(forms.JSONField):
    """Django's JSON form field, bounded by the one JSON rule of config.inputs (size, depth,
    storable text): a form error instead of a 500 for any input."""

    def to_python(self, value):
        if isinstance(value, str):
            if len(value.encode("utf-8", "surrogatepass")) > inputs.MAX_JSON_BYTES:
                raise forms.ValidationError(f"JSON may be at most {inputs.MAX_JSON_BYTES // 1024} KB.", code="unsafe")
            if "\x00" in value:
                raise forms.ValidationError("Text in JSON must not contain NUL characters.", code="unsafe")
        try:
            return inputs.json_check(super().to_python(value))
        except RecursionError as error:
            raise forms.ValidationError(f"JSON nested deeper than {inputs.MAX_JSON_DEPTH} levels", code="unsafe") from error
        except inputs.InvalidInput as error:
            raise forms.ValidationError(str(error), code="unsafe") from error

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)


FORMFIELD_OVERRIDES = {models.JSONField: {"form_class": SafeJSONFormField}}


def _filter_parameters(model, filter_item) -> set[str]:
    """The query parameters one `list_filter` entry reads, as Django's filters name them."""
    if isinstance(filter_item, type) and issubclass(filter_item, SimpleListFilter):
        # A filter named like a field's exact lookup also answers to the field's short form.
        return {filter_item.parameter_name, filter_item.parameter_name.removesuffix("__exact")}
    path = filter_item[0] if isinstance(filter_item, (list, tuple)) else filter_item
    field = get_fields_from_path(model, path)[-1]
    parameters = {f"{path}__isnull", f"{path}__isempty"}
    if field.is_relation:
        parameters.add(f"{path}__{field.target_field.name}__exact")
    elif isinstance(field, (models.DateField, models.DateTimeField)):
        parameters |= {f"{path}__gte", f"{path}__lt"}
    else:
        parameters |= {path, f"{path}__exact"}  # `?status=open` is the short form of the filter's own
    return parameters


class ConversationScoped:
    """Rows are shown only where their conversation is visible to the user (see module doc).

    `conversation_path`: the lookup path from the model to Conversation ("" for Conversation
    itself, "conversation", "message__conversation"); None for rows outside any
    conversation (inboxes, labels, ...). Contacts use conversations/access.py's contact rule.
    """

    conversation_path: str | None = None

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.conversation_path is None or getattr(request, "tenant", None) is None:
            return queryset
        from conversations.access import rows_visible_to

        return rows_visible_to(request.user, account=request.tenant, queryset=queryset, conversation_path=self.conversation_path)


def _check_conversation_path(model_admin) -> list:
    """A model that holds conversation data must say how it reaches its conversation, or
    its admin would show every team's rows (`manage.py check` fails until it does)."""
    from django.core import checks

    from conversations.models import Contact, Conversation, Message

    holds_conversation_data = model_admin.model in (Conversation, Contact, Message) or any(
        field.is_relation and field.concrete and field.related_model in (Conversation, Message)
        for field in model_admin.model._meta.get_fields()
    )
    if holds_conversation_data and model_admin.conversation_path is None and "get_queryset" not in type(model_admin).__dict__:
        return [checks.Error(
            f"{type(model_admin).__name__} shows conversation data but declares no conversation_path",
            hint='Set conversation_path (e.g. "conversation") so only visible conversations show.',
            obj=type(model_admin), id="hearth.E001",
        )]
    return []


class HearthModelAdmin(ConversationScoped, admin.ModelAdmin):
    formfield_overrides = FORMFIELD_OVERRIDES

    def check(self, **kwargs):
        return [*super().check(**kwargs), *_check_conversation_path(self)]

    def declared_query_parameters(self, request) -> set[str]:
        parameters = set(CHANGELIST_PARAMETERS)
        for filter_item in self.get_list_filter(request):
            parameters |= _filter_parameters(self.model, filter_item)
        if self.date_hierarchy:
            parameters |= {f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        return parameters

    def lookup_allowed(self, lookup, value, request=None):
        # A raw-id popup filters by its field's limit_choices_to; those lookups are declared
        # by the model itself.
        for fk_lookup in self.model._meta.related_fkey_lookups:
            fk_lookup = fk_lookup() if callable(fk_lookup) else fk_lookup
            if (lookup, value) in url_params_from_lookup_dict(fk_lookup).items():
                return True
        return request is not None and lookup in self.declared_query_parameters(request)

    def changelist_view(self, request, extra_context=None):
        problem = self.query_problem(request)
        if problem:
            context = {**self.admin_site.each_context(request), "title": "Bad request", "message": problem}
            return HttpResponseBadRequest(render_to_string("accounts/admin_bad_request.html", context, request=request))
        return super().changelist_view(request, extra_context)

    def query_problem(self, request) -> str | None:
        """Why this changelist refuses the query string, or None."""
        allowed = self.declared_query_parameters(request)
        related_lookups = {key for fk in self.model._meta.related_fkey_lookups for key in url_params_from_lookup_dict(fk() if callable(fk) else fk)}
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return "The address contains a NUL character."
            if key not in allowed and key not in related_lookups:
                return f"This list cannot be filtered by “{key[:100]}”."
        if len(request.GET.get(SEARCH_VAR, "")) > MAX_SEARCH_LENGTH:
            return f"Search for at most {MAX_SEARCH_LENGTH} characters."
        return None


class ReadOnlyModelAdmin(HearthModelAdmin):
    """A record of what happened (ledger, audit trail, AI history): shown, never added, edited
    or deleted from the admin; the code that made it is its only writer."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HearthTabularInline(ConversationScoped, admin.TabularInline):
    formfield_overrides = FORMFIELD_OVERRIDES


class HearthStackedInline(ConversationScoped, admin.StackedInline):
    formfield_overrides = FORMFIELD_OVERRIDES


class ReadOnlyTabularInline(HearthTabularInline):
    """Rows shown beside their parent that only the code writes (an article's passages, an
    account's suspension history): never added, edited or deleted from the admin."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
