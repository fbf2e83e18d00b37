"""The <select> written in Python is the bytes Django's widget templates write."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.utils.safestring import mark_safe

from escalations.core.fast_select import FastSelect
from escalations.core.filters import AnyYesNo, EscalationFilter

CHOICES: list[Any] = [
    ("", "Any"),
    ("a&b", "Tom & Jerry <script>"),
    (3, mark_safe("<b>safe</b>")),
    ("Group", [("g1", "One"), ("g2", 'Two "quoted"')]),
]


@pytest.mark.parametrize("value", [None, "", "a&b", "3", "g2", ["g1"]])
@pytest.mark.parametrize("attrs", [None, {"id": "id_x", "required": True, "disabled": False, "data-n": 5}])
def test_a_select_is_written_as_the_templates_write_it(value: Any, attrs: Any) -> None:
    fast = FastSelect(choices=CHOICES).render("name", value, attrs)
    slow = forms.Select(choices=CHOICES).render("name", value, attrs)
    assert fast == slow


@pytest.mark.parametrize("value", [None, True, False, "true"])
def test_the_yes_no_filter_is_written_as_the_templates_write_it(value: Any) -> None:
    from django_filters.widgets import BooleanWidget

    class Plain(BooleanWidget):
        def __init__(self) -> None:
            super().__init__()
            self.choices = AnyYesNo().choices

    assert AnyYesNo().render("is_test", value, {"id": "id_is_test"}) == Plain().render(
        "is_test", value, {"id": "id_is_test"}
    )


@pytest.mark.django_db
def test_the_list_filters_use_it(moderator: Any) -> None:
    form = EscalationFilter(data={"assignee": str(moderator.pk)}, queryset=None).form
    field = form["assignee"]
    fast = str(field)
    field.field.widget = forms.Select(choices=field.field.widget.choices)
    assert f'<option value="{moderator.pk}" selected>mod</option>' in fast
    assert fast == str(form["assignee"])
