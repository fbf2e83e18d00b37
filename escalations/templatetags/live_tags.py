"""The pages that refresh themselves (static/js/live.js): the script tag, from our own origin with
its settings as data attributes (the CSP allows no inline script), and whether this request is such
a refresh (it then leaves the one-time messages for the next page the person opens)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# The header live.js sends with its background fetch of the page.
REFRESH_HEADER = "X-Live-Refresh"


@register.simple_tag
def live_script() -> SafeString:
    return format_html(
        '<script src="{}" defer data-every="{}" data-unread-url="{}"></script>',
        static("js/live.js"),
        int(settings.LIVE_REFRESH_SECONDS),
        reverse("notifications_unread"),
    )


@register.simple_tag(takes_context=True)
def is_live_refresh(context: dict[str, Any]) -> bool:
    request = context.get("request")
    return request is not None and request.headers.get(REFRESH_HEADER) == "1"
