"""QuickSelect (config/widgets.py) renders what Django's Select renders: choices, groups,
the selected value, attributes, escaping."""

from __future__ import annotations

import pytest
from django import forms

from config.widgets import QuickCheckboxSelectMultiple, QuickSelect

CHOICES = [
    ("", "team…"),
    (1, "Billing & <Co>"),
    ("2", 'Say "hi"'),
    ("Groups", [(3, "In a group"), ("x", "Another")]),
    (None, "None as a value"),
]


@pytest.mark.parametrize("value", [None, "", 1, "1", "2", 3, "x", "missing"])
@pytest.mark.parametrize("attrs", [None, {"class": "select-across", "aria-label": "Pick <one>"}, {"required": True, "disabled": False, "size": 3}])
def test_quick_select_renders_what_django_select_renders(value, attrs):
    django_select = forms.Select(attrs=attrs, choices=CHOICES)
    quick_select = QuickSelect(attrs=attrs, choices=CHOICES)
    assert quick_select.render("team", value, attrs={"id": "id_team"}) == django_select.render("team", value, attrs={"id": "id_team"})


def test_quick_select_in_a_form_field_with_lazy_labels():
    class Form(forms.Form):
        priority = forms.TypedChoiceField(choices=[("", "priority…"), (0, "None"), (4, "Urgent")], coerce=int, required=False, widget=QuickSelect)

    class DjangoForm(forms.Form):
        priority = forms.TypedChoiceField(choices=[("", "priority…"), (0, "None"), (4, "Urgent")], coerce=int, required=False)

    assert str(Form(initial={"priority": 4})["priority"]) == str(DjangoForm(initial={"priority": 4})["priority"])
    assert str(Form({"priority": "0"})["priority"]) == str(DjangoForm({"priority": "0"})["priority"])


CHECKBOX_CHOICES = [(1, "Billing & <Co>"), ("2", 'Say "hi"'), ("Groups", [(3, "In a group"), ("x", "Another")]), (None, "None as a value")]


@pytest.mark.parametrize("value", [None, [], [1], ["1", "2"], [3, "x"], ["missing"]])
@pytest.mark.parametrize("attrs", [None, {"id": "id_labels"}, {"id": "id_labels", "class": "inline <x>", "data-x": True, "disabled": False}])
def test_quick_checkboxes_render_what_django_checkboxes_render(value, attrs):
    django_widget = forms.CheckboxSelectMultiple(attrs=attrs, choices=CHECKBOX_CHOICES)
    quick_widget = QuickCheckboxSelectMultiple(attrs=attrs, choices=CHECKBOX_CHOICES)
    assert quick_widget.render("labels", value) == django_widget.render("labels", value)
    assert quick_widget.render("labels", value, attrs={"id": "id_other"}) == django_widget.render("labels", value, attrs={"id": "id_other"})
