"""The rules pages as people use them: /rules/ for everyone with a role, what a pending rule would
change for leads, a new version for admins only, and an escalation's page naming each deadline's
rule, flagging an older version, with a lead's re-evaluation."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.utils import timezone

from escalations.core import rule_services
from escalations.models import AuditAction, Rule
from tests.conftest import FormClient

pytestmark = pytest.mark.usefixtures("clock", "seeded_rules")


def text_of(response: Any) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def admin(make_user: Any) -> Any:
    user = make_user("admin", "lead")
    user.is_staff = True
    user.save()
    return user


@pytest.mark.parametrize("role", ["moderator", "lead", "auditor"])
def test_every_role_reads_the_rules_with_citation_dates_and_certainty(role: str, request: Any, client_for: Any) -> None:
    response = client_for(request.getfixturevalue(role)).get("/rules/")
    assert response.status_code == 200
    text = text_of(response)
    assert '<a href="/rules/">Rules</a>' in response.content.decode()
    in_force = text[text.index("In force") : text.index("Pending: not law yet")]
    pending = text[text.index("Pending: not law yet") : text.index("Past: lapsed")]
    past = text[text.index("Past: lapsed") :]
    assert "18 U.S.C. 2258A(h), as amended by the REPORT Act" in in_force
    assert "Online Safety Act 2023 s.66; SI 2026/268" in in_force
    assert "from 2026-04-07 00:00 BST" not in in_force  # shown in the reader's zone (UTC here)
    assert "from 2026-04-06 23:00 UTC" in in_force
    assert "Secondary source: check the instrument" in in_force
    assert "STOP CSAM Act of 2025" in pending and "Bill C-16" in pending
    assert "Regulation (EU) 2021/1232" in past and "until 2026-04-02 22:00 UTC (exclusive)" in past


def test_people_without_a_role_and_visitors_do_not_read_the_rules(nobody: Any, client_for: Any) -> None:
    assert client_for(nobody).get("/rules/").status_code == 403
    response = FormClient().get("/rules/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_rules_page_counts_active_escalations_per_rule(
    client_for: Any, moderator: Any, make_escalation: Any
) -> None:
    make_escalation()
    make_escalation()
    html = client_for(moderator).get("/rules/").content.decode()
    row = html[html.index('href="/rules/us-2258a-report/"') :]
    row = row[: row.index("</tr>")]
    assert re.search(r"<td>2</td>\s*$", row)


def test_a_lead_sees_what_a_pending_rule_would_change(
    client_for: Any, lead: Any, moderator: Any, make_escalation: Any, settings: Any
) -> None:
    settings.REPORT_TARGET_HOURS = 24 * 61
    esc = make_escalation()
    text = text_of(client_for(lead).get("/rules/us-stop-csam-60-days/"))
    assert "1 deadline would move, of 1 examined; by 1 d 0 h" in text
    assert esc.key in text and "1 d 0 h earlier" in text
    # From a date after its knowledge: nothing moves. A date that is not one is said so.
    later = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d")
    assert "0 deadlines would move" in text_of(client_for(lead).get(f"/rules/us-stop-csam-60-days/?from={later}"))
    bad = text_of(client_for(lead).get("/rules/us-stop-csam-60-days/?from=soon"))
    assert "From must be a date written YYYY-MM-DD" in bad and "1 deadline would move" in bad
    # A moderator reads the rule, not the preview.
    text = text_of(client_for(moderator).get("/rules/us-stop-csam-60-days/"))
    assert "STOP CSAM Act of 2025" in text and "would move" not in text


def test_an_unknown_rule_is_404(client_for: Any, lead: Any) -> None:
    assert client_for(lead).get("/rules/no-such-rule/").status_code == 404


def test_only_an_admin_makes_a_new_version_and_it_is_audited(client_for: Any, lead: Any, admin: Any) -> None:
    assert client_for(lead).get("/rules/ca-mra-s4-preserve/new-version/").status_code == 403
    client = client_for(admin)
    form = client.get("/rules/ca-mra-s4-preserve/new-version/")
    assert form.status_code == 200 and "Make version 2" in form.content.decode()
    data = {name: value for name, value in form.context["form"].initial.items() if value is not None}
    data.update(amount="30", reason="")
    refused = client.post("/rules/ca-mra-s4-preserve/new-version/", data)
    assert refused.status_code == 200 and "This field is required." in refused.content.decode()
    data["reason"] = "Counsel's reading of the amendment"
    response = client.post("/rules/ca-mra-s4-preserve/new-version/", data)
    assert response.status_code == 302 and response["Location"] == "/rules/ca-mra-s4-preserve/"
    assert list(Rule.objects.filter(code="ca-mra-s4-preserve").values_list("version", "amount")) == [(2, 30), (1, 21)]
    text = text_of(client.get("/rules/ca-mra-s4-preserve/"))
    assert "v2" in text and "Counsel's reading of the amendment" in text and "seeded" in text


def test_the_escalation_page_names_each_deadlines_rule_and_flags_an_older_version(
    client_for: Any, lead: Any, moderator: Any, admin: Any, make_escalation: Any
) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    page = text_of(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    assert "18 U.S.C. 2258A(h), as amended by the REPORT Act (Pub. L. 118-59, 7 May 2024) v1" in page
    assert "18 U.S.C. 2258A, as amended by the REPORT Act (Pub. L. 118-59) v1" in page
    assert "Judged by an older version" not in page

    rule_services.rule_new_version(actor=admin, code="us-2258a-h-preserve-1-year", data={"amount": 2}, reason="r")
    page = text_of(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    assert "Judged by an older version of a rule" in page
    assert "(judged by v1; v2 is current)" in page
    assert "A lead may re-evaluate it under the current rules" in page

    client = client_for(lead)
    assert "Re-evaluate under the current rules" in text_of(client.get(f"/escalations/{esc.pk}/"))
    assert client_for(moderator).get(f"/escalations/{esc.pk}/reevaluate/").status_code == 403
    refused = client.post(f"/escalations/{esc.pk}/reevaluate/", {"version": esc.version, "reason": ""})
    assert refused.status_code == 200
    response = client.post(
        f"/escalations/{esc.pk}/reevaluate/", {"version": esc.version, "reason": "Counsel: v2 applies"}
    )
    assert response.status_code == 302
    page = text_of(client.get(f"/escalations/{esc.pk}/"))
    assert "Judged by an older version" not in page
    assert f"{esc.key} re-evaluated under the current rules." in page
    assert esc.audit_events.filter(action=AuditAction.RULES_REEVALUATED, reason="Counsel: v2 applies").exists()


def test_the_ncmec_timer_names_its_rule(client_for: Any, moderator: Any, make_escalation: Any) -> None:
    esc = make_escalation(ncmec_opened_at=timezone.now() - timedelta(minutes=30))
    text = text_of(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    assert "whichever is later. Rule: NCMEC CyberTipline Reporting API v1." in text
