"""Every page a person can open, with the roles that may open it: one registry for the accessibility
run (test_accessibility.py) and the screenshots (test_screenshots.py).

test_pages_registry.py checks that the registry names every named URL pattern of the app that renders
an HTML page, so a new page can't be forgotten; NOT_PAGES says, with a reason each, which named
patterns are not pages.

The demo data of `seeddemo` has no legal request, evidence item, token, saved view or release, and
the escalations' ids depend on its history. SETUP (run with `manage.py shell -c` before the server
starts) adds those, as a lead would through the services, picks a demo escalation in the state where
each action form applies, and writes their ids to a JSON file that `reverse()` fills the paths from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.urls import reverse
from playwright.sync_api import Browser, BrowserContext
from playwright.sync_api import Page as BrowserPage

MODERATOR, LEAD, AUDITOR = "moderator", "lead", "auditor"
ROLES = (MODERATOR, LEAD, AUDITOR)
# The sign-in pages are seen before anyone has a role.
SIGNED_OUT = "signed-out"
PASSWORDS = {MODERATOR: "moderator-demo-pass", LEAD: "lead-demo-pass", AUDITOR: "auditor-demo-pass"}

EVERYONE = frozenset(ROLES)
WRITERS = frozenset({MODERATOR, LEAD})
READERS = frozenset({LEAD, AUDITOR})  # leads and auditors: dashboard, exports, legal requests, access log
LEADS = frozenset({LEAD})
NOBODY_SIGNED_IN = frozenset({SIGNED_OUT})

# A username that the tests lock out with wrong passwords (django-axes), to open the locked-out page.
LOCKED_USERNAME = "locked-demo"


@dataclass(frozen=True)
class Page:
    slug: str  # file names of the screenshots
    title: str  # what the screenshot index calls it
    url_name: str
    roles: frozenset[str]
    args: tuple[str, ...] = ()  # keys of the ids SETUP writes, in the URL pattern's order
    query: str = ""
    status: int = 200  # what GET answers; the 404 page answers 404
    # Not a GET: the page is what the sign-in form answers when this username is submitted (with a
    # wrong password, until django-axes locks it).
    sign_in_as: str = ""
    # A selector to wait for before the page counts as shown (pages drawn by script).
    ready: str = ""

    def path(self, ids: dict[str, Any]) -> str:
        url = reverse(self.url_name, args=[ids[key] for key in self.args])
        if not self.query:
            return url
        today = datetime.now(UTC).date()
        return f"{url}?" + self.query.format(start=today - timedelta(days=30), end=today)

    def shown_path(self, ids: dict[str, Any]) -> str:
        """The address for people to read: dates as YYYY-MM-DD, the locked-out page explained."""
        if self.sign_in_as:
            return f"{reverse(self.url_name)} (a locked username)"
        url = reverse(self.url_name, args=[ids[key] for key in self.args])
        return f"{url}?" + self.query.format(start="YYYY-MM-DD", end="YYYY-MM-DD") if self.query else url


PAGES: tuple[Page, ...] = (
    Page("sign-in", "Sign in", "login", NOBODY_SIGNED_IN),
    Page(
        "locked-out",
        "Sign-in locked (after five failed attempts)",
        "login",
        NOBODY_SIGNED_IN,
        status=429,
        # Not a URL of its own: what the sign-in form answers for a locked username (django-axes).
        sign_in_as=LOCKED_USERNAME,
    ),
    # GET /accounts/logout/ asks before signing out (the header's button posts at once).
    Page("sign-out", "Sign out", "logout", EVERYONE | NOBODY_SIGNED_IN),
    Page("my-queue", "My queue", "escalations:mine", EVERYONE),
    Page("all-escalations", "All escalations", "escalations:list", EVERYONE),
    Page(
        "all-escalations-filtered",
        "All escalations, filtered (open, urgent)",
        "escalations:list",
        EVERYONE,
        query="status=open&priority=urgent",
    ),
    Page("new-escalation", "Log an escalation", "escalations:create", WRITERS),
    Page("escalation-open", "Escalation, open", "escalations:detail", EVERYONE, args=("open",)),
    Page(
        "escalation-reported",
        "Escalation, reported, with a legal request, evidence and a destination",
        "escalations:detail",
        EVERYONE,
        args=("rich",),
    ),
    Page(
        "escalation-from-coop", "Escalation, created by Coop's report", "escalations:detail", EVERYONE, args=("coop",)
    ),
    Page(
        "confirm-knowledge",
        "Confirm when knowledge was obtained (Coop)",
        "escalations:knowledge",
        WRITERS,
        args=("coop",),
    ),
    Page("edit", "Edit an escalation", "escalations:edit", WRITERS, args=("open",)),
    Page("record-report", "Record the CyberTipline report", "escalations:report", WRITERS, args=("open",)),
    Page("preservation", "Confirm preservation", "escalations:preservation", WRITERS, args=("unconfirmed",)),
    Page("evidence", "Record an evidence item", "escalations:evidence", WRITERS, args=("rich",)),
    Page("destinations", "Report to a destination", "escalations:destinations", WRITERS, args=("rich",)),
    Page("authority-triage", "Which authorities apply", "escalations:authority_triage", WRITERS, args=("rich",)),
    Page(
        "authority-acknowledge",
        "An authority acknowledged a filing",
        "escalations:authority_acknowledge",
        WRITERS,
        args=("rich",),
    ),
    Page("assign", "Assign", "escalations:assign", LEADS, args=("open",)),
    Page("dismiss", "Dismiss", "escalations:dismiss", LEADS, args=("open",)),
    Page("breach", "Amend breach reason", "escalations:breach", LEADS, args=("late",)),
    Page("correct-report", "Correct the report", "escalations:correct_report", WRITERS, args=("late",)),
    Page("extend", "Extend preservation", "escalations:extend", LEADS, args=("rich",)),
    Page("request-release", "Request release", "escalations:release", LEADS, args=("ended",)),
    Page("approve-release", "Approve release", "escalations:release_approve", LEADS, args=("release_requested",)),
    Page("close", "Close", "escalations:close", LEADS, args=("release_requested",)),
    Page("reopen", "Reopen", "escalations:reopen", LEADS, args=("dismissed",)),
    Page("request-redaction", "Request a redaction", "escalations:redact", LEADS, args=("rich",)),
    Page("evidence-pack", "Evidence pack (printable)", "escalations:evidence_pack", READERS, args=("rich",)),
    Page("dashboard", "Compliance dashboard", "dashboard", READERS),
    Page("compliance-report", "Compliance report", "compliance_report", READERS, query="start={start}&end={end}"),
    Page("legal-requests", "Legal requests", "legal_requests", READERS),
    Page("legal-request-new", "Record a legal request", "legal_request_new", LEADS),
    Page("legal-request", "Legal request", "legal_request_detail", READERS, args=("legal",)),
    Page("access-log", "Access log", "access_log", READERS),
    Page("security-events", "Security events", "security_events", READERS),
    Page("tokens", "Service tokens", "tokens", LEADS),
    Page("team-channels", "Team channels (Slack, Teams, PagerDuty)", "team_channels", LEADS),
    Page("locked-accounts", "Locked sign-ins (leads unlock)", "locked_accounts", LEADS),
    Page("notifications", "Notifications", "notifications", EVERYONE),
    Page("profile", "Your profile", "profile", EVERYONE),
    Page("two-factor", "Two-factor sign-in", "two_factor:profile", EVERYONE),
    Page("two-factor-setup", "Set up two-factor sign-in", "two_factor:setup", EVERYONE),
    # What the set-up page asks first when the sign-in was more than a few minutes ago.
    Page(
        "confirm-password",
        "Confirm your password (before adding an authenticator)",
        "confirm_password",
        EVERYONE,
        query="next=/accounts/two-factor/setup/",
    ),
    Page("password-change", "Change your password", "password_change", EVERYONE),
    Page("rules", "Rules: in force, pending and past", "rules", EVERYONE),
    Page("rule-pending", "A pending rule, and what it would change", "rule_detail", EVERYONE, args=("rule_pending",)),
    Page("reevaluate", "Re-evaluate under the current rules", "escalations:reevaluate", LEADS, args=("open",)),
    Page("help", "Help", "help", EVERYONE),
    Page("api-docs", "API documentation", "api-docs", EVERYONE, ready=".swagger-ui .information-container"),
    Page("not-found", "Not found (404)", "escalations:detail", EVERYONE, args=("missing",), status=404),
)

# The 403 page: what a role sees on any page it may not open. Checked once per role (with the first
# page of PAGES the role may not open), not once per page: it is the same page each time.
FORBIDDEN = "forbidden"

# Named URL patterns that are not pages a person opens, each with the reason. Namespaces left out
# whole: "admin" (Django's own admin, for staff; not our templates) and "api" (the JSON API).
NOT_PAGES: dict[str, str] = {
    "oidc_authentication_init": "a redirect to the identity provider (tests/browser/test_oidc_browser.py)",
    "oidc_authentication_callback": "the identity provider's redirect back, which signs in and redirects",
    "profile_test_channel": "POST only (the profile's test-notification buttons)",
    "profile_webhook_secret": "POST only (the profile's new-signing-secret button)",
    "notifications_read_all": "POST only",
    "notifications_unread": "JSON: the bell's unread count, which static/js/live.js fetches",
    "notification_read": "POST only",
    "notification_open": "POST only (redirects to the escalation)",
    "healthz": "plain-text health check for monitors, no page",
    "metrics": "Prometheus text for scrapers (token or allowed address), no page",
    "token_revoke": "POST only",
    "api-schema": "the OpenAPI schema (YAML/JSON), read by /api/docs/",
    "saved_views": "POST only (Save view on All escalations)",
    "saved_view_delete": "POST only",
    "escalations:bulk": "POST only (bulk assign, export selected: a CSV)",
    "escalations:audit_csv": "CSV download",
    "compliance_evidence_pack": "signed JSON download (the compliance report's button)",
    "escalations:take": "POST only (Take it, on an escalation's page and in the lists)",
    # SCIM 2.0 (JSON for identity providers, bearer token): tests/accounts/test_scim.py.
    "scim-users": "SCIM JSON for identity providers",
    "scim-user": "SCIM JSON for identity providers",
    "scim-groups": "SCIM JSON for identity providers",
    "scim-group": "SCIM JSON for identity providers",
    "scim-resource-types": "SCIM JSON for identity providers",
    "scim-schemas": "SCIM JSON for identity providers",
    "scim-service-provider-config": "SCIM JSON for identity providers",
    "profile_add_channel": "POST only (the profile's Add a channel form)",
    "channel_remove": "POST only",
    "channel_test": "POST only (Send a test, on the profile and the team channels page)",
    "acknowledge": "POST only (Acknowledge, on an escalation's page)",
    # Its address carries a signed token made for one delivery of one message:
    # tests/web/test_acknowledge_and_team_channels.py opens it.
    "acknowledge_link": "opened from a signed link in a reminder; the token is made per delivery",
    "coop_preservation": "POST only: Coop's signed server-to-server call (tests/integrations/)",
    "legal_request_respond": "POST target of a form on the legal request's page; GET redirects there",
    "legal_request_close": "POST target of a form on the legal request's page; GET redirects there",
    "two_factor:qr": "the QR code image of the set-up step, not a page",
    "redaction_approve": "POST only (the redaction's page)",
    "redaction_refuse": "POST only (the redaction's page)",
    # For admins (Django staff), and no demo account is one: tests/core/test_redaction.py opens them.
    "redactions": "admins only: no demo account is an admin",
    "redaction_detail": "admins only: no demo account is an admin",
    "rule_new_version": "admins only: no demo account is an admin (tests/web/test_rules_pages.py opens it)",
    # Not covered yet: these open only for someone with an authenticator (a confirmed TOTP device),
    # which no demo account has; the registry would need a demo device and the code step at sign-in.
    "two_factor_verify": "the code step after the password: needs an authenticator",
    "two_factor:setup_complete": "after set-up, for a verified person: needs an authenticator",
    "two_factor:backup_tokens": "needs an authenticator and a verified sign-in",
    "two_factor:disable": "needs an authenticator",
}
EXCLUDED_NAMESPACES = ("admin", "api")

# Run with `manage.py shell -c` after migrate and seeddemo; ids_setup() puts IDS_PATH first.
SETUP = """
import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from escalations.accounts import tokens
from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import Destination
from escalations.models import Escalation, SavedView, Status

User = get_user_model()
lead = User.objects.get(username="lead")
moderator = User.objects.get(username="moderator")
now = timezone.now()
real = Escalation.objects.filter(is_test=False)

# The moderator's open escalation with the nearest target: edit, record report, assign, dismiss.
open_esc = real.filter(status=Status.OPEN, assignee=moderator).order_by("report_due_at").first()
reported = real.filter(status=Status.REPORTED).order_by("-reported_at")
unconfirmed = reported.filter(preservation_confirmed_at__isnull=True).first()
late = reported.filter(reported_on_time=False).exclude(breach_reason="").first()
dismissed = real.filter(status=Status.DISMISSED).order_by("-pk").first()
ended = list(real.filter(status=Status.REPORTED, preserve_until__lt=now).order_by("preserve_until")[:2])
# A reported, preserved escalation whose preservation runs on: a 2703(f) request, evidence, a destination.
rich = (
    reported.filter(preservation_confirmed_at__isnull=False, preserve_until__gt=now + timedelta(days=60))
    .exclude(pk__in=[e.pk for e in ended])
    .first()
)
legal = legal_services.create_legal_request(
    actor=lead,
    data={
        "kind": "2703f_preservation",
        "agency": "Springfield Police Department, Internet Crimes Against Children unit",
        "reference": "SPD-2026-0412",
        "received_at": now - timedelta(days=3),
        "response_due_at": now + timedelta(days=11),
        "escalations": [rich.pk],
        "notes": "Preserve the account's records pending a search warrant.",
    },
)
rich.refresh_from_db()
legal_services.add_evidence_item(
    actor=moderator, escalation_id=rich.pk, version=rich.version,
    reference=f"evidence-store://holds/{rich.pk:06d}/1", hash_algorithm="sha256",
    digest="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", size_bytes=482113,
)
rich.refresh_from_db()
legal_services.report_to_destination(
    actor=moderator, escalation_id=rich.pk, version=rich.version,
    destination_id=Destination.objects.get(code="c3p").pk,
    reported_at=rich.reported_at + timedelta(hours=2), report_id="C3P-771204",
)
# Its triage: Canada (the Centre's report filed above, police still due) and the UK (the NCA due).
from escalations.legal import authority_services
rich.refresh_from_db()
authority_services.answer_triage(
    actor=moderator, escalation_id=rich.pk, version=rich.version,
    answers={"uk_linked": True, "canada_connection": True, "australian_end_users": False},
)
requested = legal_services.request_release(
    actor=lead, escalation_id=ended[1].pk, version=ended[1].version,
    reason="Preservation year ended; no legal request; counsel agrees to release.",
)
tokens.create_token(actor=lead, name="moderation-pipeline", scope="write", expires_at=now + timedelta(days=90))
SavedView.objects.create(user=lead, name="Urgent, still open", query="status=open&priority=urgent")
# Coop filed a report for an account nobody logged: an escalation whose knowledge time is unconfirmed.
from escalations.integrations.coop_payload import Item, PreservationRequest
from escalations.integrations.coop_service import record_coop_report
coop = record_coop_report(
    request=PreservationRequest(
        report_id="77001234567", user=Item("acct-900417", "user"), media=(Item("media-55120", "image"),)
    ),
    key_fingerprint="0" * 64,
).receipt.escalation


ids = {
    "open": open_esc.pk, "unconfirmed": unconfirmed.pk, "late": late.pk, "dismissed": dismissed.pk,
    "ended": ended[0].pk, "release_requested": requested.pk, "rich": rich.pk, "legal": legal.pk, "coop": coop.pk,
    "missing": Escalation.objects.order_by("-pk").first().pk + 1000,
    # A rule's code, not an id: the pending rule whose page shows leads what it would change.
    "rule_pending": "us-stop-csam-60-days",
}
with open(IDS_PATH, "w") as out:
    json.dump(ids, out)
"""


def ids_setup(ids_path: Path) -> list[str]:
    """The `manage.py` command that prepares the demo data for PAGES and writes their ids."""
    return ["shell", "-c", f"IDS_PATH = {str(ids_path)!r}\n" + SETUP]


def read_ids(ids_path: Path) -> dict[str, Any]:
    """Ids as numbers; a rule's code (a slug) as it is."""
    return {
        key: value if isinstance(value, str) and not value.isdigit() else int(value)
        for key, value in json.loads(ids_path.read_text()).items()
    }


def pages_for(role: str) -> list[Page]:
    return [page for page in PAGES if role in page.roles]


def forbidden_page_for(role: str) -> Page | None:
    """The first page the role may not open (it gets the 403 page there), or None for a role that may
    open every page a signed-in person can."""
    for page in PAGES:
        if SIGNED_OUT not in page.roles and role not in page.roles:
            return page
    return None


# --- opening the pages in Chromium ----------------------------------------------------------------

# More wrong passwords than django-axes allows (AXES_FAILURE_LIMIT, 5 by default) before it locks.
MAX_SIGN_IN_TRIES = 8


def open_page(tab: BrowserPage, base_url: str, page: Page, ids: dict[str, int]) -> int:
    """Show `page` in `tab` (signed in as whoever the tab's context is) and return the HTTP status."""
    if page.sign_in_as:
        status = 0
        for _ in range(MAX_SIGN_IN_TRIES):
            tab.goto(base_url + reverse("login"))
            tab.fill("input[name=username]", page.sign_in_as)
            tab.fill("input[name=password]", "not-the-password")
            with tab.expect_response(lambda r: r.request.method == "POST") as answer:
                tab.click("button[type=submit]")
            tab.wait_for_load_state()
            status = answer.value.status
            if status == page.status:
                break
        return status
    response = tab.goto(base_url + page.path(ids))
    assert response is not None
    if page.ready:
        tab.wait_for_selector(page.ready)
    return response.status


def signed_in_context(
    browser: Browser, base_url: str, role: str, viewport: dict[str, int], **options: Any
) -> BrowserContext:
    """A new browser context signed in as the demo account of `role` (none for SIGNED_OUT)."""
    context = browser.new_context(viewport=viewport, timezone_id="UTC", locale="en-US", **options)  # type: ignore[arg-type]
    if role != SIGNED_OUT:
        tab = context.new_page()
        tab.goto(base_url + reverse("login"))
        tab.fill("input[name=username]", role)
        tab.fill("input[name=password]", PASSWORDS[role])
        with tab.expect_navigation():
            tab.click("button[type=submit]")
        assert reverse("login") not in tab.url, f"{role} could not sign in: {tab.inner_text('main')[:300]}"
        tab.close()
    return context
