"""Signing out: Django's LogoutView signs out on POST only, so that a link or an image on another
site cannot sign anyone out. A typed or bookmarked /accounts/logout/ gets a page with the Sign out
button instead of a bare "405 Method Not Allowed"."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator


# Open to the signed out too: sent to sign in only to be asked to sign out would make no sense.
@method_decorator(login_not_required, name="dispatch")
class SignOutView(auth_views.LogoutView):
    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return render(request, "registration/logout_confirm.html")
