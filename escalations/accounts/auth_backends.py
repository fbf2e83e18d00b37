"""Password sign-in as Django's ModelBackend does it, with the user read for each request in the
query that also reads what every page needs about them (request_context). With PASSWORD_SIGN_IN off,
only break-glass accounts get as far as a password check (escalations.accounts.password_sign_in)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from escalations.accounts import password_sign_in, request_context
from escalations.core.people import User


class PersonBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if settings.PASSWORD_SIGN_IN:
            return super().authenticate(request, username=username, password=password, **kwargs)
        model = get_user_model()
        if username is None:
            username = kwargs.get(model.USERNAME_FIELD)
        user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first() if username else None
        if user is None or not password_sign_in.is_break_glass(user):
            # Hash the password anyway, as ModelBackend does for an unknown username: the answer takes
            # as long whether or not the account exists, and says nothing about the password.
            model().set_password(password)
            password_sign_in.note_refused(request)
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any) -> User | None:
        user = request_context.read_user(user_id)
        # As ModelBackend: an inactive user's session ends at their next request.
        return user if user is not None and self.user_can_authenticate(user) else None
