"""What every page view shares: the role check that runs before a page, the bounded paginator, and
reading an escalation that the signed-in person may see."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django_tables2 import LazyPaginator

from escalations.core import selectors
from escalations.core.permissions import Action, require
from escalations.models import Escalation
from escalations.web import page_size
from escalations.web.tables import PAGE_SIZE


class BoundedLazyPaginator(LazyPaginator):
    """LazyPaginator that refuses page numbers past any real list: ?page=99999999999999999999 would
    otherwise reach the database as an OFFSET it can't hold (a 500). django-tables2 shows page 1.
    Rows a page: `?per_page=` within escalations.web.page_size's cap (a negative one was a 500, a huge one
    rendered every row); `per_page_capped` tells the table's template to say so."""

    MAX_PAGE = 1_000_000

    def __init__(self, object_list: Any, per_page: int, *args: Any, **kwargs: Any):
        size = page_size.clamp(per_page, PAGE_SIZE)
        self.per_page_capped = size.capped
        super().__init__(object_list, size.rows, *args, **kwargs)

    def validate_number(self, number: Any) -> int:
        number = super().validate_number(number)
        if number > self.MAX_PAGE:
            raise EmptyPage("That page number is too large")
        return int(number)


class RoleRequiredMixin:
    """Refuse (403) before anything else when the user's roles do not allow `action`."""

    action: Action = Action.VIEW

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require(request.user, self.action)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def add_service_errors(form: Form, error: ValidationError) -> None:
    """Put a service's messages on the fields they name, the rest above the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def get_escalation(pk: int, user: Any = None) -> Escalation:
    """The escalation, or 404: also when `user` may not read it (selectors.visible_to), so that a
    restricted moderator learns nothing of others' escalations, not even that they exist."""
    try:
        return selectors.escalation_detail(pk, user)
    except Escalation.DoesNotExist:
        raise Http404("No escalation with that number.") from None
