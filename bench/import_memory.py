"""One `importescalations` run, in a process of its own so that its peak memory is the import's:
`python -m bench.import_memory ROWS` (DATABASE_URL and DJANGO_SETTINGS_MODULE set by the caller)
writes a CSV of ROWS intake rows, imports it with --dry-run and prints one JSON line with the time,
rows, rows per second, the file's size, the resident memory before the import and the process's
peak (VmHWM). A dry run makes every check and every insert of a real import, then rolls them back,
so the bench's data set stays as generated."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .export_memory import _status_kb

COLUMNS = ["platform_reference", "incident_type", "priority", "urgent_reason", "knowledge_at", "notes", "assignee"]


def write_file(path: Path, rows: int, assignee: str) -> None:
    """Rows as a platform's history export holds them: a tenth urgent, every other one assigned."""
    start = datetime.now(UTC) - timedelta(days=30)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            urgent = i % 10 == 0
            writer.writerow(
                [
                    f"import:{i:08d}",
                    "child_pornography" if i % 3 else "Online Enticement of Children for Sexual Acts",
                    "urgent" if urgent else "standard",
                    "Live stream reported by a viewer." if urgent else "",
                    (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S"),
                    "Hash match; account suspended." if i % 4 == 0 else "",
                    assignee if i % 2 else "",
                ]
            )


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command

    from escalations.core.permissions import LEAD

    rows = int(sys.argv[1])
    lead = get_user_model().objects.filter(groups__name=LEAD, is_active=True).order_by("username").first()
    if lead is None:
        raise SystemExit("no lead: was the data set generated?")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = Path(tmp) / "import.csv"
        write_file(path, rows, lead.get_username())
        before_kb = _status_kb("VmRSS")
        out = io.StringIO()
        started = time.perf_counter()
        try:
            call_command("importescalations", str(path), "--actor", lead.get_username(), "--dry-run", stdout=out)
        except CommandError as exc:
            raise SystemExit(f"the import refused rows: {exc}\n{out.getvalue()[-2000:]}") from None
        seconds = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "rows": rows,
                    "seconds": round(seconds, 2),
                    "per_second": round(rows / seconds, 1),
                    "bytes": path.stat().st_size,
                    "summary": out.getvalue().strip().splitlines()[-1],
                    "rss_before_kb": before_kb,
                    "peak_rss_kb": _status_kb("VmHWM"),
                }
            )
        )


if __name__ == "__main__":
    main()
