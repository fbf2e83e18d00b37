#!/usr/bin/env python
"""Run scim2-tester's compliance checks against our /scim/v2/ and print its summary:

    scim2-tester: checks=N passed=P failed=0 skipped=S not_applicable=A

The app is the whole Django WSGI application (every middleware, the URL table, the bearer token
check), called in this process through scim2-client's WSGI engine: a fresh SQLite database in a
temporary folder, migrated, with a SCIM token made for the run. Each failed check is printed with
its reason. Checks listed in NOT_APPLICABLE test what we do not serve on purpose (docs/deploy.md,
"Provisioning (SCIM)", says why); they are counted apart and never hide a failure of anything else.

Exits 1 when any check that applies failed. tests/accounts/test_scim_compliance.py runs the same
checks (run_checks) inside the test suite.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Checks that test what we refuse on purpose: (check title, resource type, the start of the reason it
# gives) and why. Matched on all three, so that no other failure of the same check is hidden.
NOT_APPLICABLE: dict[tuple[str, str, str], str] = {
    ("check_remove_attribute", "User", "Failed to remove attribute 'active'"): (
        "An account is active or not; a provider deactivates it with active=false (or a DELETE). "
        "Removing the attribute would leave the account's state unsaid, so it is refused (400 mutability)."
    ),
}


def not_applicable(result: Any) -> bool:
    return any(
        result.title == title and result.resource_type == kind and str(result.reason or "").startswith(reason)
        for title, kind, reason in NOT_APPLICABLE
    )


def run_checks(app: Any, token: str, base_url: str = "http://localhost/scim/v2") -> list[Any]:
    """scim2-tester's checks against `app` (a WSGI application), as a provider would call it."""
    from scim2_client.engines.wsgi import WSGISCIMClient
    from scim2_tester import check_server

    client = WSGISCIMClient(app, base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    return check_server(client)


def failures(results: list[Any]) -> list[Any]:
    from scim2_tester import Status

    bad = {Status.ERROR, Status.CRITICAL}
    return [r for r in results if r.status in bad and not not_applicable(r)]


def summary(results: list[Any]) -> str:
    from scim2_tester import Status

    counts = Counter(r.status for r in results)
    refused_on_purpose = sum(1 for r in results if r.status in {Status.ERROR, Status.CRITICAL} and not_applicable(r))
    passed = sum(counts[s] for s in (Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.DEVIATION))
    return (
        f"scim2-tester: checks={len(results)} passed={passed} failed={len(failures(results))} "
        f"skipped={counts[Status.SKIPPED]} not_applicable={refused_on_purpose} deviations={counts[Status.DEVIATION]}"
    )


def describe(result: Any) -> str:
    where = f" [{result.resource_type}]" if result.resource_type else ""
    return f"  {result.status.name:<10} {result.title}{where}: {result.reason}"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    folder = tempfile.mkdtemp(prefix="scim-compliance-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/db.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.test")
    import django

    django.setup()
    import logging

    # The checks make many 404s and 400s on purpose; their log lines would bury the summary.
    logging.disable(logging.WARNING)
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    from escalations.accounts import scim_tokens

    call_command("migrate", verbosity=0)
    _, raw = scim_tokens.create_token(actor=None, name="scim2-tester")
    results = run_checks(get_wsgi_application(), raw)
    from scim2_tester import Status

    for result in results:
        if result.status in {Status.ERROR, Status.CRITICAL, Status.DEVIATION}:
            marker = " (not applicable)" if not_applicable(result) else ""
            print(describe(result) + marker)
    print(summary(results))
    return 1 if failures(results) else 0


if __name__ == "__main__":
    sys.exit(main())
