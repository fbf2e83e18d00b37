"""At most 15 queries per page, for every page a person can open (the registry
of tests/browser/pages.py, on the demo data) and every role that may open it. tests/performance/test_queries.py
and tests/compliance/test_dashboard.py show that the counts do not grow with the rows; this shows where they stand.

Counted as in production: the statements of one request, leaving out the transaction control that a
test's transaction adds (SAVEPOINT, RELEASE) and that Django logs (BEGIN, COMMIT)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.browser.pages import PAGES, SETUP, SIGNED_OUT, read_ids

# 14: an escalation's page reads the rules and the rule versions it was judged by (two queries,
# whatever their number) to name each deadline's rule and citation; 15: and its authority register
# (one query, whatever it owes; the triage answers come joined to the escalation).
MAX_QUERIES_PER_PAGE = 15
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")


@pytest.fixture
def demo_ids(db: Any, tmp_path: Path) -> dict[str, int]:
    call_command("seeddemo", stdout=StringIO())
    ids_path = tmp_path / "ids.json"
    exec(SETUP, {"IDS_PATH": str(ids_path)})  # noqa: S102 (our own set-up code, shared with the browser tests)
    return read_ids(ids_path)


def _queries(client: Client, path: str) -> tuple[int, int]:
    client.get(path)  # warm up what is cached per process (content types, templates)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]
    return response.status_code, len(statements)


def test_every_page_runs_at_most_15_queries_for_every_role(demo_ids: dict[str, int]) -> None:
    users = get_user_model().objects
    measured: dict[tuple[str, str], int] = {}
    for page in PAGES:
        if page.sign_in_as:
            continue  # an answer to a failed sign-in, not a page one opens
        for role in sorted(page.roles):
            client = Client()
            if role != SIGNED_OUT:
                client.force_login(users.get(username=role))
            status, count = _queries(client, page.path(demo_ids))
            assert status == page.status, (page.slug, role, status)
            measured[(page.slug, role)] = count
            assert count <= MAX_QUERIES_PER_PAGE, (
                f"{page.slug} as {role}: {count} queries, at most {MAX_QUERIES_PER_PAGE}"
            )
    assert len(measured) >= 60  # every page of the registry, for each role that may open it
