"""One CSV export of every escalation, in a process of its own so that its peak memory is the
export's: `python -m bench.export_memory` (DATABASE_URL and DJANGO_SETTINGS_MODULE set by the
caller) prints one JSON line with the time, rows, bytes, the resident memory before the export and
the process's peak (VmHWM from /proc/self/status)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

EXPORT_URL = "/escalations/?_export=csv"


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB (0 where there is no /proc)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from escalations.core.permissions import LEAD

    lead = get_user_model().objects.filter(groups__name=LEAD, is_active=True).order_by("username").first()
    if lead is None:
        raise SystemExit("no lead: was the data set generated?")
    client = Client()
    client.force_login(lead)
    # Warm up on a page, so that "before" holds Django, the app and its templates loaded.
    if client.get("/escalations/").status_code != 200:
        raise SystemExit("the list page did not answer 200")
    before_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    response: Any = client.get(EXPORT_URL)
    if response.status_code != 200 or not response.streaming:
        raise SystemExit(f"the export answered {response.status_code} (streaming: {response.streaming})")
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "url": EXPORT_URL,
                "seconds": round(seconds, 2),
                "rows": lines - 1,
                "bytes": size,
                "rss_before_kb": before_kb,
                "peak_rss_kb": _status_kb("VmHWM"),
            }
        )
    )


if __name__ == "__main__":
    main()
