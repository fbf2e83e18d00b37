"""Saved views: a person's named sets of filters for All escalations. Each is the list's own query
string (filters and sort, without `page` or `_export`), shown on the list page as a link. Anyone with
a role may save views; each person sees and deletes only their own."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.views.decorators.http import require_POST

from escalations.compliance.exports import EXPORT_PARAM
from escalations.core import validation
from escalations.core.filters import list_url
from escalations.core.permissions import Action, require
from escalations.models import SavedView

# Parameters that are not filters: the page shown, an export, a form's own token.
NOT_FILTERS = ("page", EXPORT_PARAM, "csrfmiddlewaretoken")
NAME_MAX_LENGTH = SavedView._meta.get_field("name").max_length or 80
QUERY_MAX_LENGTH = SavedView._meta.get_field("query").max_length or 2000


def list_query(params: QueryDict | str) -> str:
    """The list's query string with only its filters and sort: no page, no export, no empty values."""
    source = QueryDict(params) if isinstance(params, str) else params
    kept = QueryDict(mutable=True)
    for key, values in source.lists():
        if key in NOT_FILTERS:
            continue
        values = [value for value in values if value.strip()]
        if values:
            kept.setlist(key, values)
    return kept.urlencode()


class SavedViewForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": "Name the view to save it.",
            "max_length": f"Keep the view's name to {NAME_MAX_LENGTH} characters.",
        },
    )
    query = forms.CharField(required=False, strip=False)


def saved_views_of(user: Any) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).only("pk", "name", "query").order_by("name", "pk"))


@require_POST
def create_saved_view(request: HttpRequest) -> HttpResponse:
    """POST name and query: save the filters under that name (unique per person, any case)."""
    user: Any = request.user
    require(user, Action.VIEW)
    form = SavedViewForm(request.POST)
    query = list_query(request.POST.get("query", ""))
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return HttpResponseRedirect(list_url(query))
    name = form.cleaned_data["name"]
    if len(query) > QUERY_MAX_LENGTH:
        messages.error(request, f"These filters are too long to save (over {QUERY_MAX_LENGTH} characters).")
        return HttpResponseRedirect(list_url(""))
    try:
        validation.clean_text(name, "The view's name", required=True, max_length=NAME_MAX_LENGTH)
        validation.refuse_file_content(query, "The saved view's query")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(list_url(""))
    taken = f'You already have a saved view named "{name}". Choose another name, or delete that one first.'
    if SavedView.objects.filter(user=user, name__iexact=name).exists():
        messages.error(request, taken)
        return HttpResponseRedirect(list_url(query))
    try:
        with transaction.atomic():
            SavedView.objects.create(user=user, name=name, query=query)
    except IntegrityError:  # the same name saved twice at the same moment
        messages.error(request, taken)
        return HttpResponseRedirect(list_url(query))
    messages.success(request, f'Saved view "{name}" saved.')
    return HttpResponseRedirect(list_url(query))


@require_POST
def delete_saved_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of your own saved views; someone else's is not found (404)."""
    user: Any = request.user
    require(user, Action.VIEW)
    saved = SavedView.objects.filter(pk=pk, user=user).first()
    if saved is None:
        raise Http404("No saved view of yours with that number.")
    saved.delete()
    messages.success(request, f'Saved view "{saved.name}" deleted.')
    return HttpResponseRedirect(list_url(""))
