"""scim2-tester's compliance checks against our /scim/v2/ (the whole Django application, every
middleware included), as scripts/scim_compliance.py runs them in CI: no failure of a check that applies
to what we serve. The checks refused on purpose are listed, with why, in that script and in
docs/deploy.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from django.core.wsgi import get_wsgi_application

from escalations.accounts import scim_tokens

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scim_compliance.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("scim_compliance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
