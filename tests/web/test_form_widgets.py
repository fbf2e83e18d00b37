"""templates/django/forms/widgets/select.html writes Django's option template in place instead of
including it once per option. Whatever a <select> holds, it must render exactly what Django's own
templates render: on an upgrade of Django that changes them, these tests fail."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, TemplatesSetting

CHOICES: list[Any] = [
    ("", "—"),
    ("a", "Plain"),
    ("b&c", 'Needs <escaping> & "quotes"'),
    ("Group one", [(1, "One"), (2, "Two")]),
    ("Group <two>", [("x", "Ex")]),
    (3, "Three"),
]


class Choosing(forms.Form):
    one = forms.ChoiceField(choices=CHOICES, required=False)
    many = forms.MultipleChoiceField(choices=CHOICES, required=False)
    flagged = forms.ChoiceField(
        choices=CHOICES, widget=forms.Select(attrs={"disabled": True, "aria-describedby": "help-x", "data-n": 0})
    )
    answer = forms.NullBooleanField()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="unbound"),
        pytest.param({"one": "b&c", "many": ["a", "2", "x"], "flagged": "3", "answer": "true"}, id="chosen"),
        pytest.param({"one": "nope", "many": ["zz"]}, id="invalid"),
    ],
)
def test_selects_render_as_djangos_own_templates_do(data: Any) -> None:
    ours = Choosing(data=data, renderer=TemplatesSetting())
    djangos = Choosing(data=data, renderer=DjangoTemplates())
    for name in Choosing.base_fields:
        assert str(ours[name]) == str(djangos[name]), name
    assert '<optgroup label="Group &lt;two&gt;">' in str(ours["one"])


def test_the_project_renders_forms_through_its_templates(settings: Any) -> None:
    assert settings.FORM_RENDERER == "django.forms.renderers.TemplatesSetting"
    html = str(Choosing()["one"])
    # Rendered from templates/django/forms/widgets/select.html: no include per option, same result.
    assert html.count("<option") == 7
    assert '<option value="b&amp;c">Needs &lt;escaping&gt; &amp; &quot;quotes&quot;</option>' in html
