"""python manage.py importescalations FILE.csv: history from spreadsheets, through the services."""

from __future__ import annotations

import csv
import io
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.models import AuditEvent, Escalation, Status
from tests.conftest import escalation_trail

FIELDS = Escalation._meta.concrete_fields

HEADER = [
    "platform_reference",
    "incident_type",
    "priority",
    "urgent_reason",
    "knowledge_at",
    "notes",
    "reported_at",
    "cybertipline_report_id",
    "breach_reason",
    "breach_note",
    "preservation_location",
    "assignee",
    "is_test",
]


def when(**ago: float) -> str:
    """A time as a spreadsheet holds it: "YYYY-MM-DD HH:MM:SS", no zone (read as UTC)."""
    return (timezone.now() - timedelta(**ago)).strftime("%Y-%m-%d %H:%M:%S")


def row(**values: str) -> dict[str, str]:
    base = {
        "platform_reference": "sheet-1",
        "incident_type": "child_pornography",
        "knowledge_at": when(days=20),
    }
    base.update(values)
    return base


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header or HEADER)
        writer.writeheader()
        for item in rows:
            writer.writerow(item)
    return path


def run(path: Path, *args: str, actor: str = "leader") -> str:
    out = io.StringIO()
    call_command("importescalations", str(path), "--actor", actor, *args, stdout=out)
    return out.getvalue()


def run_failing(path: Path, *args: str, actor: str = "leader") -> tuple[str, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("importescalations", str(path), "--actor", actor, *args, stdout=out)
    return out.getvalue(), str(failure.value)


GOOD = [
    # Reported in time, preserved, assigned to a moderator; labels as a spreadsheet holds them.
    row(
        platform_reference="sheet-1",
        incident_type="Online Enticement of Children for Sexual Acts",
        knowledge_at=when(days=20),
        reported_at=when(days=20, hours=-2),
        cybertipline_report_id="1001",
        preservation_location="vault://2025/1",
        assignee="mod",
        notes="Line one,\nline two",
    ),
    # Reported late, with the reason's label.
    row(
        platform_reference="sheet-2",
        incident_type="child_sex_trafficking",
        priority="Urgent (child in imminent danger)",
        urgent_reason="Meeting planned.",
        knowledge_at=when(days=10),
        reported_at=when(days=8),
        cybertipline_report_id="1002",
        breach_reason="Volume surge or queue backlog",
    ),
    # Still open, a test record.
    row(platform_reference="sheet-3", incident_type="CHILD_PORNOGRAPHY", knowledge_at=when(hours=3), is_test="yes"),
]


@pytest.fixture
def people(lead: Any, moderator: Any, auditor: Any) -> dict[str, Any]:
    return {"lead": lead, "moderator": moderator, "auditor": auditor}


def test_a_good_file_imports_through_the_services(
    tmp_path: Path, people: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "history.csv", GOOD)
    output = run(path)
    assert "Imported 3 of 3 rows." in output
    by_ref = {e.platform_reference: e for e in Escalation.objects.all()}
    assert set(by_ref) == {"sheet-1", "sheet-2", "sheet-3"}

    first = by_ref["sheet-1"]
    assert first.incident_type == "online_enticement"
    assert (first.status, first.cybertipline_report_id, first.reported_on_time) == (Status.REPORTED, "1001", True)
    assert first.preservation_location == "vault://2025/1"
    assert first.preservation_confirmed_by == people["lead"]
    assert first.assignee == people["moderator"]
    assert first.notes == "Line one,\nline two"
    assert first.created_by == people["lead"]

    late = by_ref["sheet-2"]
    assert (late.priority, late.urgent_reason) == ("urgent", "Meeting planned.")
    assert late.reported_on_time is False
    assert late.breach_reason == "volume"

    test_record = by_ref["sheet-3"]
    assert (test_record.status, test_record.is_test, test_record.incident_type) == ("open", True, "child_pornography")
    assert first.is_test is False

    # The same audit trail as the pages, in the name of the importing lead.
    trail = {
        ref: list(AuditEvent.objects.filter(escalation=esc).order_by("pk").values_list("action", flat=True))
        for ref, esc in by_ref.items()
    }
    assert trail == {
        "sheet-1": ["created", "report_recorded", "preservation_confirmed"],
        "sheet-2": ["created", "report_recorded"],
        "sheet-3": ["created"],
    }
    assert set(escalation_trail().values_list("actor", flat=True)) == {people["lead"].pk}
    late_event = AuditEvent.objects.get(escalation=late, action="report_recorded")
    assert late_event.changes["breach_reason"] == ["", "volume"]
    # A progress bar on stderr, ending at the row count.
    assert "3/3 rows" in capsys.readouterr().err


def test_dry_run_writes_nothing(tmp_path: Path, people: dict[str, Any]) -> None:
    output = run(write_csv(tmp_path / "history.csv", GOOD), "--dry-run")
    assert "Dry run: 3 of 3 rows would import, 0 have errors. Nothing written." in output
    assert Escalation.objects.count() == 0
    assert escalation_trail().count() == 0


BAD_ROWS = [
    GOOD[0],  # row 2
    row(platform_reference="sheet-b", knowledge_at="next tuesday"),  # row 3
    row(platform_reference="sheet-c", reported_at=when(days=19), cybertipline_report_id="12ab"),  # row 4
    GOOD[2],  # row 5
    row(platform_reference="data:image/png;base64,AAAA", incident_type="bogus"),  # row 6
    row(platform_reference="sheet-d", cybertipline_report_id="1001", reported_at=when(days=19)),  # row 7
    row(platform_reference="sheet-e", is_test="maybe", assignee="ghost"),  # row 8
]


def test_dry_run_reports_every_bad_row_by_number(
    tmp_path: Path, people: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "history.csv", BAD_ROWS)
    output, error = run_failing(path, "--dry-run")
    lines = output.splitlines()
    assert "row 3: knowledge_at: 'next tuesday' is not a date and time (use ISO 8601, e.g. 2026-03-01T14:05Z)." in lines
    assert (
        "row 4: cybertipline_report_id: CyberTipline report ID must be digits only (for example 4564654), "
        "no letters or spaces." in lines
    )
    assert any(line.startswith("row 6: platform_reference:") and "data: URI" in line for line in lines)
    assert "row 6: incident_type: Incident type: choose one of the CyberTipline's incident types." in lines
    # Row 2 holds report ID 1001 in the same file.
    assert any(line.startswith("row 7: cybertipline_report_id:") and "already recorded" in line for line in lines)
    assert "row 8: assignee: no active user named 'ghost'." in lines
    assert not any(line.startswith(("row 2:", "row 5:")) for line in lines)
    assert "Dry run: 2 of 7 rows would import, 5 have errors. Nothing written." in output
    assert "5 rows with errors" in error
    assert Escalation.objects.count() == 0
    assert escalation_trail().count() == 0


def test_a_failing_dry_run_exits_non_zero(
    tmp_path: Path, people: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "history.csv", BAD_ROWS)
    # As from a shell; but the command's closing of every connection would end the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "importescalations", str(path), "--actor", "leader", "--dry-run"])
    assert exit_info.value.code != 0
    captured = capsys.readouterr()
    assert "row 3:" in captured.out
    assert "5 rows with errors" in captured.err
    assert Escalation.objects.count() == 0


def test_is_test_must_be_yes_or_no(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(tmp_path / "history.csv", [row(is_test="maybe")])
    output, _ = run_failing(path, "--dry-run")
    assert "row 2: is_test: 'maybe' is not yes or no (use true/false, yes/no or 1/0)." in output.splitlines()


def test_all_or_nothing_by_default(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(tmp_path / "history.csv", BAD_ROWS)
    output, _ = run_failing(path)
    assert "5 of 7 rows have errors: nothing imported" in output
    assert Escalation.objects.count() == 0
    assert escalation_trail().count() == 0


def test_partial_imports_the_good_rows(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(tmp_path / "history.csv", BAD_ROWS)
    output = run(path, "--partial")
    assert "Imported 2 of 7 rows. 5 rows skipped." in output
    assert "row 3: knowledge_at:" in output
    assert sorted(Escalation.objects.values_list("platform_reference", flat=True)) == ["sheet-1", "sheet-3"]
    # Only the imported rows left a trail; the refused ones left nothing behind.
    assert set(escalation_trail().values_list("escalation__platform_reference", flat=True)) == {"sheet-1", "sheet-3"}
    assert escalation_trail().count() == 4


def test_late_report_without_a_reason_is_a_row_error(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(
        tmp_path / "history.csv",
        [row(knowledge_at=when(days=10), reported_at=when(days=8), cybertipline_report_id="5")],
    )
    output, _ = run_failing(path)
    assert "row 2: breach_reason: Breach reason is required" in output
    assert Escalation.objects.count() == 0


def test_values_or_labels_for_incident_type(tmp_path: Path, people: dict[str, Any]) -> None:
    rows = [
        row(platform_reference="a", incident_type="misleading_domain_name"),
        row(platform_reference="b", incident_type="Misleading Domain Name"),
        row(platform_reference="c", incident_type="  misleading domain name  "),
    ]
    run(write_csv(tmp_path / "types.csv", rows))
    assert set(Escalation.objects.values_list("incident_type", flat=True)) == {"misleading_domain_name"}
    assert Escalation.objects.count() == 3


def test_only_the_required_columns_are_needed(tmp_path: Path, people: dict[str, Any]) -> None:
    header = ["platform_reference", "incident_type", "knowledge_at"]
    path = write_csv(tmp_path / "min.csv", [row(platform_reference="only-3")], header=header)
    assert "Imported 1 of 1 rows." in run(path)
    assert Escalation.objects.get().priority == "standard"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["platform_reference", "incident_type"], "missing ['knowledge_at']"),
        (["platform_reference", "incident_type", "knowledge_at", "colour"], "unknown ['colour']"),
        ([], "missing ['platform_reference', 'incident_type', 'knowledge_at']"),
    ],
)
def test_a_bad_header_is_a_command_error(
    header: list[str], message: str, tmp_path: Path, people: dict[str, Any]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(",".join(header) + "\nsheet-1,child_pornography,2026-01-01T00:00Z,x\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Header problems") as failure:
        run(path)
    assert message in str(failure.value)
    assert Escalation.objects.count() == 0


def test_an_unknown_or_unprivileged_actor_or_a_missing_file_is_a_command_error(
    tmp_path: Path, people: dict[str, Any]
) -> None:
    path = write_csv(tmp_path / "history.csv", GOOD)
    with pytest.raises(CommandError, match="No active user named 'ghost'"):
        run(path, actor="ghost")
    with pytest.raises(CommandError, match="can't log escalations"):
        run(path, actor="aud")
    with pytest.raises(CommandError, match="Can't read"):
        run(tmp_path / "missing.csv")
    assert Escalation.objects.count() == 0


# --- a dry run a person can act on ------------------------------------------------------------------


def test_dry_run_names_rows_never_the_escalations_it_rolled_back(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(
        tmp_path / "twice.csv",
        [
            row(platform_reference="sheet-1", reported_at=when(days=20, hours=-2), cybertipline_report_id="5001"),
            row(platform_reference="sheet-2", reported_at=when(days=20, hours=-2), cybertipline_report_id="5001"),
        ],
    )
    output, _ = run_failing(path, "--dry-run")
    assert (
        "row 3: cybertipline_report_id: CyberTipline report ID 5001 is already recorded on row 2 of this file."
        in output
    )
    assert "ESC-" not in output
    assert not Escalation.objects.exists()
    # All or nothing, rolled back too: the same.
    output, _ = run_failing(path)
    assert "row 2 of this file" in output and "ESC-" not in output


def test_every_error_of_a_row_is_reported(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [
            row(
                platform_reference="sheet-1",
                incident_type="not a type",
                knowledge_at="yesterday",
                is_test="maybe",
                assignee="ghost",
            ),
            row(
                platform_reference="sheet-2",
                reported_at=when(days=20, hours=-2),
                cybertipline_report_id="12ab",
                preservation_location="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            ),
        ],
    )
    output, _ = run_failing(path, "--dry-run")
    first = [line for line in output.splitlines() if line.startswith("row 2:")]
    assert {line.split(":")[1].strip() for line in first} >= {"incident_type", "knowledge_at", "is_test", "assignee"}
    assert any("'yesterday' is not a date and time" in line for line in first)
    second = [line for line in output.splitlines() if line.startswith("row 3:")]
    assert {line.split(":")[1].strip() for line in second} >= {"cybertipline_report_id", "preservation_location"}
    assert "ESC-" not in output


def test_a_large_file_imports_in_file_order_in_batches_with_a_few_queries_each(
    tmp_path: Path, people: dict[str, Any], seeded_rules: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows with only the intake go in batches; a row bringing its report goes through the services
    by itself, in its place: keys follow the file's rows, and a file's queries grow with its batches,
    not its rows."""
    rows = [row(platform_reference=f"bulk-{i}", assignee=("mod", "leader", "")[i % 3]) for i in range(1200)]
    rows[700] = row(
        platform_reference="bulk-700",
        reported_at=when(days=20, hours=-2),
        cybertipline_report_id="7007",
    )
    rows[1100]["knowledge_at"] = "sometime"
    path = write_csv(tmp_path / "history.csv", rows)
    with CaptureQueriesContext(connections["default"]) as done:
        output = run(path, "--partial")
    assert "Imported 1199 of 1200 rows. 1 rows skipped." in output
    assert "row 1102: knowledge_at: 'sometime' is not a date and time" in output
    assert "1200/1200 rows" in capsys.readouterr().err
    refs = list(Escalation.objects.order_by("pk").values_list("platform_reference", flat=True))
    assert refs == [f"bulk-{i}" for i in range(1200) if i != 1100]
    assert Escalation.objects.get(platform_reference="bulk-700").status == Status.REPORTED
    assert escalation_trail().count() == 1199 + 1
    inserts = len([q for q in done.captured_queries if q["sql"].startswith("INSERT")])
    others = len(done.captured_queries) - inserts
    # Per batch of 500: the rules, two assignees, the endpoints, savepoints; the reported row's own
    # services add a dozen. Inserts: as many as the database's statement size needs.
    assert others <= 3 * 12 + 30, [q["sql"][:120] for q in done.captured_queries if not q["sql"].startswith("INSERT")]
    assert inserts <= 5 * 3 * math.ceil(500 / (connections["default"].ops.bulk_batch_size(FIELDS, rows) or 500)) + 10
