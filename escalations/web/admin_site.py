"""The admin site: Django's, except that every model registered on it, ours and other apps' (people,
groups, teams, profiles, two-factor devices), gets forms whose text refuses file content through
escalations.core.validation, like every other path. Registering here is enough: no ModelAdmin needs to
remember it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse

from escalations.core import validation


def guarded_form(form_class: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """`form_class`, whose clean() also runs every typed text through validation.refuse_file_content.
    Passwords are left alone: they are stored as a hash, never as typed."""

    class Guarded(form_class):  # type: ignore[valid-type,misc]
        def clean(self) -> Any:
            cleaned = super().clean()
            for name, value in list(self.cleaned_data.items()):
                field = self.fields.get(name)
                if not isinstance(value, str) or field is None or isinstance(field.widget, forms.PasswordInput):
                    continue
                try:
                    validation.refuse_file_content(value, str(field.label or name))
                except ValidationError as exc:
                    self.add_error(name, exc)
            return cleaned

    Guarded.__name__ = Guarded.__qualname__ = form_class.__name__
    Guarded.__module__ = form_class.__module__
    return Guarded


class TextGuardMixin:
    """get_form() (add and change forms, the user admin's included) returns a guarded form."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return guarded_form(super().get_form(request, obj, change=change, **kwargs))  # type: ignore[misc]


# What a signed-in person who is not an admin reads at /admin/ (the 403 page links home).
NOT_AN_ADMIN = (
    "The admin is for the people who run the tracker (admins). Everything your role allows is in the "
    "menu above; a lead can lift a sign-in lock at Locked sign-ins."
)


class GuardedAdminSite(admin.AdminSite):
    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        """Someone signed in without the admin's permission gets a 403 page, not the admin's login
        (which sent them to the app's sign-in, which sent them back here: a loop)."""
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied(NOT_AN_ADMIN)
            return inner(request, *args, **kwargs)

        return guarded

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied(NOT_AN_ADMIN)
        return super().login(request, extra_context)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, TextGuardMixin):
            admin_class = type(
                admin_class.__name__, (TextGuardMixin, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)
