"""Saved views: a person's named filters for All escalations."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import get_messages

from escalations.models import SavedView
from escalations.web.saved_views import list_query
from tests.conftest import FormClient, escalation_trail


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("role", ["moderator", "lead", "auditor"])
def test_each_role_saves_the_current_filters_and_sees_them_as_links(
    role: str, request: Any, client_for: Any, make_escalation: Any
) -> None:
    user = request.getfixturevalue(role)
    client = client_for(user)
    query = "status=open&priority=urgent&sort=-knowledge_at"
    response = client.post("/saved-views/", {"name": "Urgent open", "query": query})
    assert response.status_code == 302
    assert response["Location"] == f"/escalations/?{query}"
    assert messages_of(response) == ['Saved view "Urgent open" saved.']

    saved = SavedView.objects.get()
    assert (saved.user, saved.name, saved.query) == (user, "Urgent open", query)
    html = client.get("/escalations/").content.decode()
    assert '<a href="/escalations/?status=open&amp;priority=urgent&amp;sort=-knowledge_at">Urgent open</a>' in html
    # Saving writes no audit event: it changes no escalation.
    assert escalation_trail().count() == 0


def test_the_list_page_offers_its_own_query_to_save(client_for: Any, moderator: Any) -> None:
    html = client_for(moderator).get("/escalations/?status=open&q=&page=2&_x=1&sort=status").content.decode()
    match = re.search(r'<input type="hidden" name="query" value="([^"]*)">', html)
    assert match is not None
    assert match.group(1) == "status=open&amp;_x=1&amp;sort=status"


def test_the_query_is_stored_without_page_export_or_empty_filters(client_for: Any, lead: Any) -> None:
    query = "status=open&page=3&_export=csv&priority=&q=ESC-000001&sort=key&csrfmiddlewaretoken=x"
    client_for(lead).post("/saved-views/", {"name": "Mine", "query": query})
    assert SavedView.objects.get().query == "status=open&q=ESC-000001&sort=key"
    assert list_query("") == ""
    assert list_query("page=2") == ""


def test_names_are_unique_per_user_with_a_clear_message(client_for: Any, lead: Any, moderator: Any) -> None:
    client = client_for(lead)
    client.post("/saved-views/", {"name": "Overdue", "query": "deadline_state=overdue"})
    response = client.post("/saved-views/", {"name": "  overdue ", "query": "status=open"})
    assert response.status_code == 302
    assert messages_of(response)[-1] == (
        'You already have a saved view named "overdue". Choose another name, or delete that one first.'
    )
    assert SavedView.objects.filter(user=lead).count() == 1
    assert SavedView.objects.get(user=lead).query == "deadline_state=overdue"
    # Someone else may use the same name.
    client_for(moderator).post("/saved-views/", {"name": "Overdue", "query": "status=open"})
    assert SavedView.objects.filter(user=moderator, name="Overdue").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "query": "status=open"}, "Name the view to save it."),
        ({"name": "   ", "query": "status=open"}, "Name the view to save it."),
        ({"query": "status=open"}, "Name the view to save it."),
        ({"name": "x" * 81, "query": ""}, "Keep the view's name to 80 characters."),
        ({"name": "Long", "query": "q=" + "a" * 2100}, "These filters are too long to save (over 2000 characters)."),
    ],
)
def test_bad_input_is_refused_with_a_message(data: dict[str, str], message: str, client_for: Any, lead: Any) -> None:
    response = client_for(lead).post("/saved-views/", data)
    assert response.status_code == 302
    assert messages_of(response) == [message]
    assert SavedView.objects.count() == 0


def test_each_user_sees_only_their_own_views(client_for: Any, lead: Any, moderator: Any) -> None:
    SavedView.objects.create(user=lead, name="Lead's view", query="status=open")
    SavedView.objects.create(user=moderator, name="Moderator's view", query="status=reported")
    html = client_for(moderator).get("/escalations/").content.decode()
    assert "Moderator&#x27;s view" in html
    assert "Lead&#x27;s view" not in html


def test_a_view_name_is_escaped(client_for: Any, lead: Any) -> None:
    client = client_for(lead)
    client.post("/saved-views/", {"name": "<script>alert(1)</script>", "query": 'q="><img src=x>'})
    html = client.get("/escalations/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x>" not in html


def test_delete_own_view(client_for: Any, lead: Any) -> None:
    saved = SavedView.objects.create(user=lead, name="Old", query="status=open")
    client = client_for(lead)
    assert f'action="/saved-views/{saved.pk}/delete/"' in client.get("/escalations/").content.decode()
    response = client.post(f"/saved-views/{saved.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/escalations/"
    assert messages_of(response) == ['Saved view "Old" deleted.']
    assert not SavedView.objects.exists()


def test_someone_elses_view_cannot_be_deleted(client_for: Any, lead: Any, moderator: Any) -> None:
    saved = SavedView.objects.create(user=lead, name="Lead's", query="status=open")
    assert client_for(moderator).post(f"/saved-views/{saved.pk}/delete/").status_code == 404
    assert client_for(moderator).post("/saved-views/999999/delete/").status_code == 404
    assert client_for(moderator).post("/saved-views/" + "9" * 30 + "/delete/").status_code == 404
    assert SavedView.objects.filter(pk=saved.pk).exists()


def test_get_is_not_allowed_and_nobody_is_refused(client_for: Any, lead: Any, nobody: Any) -> None:
    saved = SavedView.objects.create(user=lead, name="Mine", query="")
    assert client_for(lead).get("/saved-views/").status_code == 405
    assert client_for(lead).get(f"/saved-views/{saved.pk}/delete/").status_code == 405
    assert client_for(nobody).post("/saved-views/", {"name": "x", "query": ""}).status_code == 403
    anonymous = client_for(None).post("/saved-views/", {"name": "x", "query": ""})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert SavedView.objects.count() == 1


def _csrf_client(user: Any) -> FormClient:
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _token(html: str, action: str) -> str:
    form = html[html.index(f'action="{action}"') :]
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert match
    return match.group(1)


def test_save_and_delete_need_the_csrf_token(lead: Any) -> None:
    client = _csrf_client(lead)
    assert client.post("/saved-views/", {"name": "A", "query": ""}).status_code == 403
    assert not SavedView.objects.exists()
    html = client.get("/escalations/").content.decode()
    token = _token(html, "/saved-views/")
    assert client.post("/saved-views/", {"name": "A", "query": "", "csrfmiddlewaretoken": token}).status_code == 302
    saved = SavedView.objects.get()

    assert client.post(f"/saved-views/{saved.pk}/delete/").status_code == 403
    assert SavedView.objects.exists()
    html = client.get("/escalations/").content.decode()
    token = _token(html, f"/saved-views/{saved.pk}/delete/")
    assert client.post(f"/saved-views/{saved.pk}/delete/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert not SavedView.objects.exists()
