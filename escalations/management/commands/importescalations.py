"""Bring escalation history in from a spreadsheet (CSV), through the same services as the pages.

All or nothing by default: any bad row and nothing is imported. --dry-run checks everything and
writes nothing; --partial imports the good rows and reports the others.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import re
import sys
from array import array
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from escalations.core import batch_create, services
from escalations.core.people import User
from escalations.core.permissions import Action, can
from escalations.models import KEY_PREFIX, BreachReason, IncidentType, Priority

COLUMNS = (
    *services.INTAKE_FIELDS,
    "reported_at",
    "cybertipline_report_id",
    "breach_reason",
    "breach_note",
    "preservation_location",
    "assignee",
    "is_test",
)
REQUIRED = ("platform_reference", "incident_type", "knowledge_at")
# The columns of what happened after the intake; a row without them is an intake alone, which
# batch_create writes many at a time.
HISTORY_COLUMNS = ("reported_at", "cybertipline_report_id", "preservation_location")
# Rows read, checked and written at a time: memory holds one batch, whatever the file's size.
BATCH_ROWS = 500
ROLLED_BACK_KEY = re.compile(rf"{KEY_PREFIX}\d+")


class _DryRunDone(Exception):
    pass


class _Run:
    """What an import has done so far: the rows that failed and which row made which escalation (to
    name the row instead when the import is rolled back), in arrays that grow by 16 bytes a row."""

    def __init__(self) -> None:
        self.failures: list[tuple[int, list[str]]] = []
        self._pks = array("q")
        self._rows = array("q")

    @property
    def imported(self) -> int:
        return len(self._pks)

    def made(self, key: str, number: int) -> None:
        self._pks.append(int(key.removeprefix(KEY_PREFIX)))
        self._rows.append(number)

    def row_of(self, key: str) -> str:
        """Where an escalation this run made came from ("row N of this file"); any other key as it is."""
        pk = int(key.removeprefix(KEY_PREFIX))
        # Rows are imported in file order, so their keys increase.
        at = bisect.bisect_left(self._pks, pk)
        if at < len(self._pks) and self._pks[at] == pk:
            return f"row {self._rows[at]} of this file"
        return key


def _choice(value: str, choices: Any, column: str) -> str:
    """Accept a choice's value or its label (what a spreadsheet tends to hold), case-insensitively."""
    text = value.strip()
    for choice_value, label in choices:
        if text.lower() in (choice_value.lower(), str(label).lower()):
            return str(choice_value)
    return text  # the service refuses it with its own message


def _when(value: str, column: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    parsed = parse_datetime(text.replace(" ", "T", 1))
    if parsed is None:
        raise ValidationError({column: [f"{text!r} is not a date and time (use ISO 8601, e.g. 2026-03-01T14:05Z)."]})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())  # UTC
    return parsed


TRUE_WORDS = ("1", "true", "yes", "y")
FALSE_WORDS = ("", "0", "false", "no", "n")


def _flag(value: str, column: str) -> bool:
    """Yes or no; anything else is an error rather than a silent "no" (a test record counted as real
    would reach the dashboards and compliance exports)."""
    text = (value or "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValidationError({column: [f"{value.strip()!r} is not yes or no (use true/false, yes/no or 1/0)."]})


def _merge(errors: dict[str, list[str]], error: ValidationError) -> None:
    """Add `error`'s messages, except for a column that already has one: the first says what is wrong
    with what was typed ("not a date"), a later one would only say it is missing."""
    found = error.message_dict if hasattr(error, "error_dict") else {"row": error.messages}
    for column, messages in found.items():
        if column not in errors:
            errors[column] = list(messages)


def _parsed(errors: dict[str, list[str]], parse: Any) -> Any:
    try:
        return parse()
    except ValidationError as exc:
        _merge(errors, exc)
        return None


def _intake(row: dict[str, str], users: dict[str, User]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The create service's `data` of a row, and the errors of the columns that could not be read."""
    errors: dict[str, list[str]] = {}
    assignee_name = (row.get("assignee") or "").strip()
    if assignee_name and assignee_name not in users:
        errors["assignee"] = [f"no active user named {assignee_name!r}."]
    data = {
        "platform_reference": row.get("platform_reference", ""),
        "incident_type": _choice(row.get("incident_type", ""), IncidentType.choices, "incident_type"),
        "priority": _choice(row.get("priority") or "standard", Priority.choices, "priority"),
        "urgent_reason": row.get("urgent_reason", ""),
        "knowledge_at": _parsed(errors, lambda: _when(row.get("knowledge_at", ""), "knowledge_at")),
        "notes": row.get("notes", ""),
        "is_test": bool(_parsed(errors, lambda: _flag(row.get("is_test", ""), "is_test"))),
        "assignee": users.get(assignee_name),
    }
    return data, errors


def has_history(row: dict[str, str]) -> bool:
    """Whether the row brings more than the intake (a report, a preservation), which import_row
    records through their own services after the create."""
    return any((row.get(column) or "").strip() for column in HISTORY_COLUMNS)


def import_row(actor: User, row: dict[str, str], users: dict[str, User]) -> str:
    """One row through the services; returns the new key. Raises ValidationError naming every
    column in error: what could not be read, what the services refuse of the escalation, its report
    and its preservation, each checked as far as the rest allows."""
    data, errors = _intake(row, users)
    reported_at = _parsed(errors, lambda: _when(row.get("reported_at", ""), "reported_at"))
    try:
        escalation = services.create_escalation(actor=actor, data=data)
    except ValidationError as exc:
        _merge(errors, exc)
        raise ValidationError(errors) from None
    if (reported_at or (row.get("cybertipline_report_id") or "").strip()) and "reported_at" not in errors:
        try:
            escalation = services.record_report(
                actor=actor,
                escalation_id=escalation.pk,
                version=escalation.version,
                reported_at=reported_at,
                cybertipline_report_id=row.get("cybertipline_report_id", ""),
                breach_reason=_choice(row.get("breach_reason", ""), BreachReason.choices, "breach_reason"),
                breach_note=row.get("breach_note", ""),
            )
        except ValidationError as exc:
            _merge(errors, exc)
    if (row.get("preservation_location") or "").strip():
        try:
            escalation = services.confirm_preservation(
                actor=actor,
                escalation_id=escalation.pk,
                version=escalation.version,
                preservation_location=row["preservation_location"],
            )
        except ValidationError as exc:
            _merge(errors, exc)
    if errors:
        # This row's escalation is rolled back with it: never name it.
        raise ValidationError(
            {column: [m.replace(escalation.key, "this row's escalation") for m in ms] for column, ms in errors.items()}
        )
    return escalation.key


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{field}: {message}" for field, messages in error.message_dict.items() for message in messages]
    return list(error.messages)


class Command(BaseCommand):
    help = "Import escalations from a CSV file (one header row; columns: " + ", ".join(COLUMNS) + ")."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8)")
        parser.add_argument("--actor", required=True, help="username of the moderator or lead the import acts as")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument("--partial", action="store_true", help="import the good rows even if others fail")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = get_user_model().objects.filter(username=options["actor"], is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user named {options['actor']!r}.")
        if not can(actor, Action.CREATE):
            raise CommandError(f"{actor.get_username()} is not a moderator or lead, so can't log escalations.")
        path: Path = options["file"]
        # A first pass reads the whole file (streamed, one row at a time) before anything is written:
        # a file that can't be read, or has a bad header, writes nothing, and the progress knows its total.
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                header = [name.strip() for name in reader.fieldnames or []]
                total = sum(1 for _ in reader)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"Can't read {path}: {exc}") from exc
        missing = [name for name in REQUIRED if name not in header]
        unknown = [name for name in header if name not in COLUMNS]
        if missing or unknown:
            raise CommandError(
                f"Header problems in {path}: missing {missing or 'none'}, unknown {unknown or 'none'}. "
                f"Columns: {', '.join(COLUMNS)}."
            )
        users = {user.get_username(): user for user in get_user_model().objects.filter(is_active=True)}
        run = _Run()
        try:
            with transaction.atomic(), path.open(newline="", encoding="utf-8-sig") as handle:
                numbered = enumerate(csv.DictReader(handle), start=2)  # row 1 is the header
                while batch := list(itertools.islice(numbered, BATCH_ROWS)):
                    rows = [(number, {(k or "").strip(): (v or "") for k, v in row.items()}) for number, row in batch]
                    self._import_batch(actor, rows, users, run)
                    self._progress(rows[-1][0] - 1, total)
                if options["dry_run"] or (run.failures and not options["partial"]):
                    raise _DryRunDone
        except _DryRunDone:
            pass
        except (OSError, UnicodeDecodeError, csv.Error) as exc:  # the file changed since the first pass
            raise CommandError(f"Can't read {path}: {exc}") from exc
        sys.stderr.write("\n")
        failures = run.failures
        rolled_back = options["dry_run"] or (failures and not options["partial"])
        for number, messages in failures:
            for message in messages:
                if rolled_back:
                    # An escalation this run made and then rolled back exists nowhere: name its row.
                    message = ROLLED_BACK_KEY.sub(lambda m: run.row_of(m.group(0)), message)
                self.stdout.write(f"row {number}: {message}")
        good = total - len(failures)
        if options["dry_run"]:
            summary = f"Dry run: {good} of {total} rows would import, {len(failures)} have errors. Nothing written."
        elif failures and not options["partial"]:
            summary = (
                f"{len(failures)} of {total} rows have errors: nothing imported "
                "(all or nothing; --partial imports the good rows)."
            )
        else:
            summary = f"Imported {run.imported} of {total} rows."
            if failures:
                summary += f" {len(failures)} rows skipped."
        self.stdout.write(summary)
        if failures and (options["dry_run"] or not options["partial"]):
            # A non-zero exit, so that a script running the import notices.
            raise CommandError(f"{len(failures)} rows with errors.")

    def _import_batch(
        self, actor: User, rows: list[tuple[int, dict[str, str]]], users: dict[str, User], run: _Run
    ) -> None:
        """Rows in file order: each run of intakes alone as one batch, a row with history by itself."""
        for has_more, group in itertools.groupby(rows, key=lambda numbered: has_history(numbered[1])):
            if has_more:
                for number, row in group:
                    self._import_one(actor, number, row, users, run)
            else:
                self._import_intakes(actor, list(group), users, run)

    def _import_one(self, actor: User, number: int, row: dict[str, str], users: dict[str, User], run: _Run) -> None:
        try:
            with transaction.atomic():
                key = import_row(actor, row, users)
            run.made(key, number)
        except ValidationError as exc:
            run.failures.append((number, _messages(exc)))
        except Exception as exc:  # a row must never take the report of the others with it
            run.failures.append((number, [f"{exc.__class__.__name__}: {exc}"]))

    def _import_intakes(
        self, actor: User, rows: list[tuple[int, dict[str, str]]], users: dict[str, User], run: _Run
    ) -> None:
        intakes = [_intake(row, users) for _, row in rows]
        unread = {index for index, (_, errors) in enumerate(intakes) if errors}
        try:
            with transaction.atomic():
                result = batch_create.create_escalations(
                    actor=actor, items=[data for data, _ in intakes], refused=unread
                )
        except Exception:  # one row's fault: the rows one at a time find it and report it
            for number, row in rows:
                self._import_one(actor, number, row, users, run)
            return
        for index, (number, _) in enumerate(rows):
            errors = intakes[index][1]
            if index in result.errors:
                _merge(errors, result.errors[index])
            if errors:
                run.failures.append((number, _messages(ValidationError(errors))))
            else:
                run.made(result.created[index].key, number)

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")
        sys.stderr.flush()
