"""Each request's user is read with their roles and time zone in one query
(escalations.accounts.auth_backends.PersonBackend, escalations/request_context.py). What Django's own backend
guarantees must still hold: the user is the real, saveable row; a user deactivated, deleted or whose
password changed is signed out at their next request; a role taken away counts from the next one."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.db.models import ProtectedError
from django.utils import timezone

from escalations.accounts import request_context
from escalations.models import Notification, UserProfile
from tests.conftest import FormClient

PAGE = "/escalations/mine/"
BACKEND = "escalations.accounts.auth_backends.PersonBackend"


def _signed_in(user: Any) -> FormClient:
    client = FormClient()
    client.force_login(user)
    assert client.session[BACKEND_SESSION_KEY] == BACKEND
    assert client.get(PAGE).status_code == 200
    return client


def _sent_to_sign_in(client: FormClient) -> bool:
    response = client.get(PAGE)
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_user_read_is_the_whole_row_and_saves_as_an_update(moderator: Any) -> None:
    moderator.email = "mod@example.org"
    moderator.first_name = "Mo"
    moderator.save()
    user = request_context.read_user(moderator.pk)
    assert user is not None
    stored = get_user_model().objects.get(pk=moderator.pk)
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(stored, field.attname), field.name
    assert not user._state.adding
    user.last_name = "Derator"
    user.save()
    assert get_user_model().objects.count() == 1
    assert get_user_model().objects.get(pk=moderator.pk).last_name == "Derator"


def test_facts_come_with_the_user(moderator: Any, make_user: Any) -> None:
    moderator.groups.add(Group.objects.get(name="lead"))
    UserProfile.objects.update_or_create(user=moderator, defaults={"time_zone": "Europe/Paris"})
    Notification.objects.create(user=moderator, title="One", created_at=timezone.now())
    Notification.objects.create(user=moderator, title="Two", created_at=timezone.now())
    Notification.objects.create(user=make_user("other", "moderator"), title="Not theirs", created_at=timezone.now())
    user = request_context.read_user(moderator.pk)
    assert user is not None
    facts = request_context.read(user)  # no second query: read with the user
    assert (facts.time_zone, facts.unread_notifications) == ("Europe/Paris", 2)
    assert user._escalation_roles == frozenset({"moderator", "lead"})


def test_a_user_without_group_or_profile_is_read(nobody: Any) -> None:
    user = request_context.read_user(nobody.pk)
    assert user is not None and user.username == "nogroup"
    assert request_context.read(user) == request_context.PersonFacts(None, 0, None)
    assert user._escalation_roles == frozenset()


def test_an_unknown_id_reads_nobody(db: Any) -> None:
    assert request_context.read_user(987654) is None


def test_a_deactivated_user_is_signed_out_at_the_next_request(moderator: Any) -> None:
    client = _signed_in(moderator)
    get_user_model().objects.filter(pk=moderator.pk).update(is_active=False)
    assert _sent_to_sign_in(client)


def _session_without_a_sign_in(user: Any) -> FormClient:
    """A live session of `user` that no sign-in of this app wrote (one from before sign-ins were
    audit events): signing in now names the person in the audit trail, which keeps them."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), BACKEND
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    client = FormClient()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    assert client.get(PAGE).status_code == 200
    return client


def test_a_deleted_user_is_signed_out_at_the_next_request(moderator: Any) -> None:
    client = _session_without_a_sign_in(moderator)
    get_user_model().objects.filter(pk=moderator.pk).delete()
    assert _sent_to_sign_in(client)


def test_someone_who_signed_in_is_kept_for_the_audit_trail(moderator: Any) -> None:
    """Their sign-in is an audit event naming them: they are deactivated, never deleted."""
    _signed_in(moderator)
    with pytest.raises(ProtectedError):
        get_user_model().objects.filter(pk=moderator.pk).delete()


def test_a_password_changed_elsewhere_signs_the_session_out(moderator: Any) -> None:
    client = _signed_in(moderator)
    moderator.set_password("a-new-and-different-passphrase")
    moderator.save()
    assert _sent_to_sign_in(client)


def test_a_role_taken_away_counts_from_the_next_request(lead: Any) -> None:
    client = _signed_in(lead)
    assert client.get("/dashboard/").status_code == 200
    lead.groups.clear()
    assert client.get("/dashboard/").status_code == 403


def test_a_session_of_djangos_own_backend_asks_to_sign_in_again(moderator: Any) -> None:
    """Sessions begun before PersonBackend name Django's ModelBackend, no longer listed: their
    holders sign in again (once), they do not get an error page."""
    client = FormClient()
    client.force_login(moderator, backend="django.contrib.auth.backends.ModelBackend")
    assert _sent_to_sign_in(client)
