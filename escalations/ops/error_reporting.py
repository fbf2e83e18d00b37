"""Error reports to Sentry, only when SENTRY_DSN is set, with case data kept out.

Two layers. sentry-sdk is told to collect nothing about people or requests (its `data_collection`
option, which replaced `send_default_pii` in sentry-sdk 3): no user identity, cookies, headers,
bodies, query strings, SQL parameters or stack-frame variables. Then `scrub` runs on every event
before it leaves, and removes what an integration might still have attached: the request's body,
query string, cookies and headers (the path stays), the user's name and email (the id stays), the
data of breadcrumbs, and any frame variables. What remains is the exception, its stack, the path,
the request and task ids, and the user's id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Every category sentry-sdk 3 collects, turned off (or to nothing).
DATA_COLLECTION: dict[str, Any] = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "off"}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
    "gen_ai": {"inputs": False, "outputs": False},
    "mcp": {"inputs": False, "outputs": False},
    "graphql": {"document": False, "variables": False},
}
_REQUEST_KEEP = ("method", "url")
_USER_KEEP = ("id",)


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove case data and personal data from a Sentry event (before_send); returns the event."""
    request = event.get("request")
    if isinstance(request, dict):
        kept = {key: request[key] for key in _REQUEST_KEEP if key in request}
        if "url" in kept:
            kept["url"] = urlunsplit(urlsplit(str(kept["url"]))._replace(query="", fragment=""))
        event["request"] = kept
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {key: user[key] for key in _USER_KEEP if key in user}
    breadcrumbs = event.get("breadcrumbs")
    values = breadcrumbs.get("values", []) if isinstance(breadcrumbs, dict) else breadcrumbs or []
    for crumb in values:
        if isinstance(crumb, dict):
            crumb.pop("data", None)
    for exception in (event.get("exception") or {}).get("values", []) or []:
        for frame in (exception.get("stacktrace") or {}).get("frames", []) or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values", []) or []:
        for frame in (thread.get("stacktrace") or {}).get("frames", []) or []:
            frame.pop("vars", None)
    event.pop("extra", None)
    return event


def init(dsn: str, *, environment: str, release: str | None = None, transport: Any = None) -> None:
    """Start sentry-sdk with the Django, Celery and logging integrations it enables by itself.
    `transport` replaces the network (tests pass a fake one)."""
    import sentry_sdk

    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "release": release,
        "data_collection": DATA_COLLECTION,
        "before_send": scrub,
        "max_request_body_size": "never",
        # Errors only: no performance traces, which would carry every query's text.
        "traces_sample_rate": 0.0,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
