"""The benchmarks (bench/, `make bench`) at a tiny size, so that their code cannot rot: the run
generates its data with COPY, takes every measurement and writes the document and the plot.

No timing is asserted: performance is measured by the benchmarks, never by timed assertions. Needs
PostgreSQL (the suite's own server, through DATABASE_URL); makes its own databases
(escalations_bench_smoke, escalations_bench_smoke_small and escalations_bench_smoke_catchup) and drops
them afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from bench import database
from bench.config import ROOT, database_name, with_database
from tests.conftest import skip_unless

SMOKE_DATABASE = "escalations_bench_smoke"
PAGES = (
    "my_queue",
    "list",
    "list_open_urgent",
    "list_overdue",
    "dashboard",
    "detail",
    "api_list",
    "admin_changelist",
    "admin_open_urgent",
)


def _smoke_url() -> str | None:
    """The suite's PostgreSQL server, with the smoke test's own database; None on SQLite."""
    if connection.vendor != "postgresql":
        return None
    settings = connection.settings_dict
    user = quote(settings.get("USER") or "postgres", safe="")
    password = settings.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}" if password else user
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{SMOKE_DATABASE}"


def _reachable(url: str) -> bool:
    try:
        database.exists(url)
    except Exception:
        return False
    return True


@pytest.fixture
def smoke_url() -> Iterator[str]:
    url = _smoke_url()
    connection_ok = url is not None and _reachable(url)
    skip_unless(connection_ok, "postgres", "the bench runs on PostgreSQL: set DATABASE_URL=postgres://… (.ci/run does)")
    assert url is not None
    try:
        yield url
    finally:
        # The small database beside it is named by the bench's own rule (bench.config).
        for name in (url, *(with_database(url, database_name(url) + tail) for tail in ("_small", "_catchup"))):
            database.drop(name)


def test_bench_runs_and_writes_every_figure(smoke_url: str, tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": smoke_url,
        "BENCH_ROWS": "300",
        "BENCH_SMALL_ROWS": "100",
        "BENCH_REPEAT": "2",
        "BENCH_SWEEP_REPEAT": "2",
        "BENCH_EXPORT_REPEAT": "1",
        "BENCH_CREATES": "2",
        "BENCH_IMPORT_ROWS": "50,100",
        "BENCH_BULK_RUNS": "2",
        "BENCH_REGENERATE": "1",
        "BENCH_OUTPUT_DIR": str(tmp_path),
        "BENCH_JSON": str(results_path),
        "BENCH_CATCHUP_ESCALATIONS": "20",
        "BENCH_CATCHUP_PEOPLE": "4",
        "REMINDER_SWEEP_SECONDS": "5",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]

    run = json.loads(results_path.read_text())
    for label, rows in (("small", 100), ("large", 300)):
        result = run["results"][label]
        assert result["dataset"]["rows"] == rows
        assert sum(result["dataset"]["statuses"].values()) == rows
        assert result["dataset"]["audit_events"] >= rows  # at least "created" for each
        for page in PAGES:
            figures = result["pages"][page]
            assert figures["n"] == 2
            assert figures["median_ms"] > 0 and figures["p95_ms"] >= figures["median_ms"]
            assert figures["queries"] > 0
        assert result["sweep"]["rounds"] == 3 and result["sweep"]["n"] >= 6 and result["sweep"]["median_ms"] > 0
        assert result["export"]["rows"] >= rows and result["export"]["peak_rss_mb"] > 0
        assert result["creates"]["count"] == 2 and result["creates"]["per_second"] > 0
    # The writes, on the large database only; rolled back, so its rows are as generated.
    large = run["results"]["large"]
    assert "bulk" not in run["results"]["small"] and "imports" not in run["results"]["small"]
    assert large["bulk"]["n"] == 2 and large["bulk"]["rows_per_second"] > 0 and large["bulk"]["queries"] > 0
    assert [
        (i["rows"], "Dry run: " + f"{i['rows']} of {i['rows']} rows would import" in i["summary"])
        for i in large["imports"]
    ] == [
        (50, True),
        (100, True),
    ]
    assert all(i["peak_rss_mb"] > 0 for i in large["imports"])

    # The catch-up: every reminder once by email (to the sink) and once in-app, through a real worker.
    catchup = run["catchup"]
    assert catchup["escalations"] == 20
    assert catchup["email"] == {"items": 20, "lost": 0, "doubled": 0, "unexpected": 0}
    assert catchup["in_app"] == {"items": 20, "lost": 0, "doubled": 0, "unexpected": 0}

    document = (tmp_path / "benchmarks.md").read_text()
    for words in (
        "faster than the admin changelist",
        "the sweep at 100 rows",
        "peak memory at most 200 MB",
        "queries per page",
        "## The machine",
        "make bench",
        "](./benchmarks.svg)",
        "## Catch-up after an outage",
        "Bulk endpoint at least 2,000 escalations/s",
        "`importescalations` at least 2,000 escalations/s",
        "memory flat in the file's size",
        "each target before and now",
        "### Our pages beside the admin changelist",
    ):
        assert words in document
    plot = (tmp_path / "benchmarks.svg").read_text()
    assert plot.startswith("<svg") and "<title" in plot and "<desc" in plot
