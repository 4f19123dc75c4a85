"""The queue page's rows and filters, rendered in one pass instead of Django's admin machinery
per cell and per choice.

Django's changelist renders each of the 50 x 14 cells through `items_for_result`: a field
lookup, `display_for_value`, `format_html`, and for the links a `reverse()` and a parse of the
preserved filters per row, plus the row's checkbox rendered through a form widget's template.
That was about 40% of a queue page's Python (bench/desk_profile.py, docs/performance.md); the
filters' ~80 choices through admin/filter.html another ~15%.

Here the per-column work (which kind of column, its CSS class, whether it links, the change
URL's shape with the preserved filters) is done once per page, and each row only calls the
column's display rule (the ModelAdmin's `*_display` methods, the only place what a cell shows
is decided) and escapes it; the filters' choices are still Django's (`spec.choices`), only
their markup is built here. The HTML is Django's, byte for byte
(tests/conversations/test_queue_page.py compares it with `items_for_result`'s and
`admin_list_filter`'s). A column of a kind this does not know (a boolean, a date field, a
field with choices, ...) makes the whole list fall back to Django's rendering, and a filter
with a template of its own is rendered by Django's tag: nothing new is ever shown wrongly.

The table around the rows (`results_table`: headers with their sort links) is
admin/change_list_results.html built the same way, and `RowsChangeList` has the page's query
read only the columns the rows show (`ConversationAdmin.page_rows`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable

from django.contrib.admin.templatetags.admin_list import _coerce_field_name, admin_list_filter, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.encoding import iri_to_uri
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import gettext

# A primary key no row has, to cut the change URL (with its preserved filters) into the parts
# around a row's key once per page.
_PK_MARK = "9223372036854775807"


@dataclass(frozen=True)
class _Column:
    value: Callable  # the row -> what the cell shows (str, SafeString or a related object; None/"" is empty)
    opening: str  # '<td class="field-x">' or '<th ...><a href="'
    empty: str  # the column's empty-value display, escaped
    link: bool
    text_only: bool  # a display method: anything but text (a date, a number) is Django's to format


class RowsChangeList(ChangeList):
    """A changelist whose page reads only what its rows show: the ModelAdmin's
    `page_rows(queryset)` narrows the page's query (its columns, its prefetches), and the
    paginator counts that narrowed queryset (the same WHERE, so the same count). The filters
    and the actions keep the full queryset (`get_queryset`): only the rows shown are loaded
    differently."""

    def get_results(self, request):
        self.queryset = self.model_admin.page_rows(self.queryset)
        super().get_results(request)


def _column(cl: ChangeList, field_name: str, index: int, first_link: bool) -> _Column | None:
    """How one list_display column is shown, as items_for_result decides it; None for a kind
    of column this module does not render (the caller falls back to Django's)."""
    model_admin = cl.model_admin
    empty = model_admin.get_empty_value_display()
    classes = ["field-%s" % _coerce_field_name(field_name, index)]
    link = cl.list_display_links is not None and field_name in cl.list_display_links
    try:
        field = cl.lookup_opts.get_field(field_name)
    except FieldDoesNotExist:
        field = None
    if field is None:
        attr = getattr(model_admin, field_name, None) if isinstance(field_name, str) else None
        if attr is None or not callable(attr) or getattr(attr, "boolean", False) or field_name == "action_checkbox":
            return None
        empty = getattr(attr, "empty_value_display", empty)
        value = attr
    elif isinstance(field, models.ForeignKey) and not field.auto_created:
        classes.append("nowrap")
        name = field.name
        value = lambda obj: getattr(obj, name)  # noqa: E731 (the related row, shown as str())
    elif isinstance(field, (models.CharField, models.TextField)) and not getattr(field, "flatchoices", None):
        attname = field.attname
        value = lambda obj: getattr(obj, attname)  # noqa: E731 (text shown as it is)
    else:
        return None
    tag = "th" if link and first_link else "td"
    opening = f'<{tag} class="{" ".join(classes)}">'
    return _Column(value=value, opening=opening + ('<a href="' if link else ""), empty=str(conditional_escape(empty)), link=link,
                   text_only=field is None)


def _change_url_parts(cl: ChangeList) -> tuple[str, str] | None:
    """The change URL of a row, with the list's preserved filters, as (before the key, after it)."""
    try:
        url = cl.url_for_result(type("Row", (), {cl.pk_attname: _PK_MARK})())
    except NoReverseMatch:
        return None
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)
    path, query_mark, query = url.partition("?")
    before, mark, after = path.partition(_PK_MARK)
    if not mark:
        return None
    return escape(before), escape(after + query_mark + query)


def queue_rows(cl: ChangeList) -> list[SafeString] | None:
    """Each row of the changelist's page as the HTML inside its <tr>; None when a column is of
    a kind rendered only by Django (list_editable, popups, an unknown column, a display
    method that returned something other than text)."""
    if cl.formset is not None or cl.is_popup or cl.list_display_links is None or not cl.list_display_links:
        return None
    names = list(cl.list_display)
    checkbox = bool(names) and names[0] == "action_checkbox"
    columns = []
    first_link = True
    for index, name in enumerate(names[1:] if checkbox else names, start=1 if checkbox else 0):
        column = _column(cl, name, index, first_link)
        if column is None:
            return None
        first_link = first_link and not column.link
        columns.append(column)
    url_parts = _change_url_parts(cl)
    if url_parts is None:
        return None
    url_before, url_after = url_parts
    label = conditional_escape(gettext("Select this object for an action - {}"))  # ModelAdmin.action_checkbox's format_html
    pk_attname = cl.pk_attname
    rows = []
    for row in cl.result_list:
        pk = getattr(row, pk_attname)
        cells = []
        if checkbox:
            cells.append('<td class="action-checkbox"><input type="checkbox" name="_selected_action" value="%s" class="action-select" aria-label="%s"></td>'
                         % (html.escape(str(pk)), label.format(html.escape(str(row)))))
        for column in columns:
            value = column.value(row)
            if column.text_only and value is not None and not isinstance(value, str):
                return None  # display_for_value would localize it (and mark a date "nowrap"): Django's rows
            if value is None or (isinstance(value, str) and not value.strip()):
                shown = column.empty
            elif hasattr(value, "__html__"):  # conditional_escape, without its lazy-text wrappers (650 cells a page)
                shown = value.__html__()
            else:
                shown = html.escape(str(value))
            if column.link:
                tag = column.opening[1:3]
                cells.append(f'{column.opening}{url_before}{html.escape(str(quote(pk)))}{url_after}">{shown}</a></{tag}>')
            else:
                cells.append(f"{column.opening}{shown}</td>")
        rows.append(mark_safe("".join(cells)))
    return rows


def queue_results_context(cl: ChangeList, rows: list[SafeString]) -> dict:
    """What Django's `result_list` tag gives admin/change_list_results.html, with the rows
    rendered by queue_rows (each a one-item row: the template joins a row's items)."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": [[row] for row in rows],
    }


def results_table(context: dict) -> SafeString:
    """admin/change_list_results.html for `queue_results_context`'s context, to the byte: the
    headers' sort links and the rows (the template tested `result.form` on each row, a failed
    variable lookup per row, and ran ~15 tags per header)."""
    parts = ["\n"]
    if context["result_hidden_fields"]:
        parts.append('\n<div class="hiddenfields">\n' + "".join(str(conditional_escape(item)) for item in context["result_hidden_fields"]) + "\n</div>\n")
    parts.append("\n")
    if context["results"]:
        parts.append('\n<div class="results">\n<table id="result_list">\n<thead>\n<tr>\n')
        for header in context["result_headers"]:
            parts.append(f'\n<th scope="col"{conditional_escape(header["class_attrib"])}>\n   ')
            if header["sortable"] and header["sort_priority"] > 0:
                parts.append(f'\n       <div class="sortoptions">\n         <a class="sortremove" href="{escape(header["url_remove"])}" '
                             f'title="{escape(gettext("Remove from sorting"))}"></a>\n         ')
                if context["num_sorted_fields"] > 1:
                    priority = escape(header["sort_priority"])
                    title = gettext("Sorting priority: %(priority_number)s") % {"priority_number": priority}
                    parts.append(f'<span class="sortpriority" title="{title}">{priority}</span>')
                parts.append(f'\n         <a href="{escape(header["url_toggle"])}" class="toggle {"ascending" if header["ascending"] else "descending"}" '
                             f'title="{escape(gettext("Toggle sorting"))}"></a>\n       </div>\n   ')
            text = _capfirst(header["text"])
            if header["sortable"]:
                parts.append(f'\n   <div class="text"><a href="{escape(header["url_primary"])}">{text}</a></div>\n   <div class="clear"></div>\n</th>')
            else:
                parts.append(f'\n   <div class="text"><span>{text}</span></div>\n   <div class="clear"></div>\n</th>')
        parts.append("\n</tr>\n</thead>\n<tbody>\n")
        for result in context["results"]:
            parts.append("\n\n<tr>" + "".join(str(conditional_escape(item)) for item in result) + "</tr>\n")
        parts.append("\n</tbody>\n</table>\n</div>\n")
    parts.append("\n")
    return mark_safe("".join(parts))


def _capfirst(text) -> str:
    """`{{ text|capfirst }}`: the first letter upper-cased, escaped unless it is safe HTML."""
    value = str(text)
    shown = value[:1].upper() + value[1:]
    return shown if isinstance(value, SafeData) else html.escape(shown)


def filter_panel(cl: ChangeList) -> list[SafeString]:
    """Each list filter of the page as Django's `admin_list_filter` tag renders it, the usual
    admin/filter.html built in Python (the ~80 choices of the queue's filters were ~15% of its
    Python); a filter with a template of its own is rendered by Django's tag."""
    return [_filter_html(cl, spec) if spec.template == "admin/filter.html" else admin_list_filter(cl, spec) for spec in cl.filter_specs]


def _filter_html(cl: ChangeList, spec) -> SafeString:
    """admin/filter.html, to the byte."""
    parts = ["\n", f'<details data-filter-title="{conditional_escape(spec.title)}" open>\n  <summary>\n    ',
             gettext(" By %(filter_title)s ") % {"filter_title": conditional_escape(spec.title)}, "\n  </summary>\n  <ul>\n  "]
    for choice in spec.choices(cl):
        parts.append('\n    <li class="selected">' if choice["selected"] else "\n    <li>")
        parts.append(f'\n    <a href="{html.escape(iri_to_uri(choice["query_string"]))}">{conditional_escape(choice["display"])}</a></li>\n  ')
    parts.append("\n  </ul>\n</details>\n")
    return mark_safe("".join(parts))
