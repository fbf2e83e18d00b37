"""The help page: for everyone signed in, role or not; plain text, no external assets, the public
pointers shown as text."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from tests.conftest import FormClient

ROLES = ("nobody", "moderator", "lead", "auditor")


@pytest.mark.parametrize("role", ROLES)
def test_every_signed_in_user_gets_help(role: str, request: Any, client_for: Any) -> None:
    user = request.getfixturevalue(role)
    response = client_for(user).get("/help/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Help: child sexual abuse material</h1>" in html
    # The navigation links to it for everyone.
    assert '<a href="/help/">Help</a>' in html


def test_anonymous_visitors_sign_in_first() -> None:
    response = FormClient().get("/help/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/help/"


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_what_to_do_and_never_do(client_for: Any, moderator: Any) -> None:
    text = _text(client_for(moderator).get("/help/").content.decode())
    assert "Never download, save, screenshot, copy, print, forward or share the material" in text
    assert "not even to help" in text
    assert "Report it" in text
    assert "the platform's evidence store, which preserves it" in text
    assert "Stop viewing" in text
    assert "Log an escalation" in text


def test_public_pointers_are_shown_as_text(client_for: Any, moderator: Any) -> None:
    html = client_for(moderator).get("/help/").content.decode()
    text = _text(html)
    assert "NCMEC CyberTipline" in text
    assert "report.cybertip.org" in text
    assert "1-800-843-5678" in text
    assert "Know2Protect" in text and "1-833-591-5669" in text
    assert "988 Suicide & Crisis Lifeline" in text
    assert "Call or text 988" in text
    # Each link shows its own address or number, and leaks no referrer or opener.
    main = html[html.index('<main id="main">') :]
    links = re.findall(r"<a ([^>]*)>([^<]*)</a>", main[: main.index("</main>")])
    external = [(attrs, label) for attrs, label in links if 'href="https:' in attrs or 'href="tel:' in attrs]
    assert len(external) >= 5
    for attrs, label in external:
        assert 'rel="noopener noreferrer"' in attrs
        href = re.search(r'href="([^"]+)"', attrs)
        assert href is not None
        target = href.group(1)
        if target.startswith("https://"):
            assert label in target, "a web link shows its address"
        else:
            assert re.sub(r"\D", "", target) == re.sub(r"\D", "", label), "a phone link shows its number"
        assert "target=" not in attrs


def test_no_external_assets_and_no_images(client_for: Any, lead: Any) -> None:
    html = client_for(lead).get("/help/").content.decode()
    assert "<img" not in html
    assert "<script" not in html
    assert "<iframe" not in html
    assert not re.search(r"\bsrc=", html)
    # The only stylesheet is the app's own.
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["/static/css/app.css"]
    assert "url(" not in html


def test_where_to_report_in_each_jurisdiction_the_rules_cover_with_its_source(client_for: Any, moderator: Any) -> None:
    text = _text(client_for(moderator).get("/help/").content.decode())
    for service, pointer, source in (
        ("Cybertip.ca (Canada)", "1-866-658-9022", "Source: cybertip.ca"),
        ("CEOP (National Crime Agency, United Kingdom)", "ceop.police.uk/Safety-Centre", "Source: ceop.police.uk"),
        ("ACCCE (Australian Federal Police)", "accce.gov.au/report", "Source: the Australian Centre to Counter"),
        ("Take It Down (NCMEC), for young people's own images", "takeitdown.ncmec.org", "Source: takeitdown.ncmec.org"),
    ):
        assert service in text and pointer in text and source in text
    # The law behind each, as the rules page cites it.
    for citation in (
        "18 U.S.C. 2258A",
        "S.C. 2011, c. 4, s.2",
        "Online Safety Act 2023 s.66",
        "Criminal Code s.474.25",
    ):
        assert citation in text
    # Support lines beside 988, each with its source.
    for line, source in (
        ("9-8-8", "988.ca"),
        ("116 123", "samaritans.org"),
        ("13 11 14", "lifeline.org.au"),
        ("1-800-668-6868", "kidshelpphone.ca"),
        ("0800 1111", "childline.org.uk"),
    ):
        assert line in text and source in text
