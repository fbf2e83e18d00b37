"""The section of docs/benchmarks.md that holds the targets of scale (a million escalations, under
load) with the figure each had before the work on them and the one measured now, in-process and
served, the admin changelist beside our pages.

Written from the last runs' figures: var/bench-results.json (`make bench`, BENCH_JSON) and
var/loadtest-results.json (`make loadtest`, LOADTEST_JSON). Both commands rewrite it when they finish,
so after `make bench` then `make loadtest` it holds one run of each; it says when the two were measured
on different commits or far apart. `python -m bench.scale_targets` rewrites it alone."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import ROOT

BEGIN = "<!-- scale-targets:begin (written by `make bench` and `make loadtest`, bench/scale_targets.py) -->"
END = "<!-- scale-targets:end -->"
ANCHOR = "## Every figure"
TIMES = "\N{MULTIPLICATION SIGN}"

# Two runs further apart than this are not "one run on the same machine": the section says so.
SAME_SESSION_HOURS = 3

DASHBOARD_GROWTH = 1.5
DASHBOARD_MS = 150.0
DASHBOARD_SERVED_MAX_MS = 1000.0
PAGE_SQL_RATIO = 3.0
QUEUE_VS_ADMIN_SERVED = 5.0
API_CREATES_SERVED = 200.0
WRITES_PER_SECOND = 2000.0
IMPORT_FLAT = 1.15
EXPORT_ROWS = 1_000_000
EXPORT_SECONDS = 30.0
EXPORT_MB = 200.0
CATCHUP_REMINDERS = 10_000
SWEEP_GROWTH = 1.5

# The figures the work started from, measured on this kind of machine (2 cores) at 1,000,000 rows
# before any of it: in-process medians with their SQL time, and served (gunicorn, 4 sync workers,
# 8 clients with wrk, 15 s a page).
BEFORE = {
    "dashboard": f"2,020 ms (208 ms at 10,000 rows: 9.7{TIMES})",
    "dashboard_served": "0.5/s: all 8 requests timed out at 2 s",
    "my_queue": f"92 ms, 11 ms SQL (8.4{TIMES})",
    "list": f"133 ms, 8 ms SQL (16.6{TIMES})",
    "detail": f"41 ms, 12 ms SQL (3.4{TIMES})",
    "admin_changelist": "154 ms, 88 ms SQL",
    "queue_vs_admin": f"18.1/s against 10.8/s (1.7{TIMES})",
    "my_queue_served": "18.1/s, p50 412 ms",
    "list_served": "14.3/s, p50 530 ms",
    "detail_served": "51.8/s, p50 149 ms",
    "admin_served": "10.8/s, p50 725 ms",
    "api_creates": "34.5/s, one client in-process; not measured served",
    "bulk": "not measured (one create per request)",
    "import": "5,000 rows in 31.6 s (158/s), 125 MB",
    "export": "240 s (4,159 rows/s), 103 MB",
    "xlsx": "not measured",
    "catchup": "not measured",
    "sweep": f"10.1 ms vs 9.7 ms (1.04{TIMES})",
}


@dataclass(frozen=True)
class Row:
    key: str
    target: str
    before: str
    now: str
    verdict: bool | None  # None: not measured by the runs at hand


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _page_ratio(page: dict[str, Any]) -> float:
    return page["median_ms"] / page["sql_ms"] if page.get("sql_ms") else float("inf")


def dashboard_rows(bench: dict[str, Any] | None, load: dict[str, Any] | None) -> list[Row]:
    rows = []
    in_process = Row(
        "dashboard",
        f"Dashboard constant in table size: at 1,000,000 rows at most {DASHBOARD_GROWTH:g}{TIMES} its time at "
        f"10,000 and under {DASHBOARD_MS:g} ms, in-process",
        BEFORE["dashboard"],
        "not measured",
        None,
    )
    if bench is not None:
        small = bench["results"]["small"]["pages"]["dashboard"]["median_ms"]
        large = bench["results"]["large"]["pages"]["dashboard"]["median_ms"]
        growth = large / small if small else float("inf")
        in_process = Row(
            in_process.key,
            in_process.target,
            in_process.before,
            f"{_ms(large)} ({_ms(small)} at {bench['results']['small']['rows']:,} rows: **{growth:.2f}{TIMES}**)",
            growth <= DASHBOARD_GROWTH and large < DASHBOARD_MS,
        )
    rows.append(in_process)
    served = Row(
        "dashboard_served",
        f"Dashboard under {_clients(load)} concurrent leads, served: no request over {_ms(DASHBOARD_SERVED_MAX_MS)}",
        BEFORE["dashboard_served"],
        "not measured",
        None,
    )
    if load is not None and "dashboard" in load.get("alone", {}):
        got = load["alone"]["dashboard"]
        ok = (
            got["max_ms"] is not None
            and got["max_ms"] <= DASHBOARD_SERVED_MAX_MS
            and not got["timeouts"]
            and not got["errors"]
        )
        served = Row(
            served.key,
            served.target,
            served.before,
            f"{got['per_second']:.1f}/s, p50 {_ms(got['p50_ms'])}, p99 {_ms(got['p99_ms'])}, "
            f"**slowest {_ms(got['max_ms'])}**, {got['timeouts']} timeouts, {got['errors']} errors",
            ok,
        )
    rows.append(served)
    return rows


def _clients(load: dict[str, Any] | None) -> int:
    return int(load["config"]["clients"]) if load is not None else 8


PAGES = (
    ("my_queue", "My queue (50 rows)"),
    ("list", "All escalations (unfiltered first page)"),
    ("detail", "The escalation page"),
)


def page_rows(bench: dict[str, Any] | None) -> list[Row]:
    rows = []
    for key, label in PAGES:
        target = f"{label} at most {PAGE_SQL_RATIO:g}{TIMES} its own SQL time, in-process"
        if bench is None:
            rows.append(Row(key, target, BEFORE[key], "not measured", None))
            continue
        page = bench["results"]["large"]["pages"][key]
        ratio = _page_ratio(page)
        rows.append(
            Row(
                key,
                target,
                BEFORE[key],
                f"{_ms(page['median_ms'])}, {_ms(page['sql_ms'])} SQL (**{ratio:.2f}{TIMES}**), "
                f"{page['queries']} queries",
                ratio <= PAGE_SQL_RATIO,
            )
        )
    return rows


def served_rows(load: dict[str, Any] | None) -> list[Row]:
    target = (
        f"My queue served at least {QUEUE_VS_ADMIN_SERVED:g}{TIMES} the admin changelist's requests per second, "
        "same load, same data"
    )
    creates_target = f"API creates at least {API_CREATES_SERVED:g}/s served, {_clients(load)} concurrent clients"
    if load is None or "my_queue" not in load.get("alone", {}):
        return [
            Row("queue_vs_admin", target, BEFORE["queue_vs_admin"], "not measured", None),
            Row("api_creates", creates_target, BEFORE["api_creates"], "not measured", None),
        ]
    queue, admin = load["alone"]["my_queue"], load["alone"]["admin_changelist"]
    ratio = queue["per_second"] / admin["per_second"] if admin["per_second"] else float("inf")
    rows = [
        Row(
            "queue_vs_admin",
            target,
            BEFORE["queue_vs_admin"],
            f"{queue['per_second']:.1f}/s against {admin['per_second']:.1f}/s (**{ratio:.1f}{TIMES}**)",
            ratio >= QUEUE_VS_ADMIN_SERVED,
        )
    ]
    got = load["alone"].get("api_create")
    if got is None:
        rows.append(Row("api_creates", creates_target, BEFORE["api_creates"], "not measured", None))
    else:
        rows.append(
            Row(
                "api_creates",
                creates_target,
                BEFORE["api_creates"],
                f"**{got['per_second']:.1f}/s**, p50 {_ms(got['p50_ms'])}, p99 {_ms(got['p99_ms'])}, "
                f"{got['errors']} errors",
                got["per_second"] >= API_CREATES_SERVED,
            )
        )
    return rows


def write_rows(bench: dict[str, Any] | None) -> list[Row]:
    bulk_target = f"Bulk endpoint at least {WRITES_PER_SECOND:,.0f} escalations/s"
    import_target = (
        f"`importescalations` at least {WRITES_PER_SECOND:,.0f} escalations/s, memory flat in the file's size "
        f"(largest file's peak at most {IMPORT_FLAT:g}{TIMES} the smallest's)"
    )
    large = bench["results"]["large"] if bench is not None else {}
    rows = []
    bulk = large.get("bulk")
    rows.append(
        Row("bulk", bulk_target, BEFORE["bulk"], "not measured", None)
        if not bulk
        else Row(
            "bulk",
            bulk_target,
            BEFORE["bulk"],
            f"{bulk['size']:,} a call in {_ms(bulk['median_ms'])}: **{bulk['rows_per_second']:,.0f}/s**",
            bulk["rows_per_second"] >= WRITES_PER_SECOND,
        )
    )
    imports = large.get("imports") or []
    if not imports:
        rows.append(Row("import", import_target, BEFORE["import"], "not measured", None))
    else:
        slowest = min(run["per_second"] for run in imports)
        growth = imports[-1]["peak_rss_mb"] / imports[0]["peak_rss_mb"] if imports[0]["peak_rss_mb"] else 0.0
        runs = ", ".join(
            f"{run['rows']:,} rows at **{run['per_second']:,.0f}/s**, {run['peak_rss_mb']:.0f} MB" for run in imports
        )
        rows.append(
            Row(
                "import",
                import_target,
                BEFORE["import"],
                f"{runs} (memory **{growth:.2f}{TIMES}**)",
                slowest >= WRITES_PER_SECOND and len(imports) > 1 and growth <= IMPORT_FLAT,
            )
        )
    return rows


def export_rows(bench: dict[str, Any] | None) -> list[Row]:
    target = f"CSV export of {EXPORT_ROWS:,} rows in at most {EXPORT_SECONDS:g} s, peak memory at most {EXPORT_MB:g} MB"
    xlsx_target = "XLSX export as fast as the library allows, measured"
    if bench is None:
        return [
            Row("export", target, BEFORE["export"], "not measured", None),
            Row("xlsx", xlsx_target, BEFORE["xlsx"], "not measured", None),
        ]
    export = bench["results"]["large"]["export"]
    seconds = export["median_ms"] / 1000
    # At another size the target is its rate: 1,000,000 rows in 30 s.
    scaled = seconds * EXPORT_ROWS / export["rows"] if export["rows"] else float("inf")
    rows = [
        Row(
            "export",
            target,
            BEFORE["export"],
            f"{export['rows']:,} rows in **{seconds:,.1f} s** ({export['rows'] / seconds:,.0f} rows/s, "
            f"{export.get('cpu_seconds', 0):.1f} s of the process's own CPU), peak **{export['peak_rss_mb']:.0f} MB**",
            scaled <= EXPORT_SECONDS and export["peak_rss_mb"] <= EXPORT_MB,
        )
    ]
    xlsx = bench["results"]["large"].get("export_xlsx")
    rows.append(
        Row("xlsx", xlsx_target, BEFORE["xlsx"], "not measured", None)
        if not xlsx
        else Row(
            "xlsx",
            xlsx_target,
            BEFORE["xlsx"],
            f"{xlsx['rows']:,} rows in {xlsx['median_ms'] / 1000:,.1f} s "
            f"({xlsx['rows'] / (xlsx['median_ms'] / 1000):,.0f} rows/s), peak {xlsx['peak_rss_mb']:.0f} MB; "
            "measured, no figure to meet",
            True,
        )
    )
    return rows


def catchup_rows(bench: dict[str, Any] | None) -> list[Row]:
    target = (
        f"Catch-up: {CATCHUP_REMINDERS:,} reminders due at once delivered in-app and by email within 120 s of one "
        "worker's return, none lost or doubled"
    )
    sweep_target = (
        f"The sweep with nothing due flat in table size (1,000,000 rows at most {SWEEP_GROWTH:g}{TIMES} 10,000)"
    )
    rows = []
    result = bench.get("catchup") if bench is not None else None
    if not result:
        rows.append(Row("catchup", target, BEFORE["catchup"], "not measured", None))
    else:
        mail, app = result["email"], result["in_app"]
        judged = result["escalations"] >= CATCHUP_REMINDERS
        rows.append(
            Row(
                "catchup",
                target,
                BEFORE["catchup"],
                f"{result['escalations']:,} in **{result['seconds']:,.1f} s**; lost {mail['lost'] + app['lost']}, "
                f"doubled {mail['doubled'] + app['doubled']}",
                bool(result["met"]) if judged else None,
            )
        )
    if bench is None:
        rows.append(Row("sweep", sweep_target, BEFORE["sweep"], "not measured", None))
    else:
        small, large = bench["results"]["small"]["sweep"], bench["results"]["large"]["sweep"]
        growth = large["median_ms"] / small["median_ms"] if small["median_ms"] else float("inf")
        rows.append(
            Row(
                "sweep",
                sweep_target,
                BEFORE["sweep"],
                f"{_ms(large['median_ms'])} vs {_ms(small['median_ms'])} (**{growth:.2f}{TIMES}**)",
                growth <= SWEEP_GROWTH,
            )
        )
    return rows


def admin_lines(bench: dict[str, Any] | None, load: dict[str, Any] | None) -> list[str]:
    """Ours beside the admin changelist: in-process and served, in one table."""
    lines = [
        "| page | before: in-process; served | now, in-process (1,000,000 rows) | now, served: requests/s, p50, p99 |",
        "|---|---|---|---|",
    ]
    for key, label, before_served in (
        ("my_queue", "My queue", BEFORE["my_queue_served"]),
        ("list", "All escalations", BEFORE["list_served"]),
        ("detail", "Escalation page", BEFORE["detail_served"]),
        ("admin_changelist", "Admin changelist (100 rows)", BEFORE["admin_served"]),
    ):
        now = "not measured"
        if bench is not None:
            page = bench["results"]["large"]["pages"][key]
            now = f"{_ms(page['median_ms'])}, {_ms(page['sql_ms'])} SQL, {page['queries']} queries"
        served = "not measured"
        if load is not None and key in load.get("alone", {}):
            got = load["alone"][key]
            cpu = got.get("cpu_ms_per_request")
            served = f"{got['per_second']:.1f}/s, {_ms(got['p50_ms'])}, {_ms(got['p99_ms'])}" + (
                f"; {_ms(cpu)} of CPU a request" if cpu is not None else ""
            )
        lines.append(f"| {label} | {BEFORE[key]}; {before_served} | {now} | {served} |")
    return lines


def _profile_lines(where: dict[str, Any] | None, what: str) -> list[str]:
    """One profiled call's own time per layer, and its functions with the most own time."""
    if not where:
        return []
    layers = ", ".join(f"{name} {_ms(ms)} ({share} %)" for name, ms, share in where["layers"] if share >= 3)
    top = "\n".join(f"{ms:8.1f} ms  {function}" for ms, function in where["top"])
    return [
        f"Where the time of {what} goes (cProfile's own time by layer, {_ms(where['total_ms'])} in all under the "
        f"profiler): {layers}.",
        "",
        f"<details><summary>The functions with the most own time in {what}</summary>",
        "",
        "```",
        top,
        "```",
        "",
        "</details>",
        "",
    ]


def _cpu(load: dict[str, Any] | None, key: str) -> float | None:
    if load is None or key not in load.get("alone", {}):
        return None
    value = load["alone"][key].get("cpu_ms_per_request")
    return float(value) if value else None


def _ceiling(cpu_ms: float | None, cores: int) -> str:
    if not cpu_ms:
        return ""
    return (
        f" gunicorn's workers spent {_ms(cpu_ms)} of CPU per request, so {cores} cores serve at most "
        f"{cores * 1000 / cpu_ms:,.0f} a second with nothing else running (PostgreSQL and the load generator share "
        "them)."
    )


# What meeting a missed page target would take, from the profiles these runs take.
WOULD_TAKE = {
    "my_queue": (
        "What it would take: the rows already cost little; what is left is any Django page's own cost "
        "(middleware, the person and their roles, the ORM building three queries and fifty model instances, the "
        "template). Three times the SQL would need the rows read as tuples instead of model instances and the "
        "page's frame (navigation, person, counts) cached for the person."
    ),
    "list": (
        "What it would take: the filter form (ten selects, one of them listing every person who can be "
        "assigned) built and rendered at every request, and seven queries; caching the rendered filter options "
        "(they change only when people or rules do) and reading rows as tuples."
    ),
    "detail": (
        "What it would take: the page runs 15 queries, each a few milliseconds of ORM work; the rulebook (all "
        "rule versions, read to judge the escalation's deadlines) could come from the cache, which the rule "
        "services would clear, and the reports to other destinations could be read through the authority "
        "register, which joins them already: 13 queries."
    ),
}


def causes(bench: dict[str, Any] | None, load: dict[str, Any] | None, rows: list[Row]) -> list[str]:
    """For each missed target, what the runs measured about why."""
    missed = {row.key for row in rows if row.verdict is False}
    large = bench["results"]["large"] if bench is not None else {}
    cores = int((load or bench or {}).get("machine", {}).get("cpus") or 2)
    out: list[str] = []
    for key, label in PAGES:
        if key not in missed:
            continue
        page = large["pages"][key]
        out += [
            f"### {label}: {_page_ratio(page):.2f}{TIMES} its SQL time",
            "",
            f"{_ms(page['median_ms'])} a request, {_ms(page['sql_ms'])} of it in {page['queries']} queries: "
            f"{_ms(page['median_ms'] - page['sql_ms'])} is Python.{_ceiling(_cpu(load, key), cores)}",
            "",
            *_profile_lines(page.get("profile"), "one request"),
            WOULD_TAKE[key],
            "",
        ]
    if "queue_vs_admin" in missed and load is not None:
        queue, admin = _cpu(load, "my_queue"), _cpu(load, "admin_changelist")
        admin_page = large.get("pages", {}).get("admin_changelist")
        sql_share = (
            f" In-process the admin changelist spends {_ms(admin_page['sql_ms'])} of its "
            f"{_ms(admin_page['median_ms'])} "
            "in the database (its COUNT(*) over the whole table), work PostgreSQL does beside gunicorn."
            if admin_page
            else ""
        )
        out += [
            "### My queue against the admin changelist, served",
            "",
            f"CPU per request in gunicorn's workers: My queue {_ms(queue)}, the admin changelist {_ms(admin)}."
            f"{sql_share} Both pages share two cores with PostgreSQL and wrk, so the ratio of requests per second "
            "follows the ratio of each request's whole cost (Python, database, the load generator), and My queue's "
            "floor is its own CPU per request: 5 times the admin's rate would need a request of My queue to cost a "
            "fifth of the admin's in all.",
            "",
        ]
    if "api_creates" in missed and load is not None:
        out += [
            "### API creates, served",
            "",
            f"{load['alone']['api_create']['per_second']:.1f} creates a second with {_clients(load)} clients."
            f"{_ceiling(_cpu(load, 'api_create'), cores)} Each create is one validated, audited transaction: "
            "every field's checks, the escalation and its audit event (chained by the database's insert trigger).",
            "",
            *_profile_lines(large.get("creates", {}).get("profile"), "one create, in-process"),
            f"What it would take: {API_CREATES_SERVED:g} creates a second on {cores} cores leave at most "
            f"{_ms(cores * 1000 / API_CREATES_SERVED)} of CPU per create for everything, the database's share "
            "included: a create path without the ORM's and REST framework's per-request work (most of the profile "
            "above), or more cores (the rate grows with them: gunicorn's workers share nothing but the database).",
            "",
        ]
    if missed & {"bulk", "import"} and large.get("bulk"):
        bulk = large["bulk"]
        out += [
            "### Writes in bulk",
            "",
            f"A bulk call of {bulk['size']:,} escalations takes {_ms(bulk['median_ms'])} in {bulk['queries']} "
            f"queries: {bulk['median_ms'] / bulk['size']:.2f} ms of one core per escalation, where "
            f"{WRITES_PER_SECOND:,.0f}/s leaves {1000 / WRITES_PER_SECOND:.1f} ms. The import reads a file and makes "
            "the same calls.",
            "",
            *_profile_lines(bulk.get("profile"), "one bulk call"),
            "What it would take: the checks are pure functions (every field's rules and the file-content "
            "detector), so they could run in worker processes while one process writes; the inserts could go "
            "by COPY; the bulk endpoint's answer (a full representation of every escalation) is about an eighth of its "
            "own time and could be the keys alone when asked.",
            "",
        ]
    if "export" in missed and large.get("export"):
        export = large["export"]
        out += [
            "### The CSV export",
            "",
            f"{export['rows']:,} rows in {export['median_ms'] / 1000:,.1f} s, of which the exporting process's own CPU "
            f"was {export.get('cpu_seconds', 0):.1f} s; the rest is PostgreSQL reading and formatting the rows "
            "(a server-side cursor) on the other core.",
            "",
        ]
    if "dashboard_served" in missed and load is not None:
        got = load["alone"]["dashboard"]
        out += [
            "### The dashboard, served",
            "",
            f"{got['per_second']:.1f} requests a second, p50 {_ms(got['p50_ms'])}, slowest {_ms(got['max_ms'])}, "
            f"with {_clients(load)} leads asking at once on {cores} cores.{_ceiling(_cpu(load, 'dashboard'), cores)}",
            "",
        ]
    return out


def _when(run: dict[str, Any] | None) -> tuple[datetime | None, str | None]:
    if run is None:
        return None, None
    machine = run["machine"]
    try:
        when = datetime.strptime(machine["date"], "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        when = None
    return when, machine.get("commit")


def _hash(commit: str | None) -> str:
    """The commit's hash, without what machine.git_commit adds about uncommitted files."""
    return (commit or "").split(" ")[0]


def provenance(bench: dict[str, Any] | None, load: dict[str, Any] | None) -> str:
    parts = []
    if bench is not None:
        parts.append(
            f"`make bench` on {bench['machine']['date']}, commit {bench['machine']['commit']} (load average "
            f"{bench['load_before']} before, {bench['load_after']} after)"
        )
    if load is not None:
        parts.append(
            f"`make loadtest` on {load['machine']['date']}, commit {load['machine']['commit']} (load average "
            f"{load['load_before']} before, {load['load_after']} after)"
        )
    text = "Now: " + "; ".join(parts) + "." if parts else "Neither benchmark has run on this machine yet."
    (bench_at, bench_commit), (load_at, load_commit) = _when(bench), _when(load)
    if bench_at and load_at:
        apart = abs((load_at - bench_at).total_seconds()) / 3600
        if _hash(bench_commit) != _hash(load_commit) or apart > SAME_SESSION_HOURS:
            text += (
                f" **The two runs are {apart:.1f} h apart on commits {bench_commit} and {load_commit}:** run "
                "`make bench` then `make loadtest` again for figures from one session."
            )
    return text


# What the work on these targets changed, each for a measured cause.
WHAT_CHANGED = (
    "What changed, each for a measured cause: the escalation table's rows are written in Python instead of "
    "django-tables2's per-cell template (same bytes; `tests/web/test_tables.py`), the list's filter selects "
    "likewise (`tests/core/test_fast_select.py`), moments formatted with strftime, the bulk form's assignee "
    "options written from two columns; a partial index for the releases awaiting approval; production reads the "
    "session (cached_db) and the person from Redis; the dashboard counts its figures of now over partial indexes "
    "at every visit, and what grows with the table (the period's figures, the people, the charts) is counted and "
    "rendered once a minute by beat (`refresh-dashboard`) and kept in the cache with the time it was counted; "
    "batch creation validates every row, then writes escalations and their audit events in batches, one audited "
    "write per escalation (`escalations/core/batch_create.py`), and the import streams its file; the export reads "
    "plain values over a server-side cursor with times formatted by the database, byte for byte the CSV it wrote "
    "before (`tests/compliance/test_export_bytes.py`); the sweep claims due reminders in batches."
)


def section(bench: dict[str, Any] | None, load: dict[str, Any] | None) -> str:
    rows = [
        *dashboard_rows(bench, load),
        *page_rows(bench),
        *served_rows(load),
        *write_rows(bench),
        *export_rows(bench),
        *catchup_rows(bench),
    ]
    met = sum(1 for row in rows if row.verdict is True)
    missed = sum(1 for row in rows if row.verdict is False)
    lines = [
        BEGIN,
        "## At a million escalations, under load: each target before and now",
        "",
        provenance(bench, load)
        + " *Before* is what the same kind of machine measured at 1,000,000 rows before this work "
        "(in-process medians; served with gunicorn, 8 clients). Where a target is missed, a section after the "
        "tables shows what the runs measured about why.",
        "",
        f"{met} met, {missed} missed"
        + (f", {len(rows) - met - missed} not measured" if len(rows) - met - missed else "")
        + ".",
        "",
        "| target | before | now | verdict |",
        "|---|---|---|---|",
        *(f"| {row.target} | {row.before} | {row.now} | {_verdict(row.verdict)} |" for row in rows),
        "",
        "Kept true by tests rather than measured here: every dashboard figure equals a direct count over "
        "random data and a change shows within a minute (`tests/compliance/test_dashboard_snapshot.py`); under "
        "production settings a signed-in request reads neither its session nor its person from the database "
        "(`tests/accounts/test_person_cache.py`); the queries of each page stay bounded whatever the number of "
        "rows (`tests/performance/`).",
        "",
        WHAT_CHANGED,
        "",
        "### Our pages beside the admin changelist",
        "",
        *admin_lines(bench, load),
        "",
        *causes(bench, load, rows),
        END,
    ]
    return "\n".join(lines) + "\n"


def splice(document: str, text: str) -> str:
    start, end = document.find(BEGIN.split(" (")[0]), document.find(END)
    if start >= 0 and end > start:
        return document[:start] + text + document[end + len(END) + 1 :]
    at = document.find("\n" + ANCHOR)
    if at >= 0:
        return document[: at + 1] + text + "\n" + document[at + 1 :]
    return document.rstrip("\n") + "\n\n" + text


def result_paths() -> tuple[Path, Path]:
    """Where the two benchmarks leave their figures (BENCH_JSON, LOADTEST_JSON)."""
    bench = os.environ.get("BENCH_JSON", "").strip() or ROOT / "var" / "bench-results.json"
    load = os.environ.get("LOADTEST_JSON", "").strip() or ROOT / "var" / "loadtest-results.json"
    return Path(bench), Path(load)


def rewrite(document: Path) -> Path:
    """Write the section into `document` from the last runs' figures."""
    bench_path, load_path = result_paths()
    text = document.read_text() if document.exists() else "# Benchmarks\n"
    document.write_text(splice(text, section(_load(bench_path), _load(load_path))))
    return document


if __name__ == "__main__":
    print(rewrite(ROOT / "docs" / "benchmarks.md"))
