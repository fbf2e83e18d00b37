"""scim2-tester's compliance checks against our /scim/v2/ (the whole Django application, every
middleware included), as scripts/scim_compliance.py runs them in CI: no failure of a check that applies
to what we serve. The checks refused on purpose are listed, with why, in that script and in
docs/deploy.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from escalations.accounts import scim_tokens

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scim_compliance.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("scim_compliance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """The WSGI handler closes the database connection after each request, which would end the test's
    transaction on PostgreSQL; Django's own test client keeps it open the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_scim2_tester_finds_no_failure_that_applies(db: Any) -> None:
    script = _script()
    _, raw = scim_tokens.create_token(actor=None, name="scim2-tester")
    results = script.run_checks(get_wsgi_application(), raw)
    assert [script.describe(r) for r in script.failures(results)] == []
    # The checks ran on Users and Groups, not only discovery.
    assert {r.resource_type for r in results} >= {"User", "Group"}
    assert len(results) >= 60
    print(script.summary(results))


def test_a_wrong_token_fails_every_check(db: Any) -> None:
    script = _script()
    results = script.run_checks(get_wsgi_application(), "escscim_not-a-real-token")
    assert script.failures(results)
