"""Password sign-in as Django's ModelBackend does it, with the user read for each request in the
query that also reads what every page needs about them (request_context)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from escalations.accounts import request_context


class PersonBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any | None:
        user = request_context.read_user(user_id)
        # As ModelBackend: an inactive user's session ends at their next request.
        return user if user is not None and self.user_can_authenticate(user) else None
