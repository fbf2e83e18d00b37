"""One export of the escalation list, in a process of its own so that its peak memory is the
export's: `python -m bench.export_memory [query]` (DATABASE_URL and DJANGO_SETTINGS_MODULE set by the
caller; the list's query string, by default `_export=csv`: every row as CSV) prints one JSON line
with the time, the process's CPU time (on a shared machine, the part of the time that was the
export's own work), rows, bytes, the resident memory before the export and the process's peak
(VmHWM from /proc/self/status)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

EXPORT_QUERY = "_export=csv"


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB (0 where there is no /proc)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    url = "/escalations/?" + (sys.argv[1] if len(sys.argv) > 1 else EXPORT_QUERY)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from escalations.core.permissions import LEAD
    from escalations.models import AuditAction, AuditEvent

    lead = get_user_model().objects.filter(groups__name=LEAD, is_active=True).order_by("username").first()
    if lead is None:
        raise SystemExit("no lead: was the data set generated?")
    client = Client()
    client.force_login(lead)
    # Warm up on a page, so that "before" holds Django, the app and its templates loaded.
    if client.get("/escalations/").status_code != 200:
        raise SystemExit("the list page did not answer 200")
    before_kb = _status_kb("VmRSS")
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    response: Any = client.get(url)
    if response.status_code != 200 or not response.streaming:
        raise SystemExit(f"the export answered {response.status_code} (streaming: {response.streaming})")
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    # The rows the export's own audit event counted (an XLSX file has no lines to count).
    rows = AuditEvent.objects.filter(action=AuditAction.EXPORTED).latest("pk").changes["rows"]
    print(
        json.dumps(
            {
                "url": url,
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "rows": rows,
                "rows_per_second": round(rows / seconds) if seconds else 0,
                "bytes": size,
                "lines": lines,
                "rss_before_kb": before_kb,
                "peak_rss_kb": _status_kb("VmHWM"),
            }
        )
    )


if __name__ == "__main__":
    main()
