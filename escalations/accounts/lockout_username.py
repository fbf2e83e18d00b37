"""The username django-axes records for a sign-in attempt and locks on (AXES_USERNAME_CALLABLE).

Anyone, signed in or not, can type anything into the sign-in form's username, and axes keeps it in
its tables (read in the admin). Django's sign-in form does not cut the username to any length, so a
long one failed on PostgreSQL (a 500: the column holds 255 characters), and file content written as
text was kept. Here the username is cut to the longest a real one can be, and one that holds file
content is recorded as a marker instead: no account has such a name, so locking the marker costs
nobody anything.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from escalations.core.encoded_content import find_encoded_content

FILE_CONTENT_MARKER = "(a username that held file content)"
# Django's User.username: no account has a longer one.
USERNAME_MAX_LENGTH = 150


def recorded_username(typed: Any) -> str:
    """A username as anyone may have typed it, as it may be kept: in axes' tables and in every
    security event of the audit trail (escalations.accounts.security_events)."""
    username = str(typed or "")
    if find_encoded_content(username):
        return FILE_CONTENT_MARKER
    return username[:USERNAME_MAX_LENGTH]


def username_for_lockout(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")  # axes' default, set in its own conf
    typed = credentials.get(field) if credentials else getattr(request, "data", request.POST).get(field)
    return recorded_username(typed)
