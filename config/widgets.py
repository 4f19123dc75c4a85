"""Form widgets that render the HTML Django's would, without a template render per option.

Django renders a <select> through three templates: the select, then one include per option,
each including the attributes' template. The queue's action bar has ~45 options on every
page, which cost more Python than the rows it acts on (bench/desk_profile.py). `QuickSelect`
builds the same markup in Python from the same context (`get_context`, `optgroups`), so
choices, the selected option, attributes and escaping stay Django's;
tests/config/test_widgets.py compares the output with `forms.Select`'s.

`QuickModelChoiceField` is ModelChoiceField with those selects, reading its choices with one
plain query: Django's iterator reads them through `QuerySet.iterator()`, which outside a
transaction is a server-side cursor WITH HOLD (DECLARE, FETCH, CLOSE: three round trips and a
result the server materialises) for the dozen teams, labels or categories of a select.
"""

from __future__ import annotations

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe


def _attributes(attrs: dict) -> str:
    """django/forms/widgets/attrs.html."""
    return "".join(
        f" {name}" if value is True else f' {name}="{conditional_escape(value if isinstance(value, str) else "%s" % value)}"'
        for name, value in attrs.items() if value is not False
    )


class QuickSelect(forms.Select):
    """forms.Select, rendered in Python: the same HTML as its templates (select.html,
    select_option.html, attrs.html)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>']
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in group_choices:
                parts.append(f'\n  <option value="{conditional_escape("%s" % option["value"])}"{_attributes(option["attrs"])}>'
                             f'{conditional_escape(option["label"])}</option>\n')  # select_option.html ends with a newline
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))


class QuickCheckboxSelectMultiple(forms.CheckboxSelectMultiple):
    """forms.CheckboxSelectMultiple, rendered in Python: the same HTML as its templates
    (checkbox_select.html, multiple_input.html, checkbox_option.html, input_option.html,
    input.html, attrs.html: six template renders per checkbox)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        widget_id, css_class = widget["attrs"].get("id"), widget["attrs"].get("class")
        parts = ["<div", f' id="{conditional_escape(widget_id)}"' if widget_id else "", f' class="{conditional_escape(css_class)}"' if css_class else "", ">"]
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                parts.append(f"\n  <div><label>{conditional_escape(group_name)}</label>")
            for option in group_choices:
                parts.append(f"<div>\n    {_input_option(option)}\n</div>")  # checkbox_option.html adds the newline
            if group_name:
                parts.append("\n  </div>")
        parts.append("\n</div>")  # the renderer strips the templates' last newlines
        return mark_safe("".join(parts))


def _input_option(option: dict) -> str:
    """django/forms/widgets/input_option.html (with input.html) for one option."""
    value = "" if option["value"] is None else f' value="{conditional_escape("%s" % option["value"])}"'
    tag = f'<input type="{conditional_escape(option["type"])}" name="{conditional_escape(option["name"])}"{value}{_attributes(option["attrs"])}>\n'
    if not option["wrap_label"]:
        return tag + "\n"
    label_for = f' for="{conditional_escape(option["attrs"]["id"])}"' if option["attrs"].get("id") else ""
    return f"<label{label_for}>{tag} {conditional_escape(option['label'])}</label>\n"


class _ChoicesInOneQuery(ModelChoiceIterator):
    """ModelChoiceIterator without `iterator()`: the field's queryset (a copy per form, so
    per request) is evaluated once and kept for a second pass (validation, a re-render)."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class QuickModelChoiceField(forms.ModelChoiceField):
    """forms.ModelChoiceField shown with QuickSelect, its choices read in one plain query."""

    iterator = _ChoicesInOneQuery
    widget = QuickSelect


class QuickModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """forms.ModelMultipleChoiceField, its choices read in one plain query."""

    iterator = _ChoicesInOneQuery
