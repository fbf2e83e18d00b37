"""docs/benchmarks.md from bench/benchmarks.md.tmpl and one run's results, and docs/benchmarks.svg.
Everything in the document comes from the run (figures, targets met or missed, the evidence for a
miss), so a rerun refreshes all of it."""

from __future__ import annotations

import os
from pathlib import Path
from string import Template
from typing import Any

from . import plot, scale_targets
from .config import Config
from .loadtest import report as loadtest_report

TEMPLATE = Path(__file__).with_name("benchmarks.md.tmpl")
MD_NAME, SVG_NAME = "benchmarks.md", "benchmarks.svg"

# The performance targets the benchmarks are measured against.
QUEUE_VS_ADMIN = 5.0
SWEEP_GROWTH = 1.5
EXPORT_MB = 200.0
# The CSV export of 1,000,000 rows in at most 30 s: at any size, at least this many rows per second.
EXPORT_ROWS_PER_SECOND = 1_000_000 / 30
MAX_QUERIES = 12
# Writes at a pipeline's speed: escalations per second through the bulk endpoint and the import, and
# the import's peak memory at the largest file at most this many times its peak at the smallest.
WRITES_PER_SECOND = 2000
IMPORT_FLAT = 1.15
TIMES = "\N{MULTIPLICATION SIGN}"
# The catch-up's target is about this many reminders due at once (bench/catchup.py).
CATCHUP_REMINDERS = 10_000

# (key in results["pages"], label): the pages that count for the query target first.
PAGES = [
    ("my_queue", "My queue (/escalations/mine/, a moderator)"),
    ("list_open_urgent", "All escalations ?status=open&priority=urgent (a lead)"),
    ("list_overdue", "All escalations ?deadline_state=overdue (a lead)"),
    ("list", "All escalations, unfiltered first page (a lead)"),
    ("dashboard", "Dashboard (/dashboard/, a lead)"),
    ("detail", "Escalation detail (/escalations/<id>/, a lead; a reported escalation)"),
    ("api_list", "API list (/api/v1/escalations/, a read token)"),
]
ADMIN_PAGES = [
    ("admin_changelist", "Admin changelist (/admin/escalations/escalation/, a superuser)"),
    ("admin_open_urgent", "Admin changelist ?priority=urgent&status=open (a superuser)"),
]
SHORT = {
    "my_queue": "My queue",
    "list_open_urgent": "All, open + urgent",
    "list_overdue": "All, overdue",
    "list": "All, unfiltered",
    "dashboard": "Dashboard",
    "detail": "Detail",
    "api_list": "API list",
    "admin_changelist": "Admin changelist",
    "admin_open_urgent": "Admin, open + urgent",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    if value >= 100:
        return f"{value:,.0f} ms"
    return f"{value:.1f} ms"


def _rows(n: int) -> str:
    return f"{n:,} rows"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _sql(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(lines: list[str]) -> str:
    return "```\n" + "\n".join(lines) + "\n```"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def evaluate(run: dict[str, Any]) -> dict[str, Any]:
    """Each target: the measured value and whether it is met."""
    small, large = run["results"]["small"], run["results"]["large"]
    queue, admin = large["pages"]["my_queue"], large["pages"]["admin_changelist"]
    ratio = admin["median_ms"] / queue["median_ms"] if queue["median_ms"] else 0.0
    growth = large["sweep"]["median_ms"] / small["sweep"]["median_ms"] if small["sweep"]["median_ms"] else 0.0
    over = {key: large["pages"][key]["queries"] for key, _ in PAGES if large["pages"][key]["queries"] > MAX_QUERIES}
    return {
        "ratio": ratio,
        "ratio_ok": ratio >= QUEUE_VS_ADMIN,
        "growth": growth,
        "growth_ok": growth <= SWEEP_GROWTH,
        "export_mb": large["export"]["peak_rss_mb"],
        "export_ok": large["export"]["peak_rss_mb"] <= EXPORT_MB,
        "export_rate": _rate(large["export"]),
        "export_rate_ok": _rate(large["export"]) >= EXPORT_ROWS_PER_SECOND,
        "over_queries": over,
        "queries_ok": not over,
        "worst_queries": max((large["pages"][key]["queries"], key) for key, _ in PAGES),
        **_writes_verdict(large),
    }


def _writes_verdict(large: dict[str, Any]) -> dict[str, Any]:
    """The writes' targets, where the run measured them (runs before they existed did not)."""
    verdict: dict[str, Any] = {}
    if large.get("bulk"):
        verdict["bulk_ok"] = large["bulk"]["rows_per_second"] >= WRITES_PER_SECOND
    imports = large.get("imports") or []
    if imports:
        slowest = min(run["per_second"] for run in imports)
        verdict["import_ok"] = slowest >= WRITES_PER_SECOND
        smallest, largest = imports[0], imports[-1]
        verdict["import_growth"] = largest["peak_rss_mb"] / smallest["peak_rss_mb"] if smallest["peak_rss_mb"] else 0.0
        verdict["import_flat_ok"] = len(imports) > 1 and verdict["import_growth"] <= IMPORT_FLAT
    return verdict


def writes_targets(large: dict[str, Any], verdict: dict[str, Any]) -> list[str]:
    rows = []
    if "bulk_ok" in verdict:
        bulk = large["bulk"]
        rows.append(
            f"| Bulk endpoint at least {WRITES_PER_SECOND:,} escalations/s | {bulk['size']:,} per call in "
            f"{_ms(bulk['median_ms'])} (median): **{bulk['rows_per_second']:,.0f}/s** | "
            f"{_verdict(verdict['bulk_ok'])} |"
        )
    if "import_ok" in verdict:
        runs = ", ".join(f"{run['rows']:,} rows at **{run['per_second']:,.0f}/s**" for run in large["imports"])
        rows.append(
            f"| `importescalations` at least {WRITES_PER_SECOND:,} escalations/s | {runs} | "
            f"{_verdict(verdict['import_ok'])} |"
        )
        peaks = ", ".join(f"{run['peak_rss_mb']:.0f} MB at {run['rows']:,} rows" for run in large["imports"])
        rows.append(
            f"| The import's memory flat in the file's size (largest at most {IMPORT_FLAT:g}{TIMES} smallest) | "
            f"peak RSS {peaks}: **{verdict['import_growth']:.2f}{TIMES}** | {_verdict(verdict['import_flat_ok'])} |"
        )
    return rows


def _rate(export: dict[str, Any]) -> float:
    """Rows per second of the median export."""
    return export["rows"] / (export["median_ms"] / 1000) if export["median_ms"] else 0.0


def targets_table(run: dict[str, Any], verdict: dict[str, Any]) -> str:
    small, large = run["results"]["small"], run["results"]["large"]
    queue, admin = large["pages"]["my_queue"], large["pages"]["admin_changelist"]
    export = large["export"]
    worst_n, worst_key = verdict["worst_queries"]
    over = ", ".join(f"{SHORT[k]} {n}" for k, n in verdict["over_queries"].items()) or "none"
    rows = [
        "| target | measured at " + _rows(large["rows"]) + " | verdict |",
        "|---|---|---|",
        f"| My queue at least {QUEUE_VS_ADMIN:g}{TIMES} faster than the admin changelist | "
        f"My queue {_ms(queue['median_ms'])}, "
        f"admin changelist {_ms(admin['median_ms'])} (medians): **{verdict['ratio']:.1f}{TIMES}** | "
        f"{_verdict(verdict['ratio_ok'])} |",
        f"| Sweep at {_rows(large['rows'])} at most {SWEEP_GROWTH:g}{TIMES} the sweep at {_rows(small['rows'])} | "
        f"{_ms(large['sweep']['median_ms'])} vs {_ms(small['sweep']['median_ms'])} (medians, nothing due): "
        f"**{verdict['growth']:.2f}{TIMES}** | {_verdict(verdict['growth_ok'])} |",
        f"| CSV export of every row: peak memory at most {EXPORT_MB:g} MB | peak RSS of the exporting process "
        f"**{export['peak_rss_mb']:.0f} MB** ({export['rss_before_mb']:.0f} MB before the export started), "
        f"{export['rows']:,} rows in {_ms(export['median_ms'])} | {_verdict(verdict['export_ok'])} |",
        f"| CSV export of 1,000,000 rows in at most 30 s (at least {EXPORT_ROWS_PER_SECOND:,.0f} rows/s) | "
        f"**{verdict['export_rate']:,.0f} rows/s**: {export['rows']:,} rows in {_ms(export['median_ms'])} (median), "
        f"{export.get('cpu_seconds', 0):.1f} s of the exporting process's CPU | "
        f"{_verdict(verdict['export_rate_ok'])} |",
        f"| At most {MAX_QUERIES} queries per page | most: {SHORT[worst_key]} **{worst_n}**; over the target: {over} | "
        f"{_verdict(verdict['queries_ok'])} |",
        *writes_targets(large, verdict),
    ]
    return "\n".join(rows)


def _xlsx_line(large: dict[str, Any]) -> list[str]:
    xlsx = large.get("export_xlsx")
    if not xlsx:
        return []
    return [
        f"- **XLSX export** (`/escalations/?{xlsx['query']}`, xlsxwriter in constant-memory mode): {xlsx['rows']:,} "
        f"rows in {_ms(xlsx['median_ms'])} (median), **{_rate(xlsx):,.0f} rows/s**, {xlsx['bytes'] / 1e6:,.1f} MB, "
        f"peak RSS {xlsx['peak_rss_mb']:.0f} MB; {xlsx.get('cpu_seconds', 0):.1f} s of the process's CPU."
    ]


def _pair(result: dict[str, Any] | None) -> str:
    if result is None:
        return "—"
    return f"{_ms(result['median_ms'])} / {_ms(result['p95_ms'])}"


def figures_table(run: dict[str, Any]) -> str:
    small, large = run["results"]["small"], run["results"]["large"]
    head = (
        f"| measurement | {_rows(small['rows'])}: median / p95 | {_rows(large['rows'])}: median / p95 | "
        f"queries ({_rows(large['rows'])}) | time in SQL | slowest query |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for key, label in PAGES + ADMIN_PAGES:
        s, big = small["pages"][key], large["pages"][key]
        lines.append(
            f"| {label} | {_pair(s)} | {_pair(big)} | {big['queries']} | {_ms(big['sql_ms'])} | "
            f"{_ms(big['slowest_ms'])} |"
        )
    for label, s, big in (
        ("Reminder sweep, nothing due (escalations.reminders.sweep.sweep)", small["sweep"], large["sweep"]),
        ("API create (POST /api/v1/escalations/, a write token), per request", small["creates"], large["creates"]),
    ):
        lines.append(
            f"| {label} | {_pair(s)} | {_pair(big)} | {big['queries']} | {_ms(big['sql_ms'])} | "
            f"{_ms(big['slowest_ms'])} |"
        )
    se, le = small["export"], large["export"]
    lines.append(
        f"| CSV export of every row (`/escalations/?_export=csv`, a lead), {_count(le['n'], 'run')} | {_pair(se)} | "
        f"{_pair(le)} | — | — | — |"
    )
    lines += [
        "",
        f"- **API creates per second** (one client, one request after another): {small['creates']['per_second']:g} "
        f"at {_rows(small['rows'])}, **{large['creates']['per_second']:g}** at {_rows(large['rows'])}.",
        f"- **CSV export**: {le['rows']:,} rows, {le['bytes'] / 1e6:,.0f} MB of CSV, peak RSS "
        f"{le['peak_rss_mb']:.0f} MB ({le['rss_before_mb']:.0f} MB before it started; at {_rows(small['rows'])}: "
        f"peak {se['peak_rss_mb']:.0f} MB). "
        f"Rows per second: {le['rows'] / (le['median_ms'] / 1000):,.0f}.",
        *writes_figures(large),
        *_xlsx_line(large),
        f"- **My queue** was measured for {large['pages']['my_queue']['user']}, the moderator with the median active "
        f"queue ({large['pages']['my_queue']['active_escalations']:,} active escalations; the largest moderator queue "
        f"holds {large['pages']['my_queue']['largest_moderator_queue']:,}). The page shows 50 rows.",
    ]
    return "\n".join(lines)


def writes_figures(large: dict[str, Any]) -> list[str]:
    lines = []
    if large.get("bulk"):
        bulk = large["bulk"]
        lines.append(
            f"- **Bulk endpoint** (`POST /api/v1/escalations/bulk/`, {bulk['size']:,} escalations a call, a write "
            f"token, {_count(bulk['n'], 'call')}, each rolled back after it answered): {_pair(bulk)} a call, "
            f"**{bulk['rows_per_second']:,.0f} escalations/s**, {bulk['queries']} queries a call."
        )
    for run in large.get("imports") or []:
        lines.append(
            f"- **Import** (`importescalations --dry-run`, {run['rows']:,} rows, {run['bytes'] / 1e6:,.1f} MB of "
            f"CSV, a fresh process): {run['seconds']:,.1f} s, **{run['per_second']:,.0f} rows/s**, peak RSS "
            f"**{run['peak_rss_mb']:.0f} MB** ({run['rss_before_mb']:.0f} MB before it started)."
        )
    return lines


def _share(page: dict[str, Any]) -> str:
    return f"{min(page['sql_ms'] / page['median_ms'], 1):.0%}" if page["median_ms"] else "—"


def _top(page: dict[str, Any]) -> list[str]:
    return [f"{ms:8.1f} ms  {where}" for ms, where in (page.get("profile") or {}).get("top", [])]


def profile_table(queue: dict[str, Any] | None, admin: dict[str, Any] | None) -> str:
    """Own time per layer in one profiled request of each page (cProfile slows both alike)."""
    if not queue or not admin:
        return ""
    names = [name for name, _, _ in queue["layers"]]
    names += [name for name, _, _ in admin["layers"] if name not in names]
    mine = {name: (ms, share) for name, ms, share in queue["layers"]}
    theirs = {name: (ms, share) for name, ms, share in admin["layers"]}
    lines = [
        "Where the time of one profiled request goes (cProfile's own time per function, summed by the file's "
        "package; profiling slows both pages alike):",
        "",
        "| layer | My queue | admin changelist |",
        "|---|---|---|",
    ]
    for name in names:
        a, b = mine.get(name, (0.0, 0)), theirs.get(name, (0.0, 0))
        lines.append(f"| {name} | {_ms(a[0])} ({a[1]} %) | {_ms(b[0])} ({b[1]} %) |")
    lines.append(f"| **total** | {_ms(queue['total_ms'])} | {_ms(admin['total_ms'])} |")
    return "\n".join(lines)


def why_section(run: dict[str, Any], verdict: dict[str, Any]) -> str:
    """The evidence for each missed target, from the run itself."""
    small, large = run["results"]["small"], run["results"]["large"]
    parts: list[str] = []
    if not verdict["ratio_ok"]:
        queue, admin = large["pages"]["my_queue"], large["pages"]["admin_changelist"]
        parts += [
            f"### My queue is {verdict['ratio']:.1f}{TIMES} faster than the admin changelist, "
            f"not {QUEUE_VS_ADMIN:g}{TIMES}",
            "",
            f"My queue takes {_ms(queue['median_ms'])}, of which {_ms(queue['sql_ms'])} in the database "
            f"({queue['queries']} queries; the slowest took {_ms(queue['slowest_ms'])}: "
            f"`{_sql(queue['slowest_sql'], 90)}`). The admin changelist takes {_ms(admin['median_ms'])}, of which "
            f"{_ms(admin['sql_ms'])} in the database; its slowest query ({_ms(admin['slowest_ms'])}) is "
            f"`{_sql(admin['slowest_sql'], 120)}`. "
            f"The database's share: {_share(queue)} of My queue's time, {_share(admin)} of the admin's; the rest "
            "is Python.",
            "",
            profile_table(queue.get("profile"), admin.get("profile")),
            "",
            WHY_QUEUE,
            "",
            _details("The functions with the most own time in one My queue request", _code(_top(queue))),
            "",
            _details("The same for one admin changelist request", _code(_top(admin))),
            "",
            _details("EXPLAIN ANALYZE of the admin changelist's slowest query", _code(admin["plan"])),
            "",
        ]
    if not verdict["growth_ok"]:
        parts += [
            f"### The sweep grows {verdict['growth']:.2f}{TIMES} from {_rows(small['rows'])} to {_rows(large['rows'])}",
            "",
            f"Database time per sweep: {_ms(small['sweep']['sql_ms'])} at {_rows(small['rows'])}, "
            f"{_ms(large['sweep']['sql_ms'])} at {_rows(large['rows'])}; slowest query at {_rows(large['rows'])}: "
            f"`{_sql(large['sweep']['slowest_sql'], 160)}`.",
            "",
            _details("EXPLAIN ANALYZE of that query", _code(large["sweep"]["plan"])),
            "",
        ]
    if not verdict["export_rate_ok"]:
        export = large["export"]
        parts += [
            f"### The CSV export writes {verdict['export_rate']:,.0f} rows/s",
            "",
            f"{export['rows']:,} rows in {_ms(export['median_ms'])} (median) of which the exporting process's own "
            f"CPU was {export.get('cpu_seconds', 0):.1f} s: the rest is the database reading and formatting the rows, "
            "and the other processes of a shared machine (its load average is above).",
            "",
        ]
    if not verdict["export_ok"]:
        export = large["export"]
        parts += [
            f"### The export's peak memory is {export['peak_rss_mb']:.0f} MB",
            "",
            f"{export['rss_before_mb']:.0f} MB were resident before the export started (Django, the app, a page "
            f"rendered); the export added {export['peak_rss_mb'] - export['rss_before_mb']:.0f} MB.",
            "",
        ]
    for key, n in verdict["over_queries"].items():
        page = large["pages"][key]
        listing = [f"{i:2d}. {ms:7.1f} ms  {_sql(sql, 150)}" for i, (ms, sql) in enumerate(page["all_sql"], start=1)]
        parts += [
            f"### {SHORT[key]} runs {n} queries, more than {MAX_QUERIES}",
            "",
            *([WHY_QUERIES[key], ""] if key in WHY_QUERIES else []),
            _code(listing),
            "",
        ]
    if not parts:
        return "Every target is met."
    return "\n".join(parts).rstrip()


SLOW_MS = 1000.0

# What a page's queries are for, where the listing alone does not say why there are so many.
# What was changed to narrow the gap, and what the rest is (escalations/tables.py, tables_signature.py).
WHY_QUEUE = (
    "My queue's rows and header are written by one formatter per column (escalations/web/table_rows.py), byte for "
    "byte what django-tables2's per-cell template wrote (tests/web/test_table_rows.py), and the page loads only "
    "the columns its table shows; django-tables2 still defines the columns, their order and the exports. What "
    "is left is the cost of any Django page: the middleware (session, sign-in, two-factor, CSRF, time zone), "
    "the person and their roles, the ORM building three queries and 50 model instances, and the page's "
    "template. Much of the admin changelist's time is its COUNT(*) over the whole table (its time in SQL is in "
    "the table above); served, with every process sharing the same two cores, the two pages were compared "
    "again (the served section)."
)

WHY_QUERIES = {
    "detail": (
        "Every page reads the session, then the user with their roles, time zone, unread count and last sweep in "
        "one query (and writes the session at most once a minute); production reads both from the cache instead. "
        "The detail page records the read in the access log (need-to-know, one INSERT), reads the escalation with "
        "its people, its authority triage and its follow-up links, the rule versions it was judged by (the "
        "rulebook, then the escalation's own rules: two queries), and then each kind of record kept about it with "
        "one indexed query: legal requests, preservation extensions, reports to other destinations, evidence "
        "items, escalations on the same reference, its timeline, the reminder attempts, the cancelled reminders "
        "and what it owes each authority (the register). The count does not grow with the records "
        "(tests/performance/test_queries.py pins it for 1 and 100); the three added by the rules and the register "
        "could go by keeping the rulebook in the cache (it changes only through the rule services) and by reading "
        "the reports to other destinations through the register, which holds them."
    ),
}


def slow_section(run: dict[str, Any]) -> str:
    """Pages whose median passes SLOW_MS at the large size (no target names a time, but a page that
    takes seconds is not "fast at that size"): their size and their five slowest queries."""
    small, large = run["results"]["small"], run["results"]["large"]
    parts = []
    for key, label in PAGES + ADMIN_PAGES:
        page = large["pages"][key]
        if page["median_ms"] < SLOW_MS:
            continue
        before = small["pages"][key]
        worst = sorted(page["all_sql"], key=lambda q: -q[0])[:5]
        parts += [
            f"### {label}: {_ms(page['median_ms'])}",
            "",
            f"{_ms(before['median_ms'])} at {_rows(small['rows'])}, "
            f"{_ms(page['median_ms'])} at {_rows(large['rows'])}; "
            f"{_ms(page['sql_ms'])} of it in {page['queries']} queries. The page is {page['bytes'] / 1e6:,.1f} MB "
            f"with {page.get('table_rows', 0):,} table rows ({before['bytes'] / 1e6:,.2f} MB and "
            f"{before.get('table_rows', 0):,} at {_rows(small['rows'])}). Its slowest queries:",
            "",
            _code([f"{ms:8.1f} ms  {_sql(sql, 200)}" for ms, sql in worst]),
            "",
        ]
    return "\n".join(parts).rstrip() or f"No page takes a second or more at {_rows(large['rows'])}."


def plans_section(run: dict[str, Any]) -> str:
    large = run["results"]["large"]
    blocks = []
    for key, label in PAGES + ADMIN_PAGES:
        page = large["pages"][key]
        body = f"`{_sql(page['slowest_sql'], 400)}`\n\n" + _code(page["plan"])
        blocks.append(_details(f"{label}: {_ms(page['slowest_ms'])}", body))
    sweep = large["sweep"]
    blocks.append(
        _details(
            f"Reminder sweep: {_ms(sweep['slowest_ms'])}",
            f"`{_sql(sweep['slowest_sql'], 400)}`\n\n" + _code(sweep["plan"]),
        )
    )
    return "\n\n".join(blocks)


def dataset_section(run: dict[str, Any]) -> str:
    lines = []
    for label in ("small", "large"):
        result = run["results"][label]
        meta = result["dataset"]
        statuses = ", ".join(f"{status} {n:,}" for status, n in meta["statuses"].items())
        seconds = meta["seconds"]
        made = (
            f"generated in **{seconds['total']:.0f} s** (COPY {seconds['copy']:.0f} s, indexes "
            f"{seconds['indexes']:.0f} s, VACUUM ANALYZE {seconds['vacuum_analyze']:.0f} s)"
        )
        reused = " — reused by this run" if meta.get("reused") else ""
        lines.append(
            f"- **{_rows(result['rows'])}** (`{meta.get('database', '')}`): {meta['audit_events']:,} audit events; "
            f"{statuses}; {made} at {meta['generated_at']}{reused}."
        )
    return "\n".join(lines)


def machine_section(run: dict[str, Any]) -> str:
    m = run["machine"]
    pg = m["postgres"]
    return "\n".join(
        [
            f"- Date: {m['date']}; commit {m['commit']}; the whole run took {run['seconds'] / 60:.1f} min.",
            f"- CPU: {m['cpu']}, {m['cpus']} CPUs; RAM {m['memory_gb']:g} GB; Linux {m['kernel']}.",
            f"- PostgreSQL {pg['version']} on the same machine (shared_buffers {pg.get('shared_buffers')}, work_mem "
            f"{pg.get('work_mem')}, effective_cache_size {pg.get('effective_cache_size')}: the defaults).",
            f"- Python {m['python']}, Django {m['django']}, psycopg {m['psycopg']}.",
            f"- Load average (1, 5, 15 min) before the run: {run['load_before']}; after: {run['load_after']}. The "
            "machine is shared with other engineers' test suites, so the figures are noisy: compare ratios, "
            "not single milliseconds.",
        ]
    )


def catchup_section(run: dict[str, Any]) -> str:
    """The catch-up after an outage (bench/catchup.py), against its target."""
    result = run.get("catchup")
    if not result:
        return "Not measured in this run (`BENCH_CATCHUP=0`, or a run from before it existed)."
    mail, app = result["email"], result["in_app"]
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in result["reminders"].items())
    rows = [
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| {result['escalations']:,} reminders due at once, every one delivered in-app and by email within "
        f"{result['target_seconds']:g} s of one worker's start | **{result['seconds']:,.1f} s** | "
        f"{_verdict(result['met']) if result['escalations'] >= CATCHUP_REMINDERS else 'not judged: a smaller run'} |",
        "",
        f"- Emails accepted by the SMTP sink: **{result['emails']:,}** ({result['email_message_ids']:,} Message-IDs, "
        f"{result['same_id_resends']} sent again under the same Message-ID), carrying {mail['items']:,} reminders: "
        f"lost {mail['lost']}, doubled {mail['doubled']}, unexpected {mail['unexpected']}.",
        f"- In-app notifications: **{result['notifications']:,}**, carrying {app['items']:,} reminders: "
        f"lost {app['lost']}, doubled {app['doubled']}, unexpected {app['unexpected']}.",
        f"- Reminders recorded: {kinds}.",
        f"- The worker's CPU time (user and system, its pool process included): "
        f"{result.get('worker_cpu_seconds', '—')} s; PostgreSQL's is not counted.",
        f"- {result['people']:,} recipients; load average {result['load_before']} before, "
        f"{result['load_after']} after (1, 5, 15 min); measured {result['measured_at']}.",
    ]
    return "\n".join(rows)


def command(cfg: Config) -> str:
    """The command that reproduces this run: `make bench` with the BENCH_ variables it was given."""
    names = sorted(name for name in os.environ if name.startswith("BENCH_") and name not in ("BENCH_JSON",))
    if "BENCH_OUTPUT_DIR" in names:
        names.remove("BENCH_OUTPUT_DIR")
    prefix = " ".join(f"{name}={os.environ[name]}" for name in names)
    return f"{prefix} make bench".strip()


def write(cfg: Config, run: dict[str, Any]) -> list[Path]:
    verdict = evaluate(run)
    small, large = run["results"]["small"], run["results"]["large"]
    bars = [
        plot.Bar(
            SHORT[key],
            (small["pages"][key]["median_ms"], small["pages"][key]["p95_ms"]),
            (large["pages"][key]["median_ms"], large["pages"][key]["p95_ms"]),
        )
        for key, _ in PAGES + ADMIN_PAGES
    ]
    others = (("Sweep, nothing due", "sweep"), ("API create (each)", "creates"), ("CSV export, all", "export"))
    for label, name in others:
        bars.append(
            plot.Bar(
                label,
                (small[name]["median_ms"], small[name]["p95_ms"]),
                (large[name]["median_ms"], large[name]["p95_ms"]),
            )
        )
    title = f"Escalation tracker at {_rows(small['rows'])} and {_rows(large['rows'])}"
    desc = (
        "Horizontal bar chart, logarithmic time axis: the median time of each page, of the API list and create, of a "
        "reminder sweep with nothing due and of a CSV export of every row, for both data-set sizes, with the 95th "
        "percentile marked. "
        + "; ".join(f"{bar.label}: {_ms(bar.large[0])} at {_rows(large['rows'])}" for bar in bars if bar.large)
        + ". docs/benchmarks.md holds every figure in tables."
    )
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    svg_path = cfg.output_dir / SVG_NAME
    svg_path.write_text(plot.svg(bars, title, desc, _rows(small["rows"]), _rows(large["rows"])))
    text = Template(TEMPLATE.read_text()).substitute(
        date=run["machine"]["date"],
        small_rows=_rows(small["rows"]),
        large_rows=_rows(large["rows"]),
        targets=targets_table(run, verdict),
        figures=figures_table(run),
        why=why_section(run, verdict),
        slow=slow_section(run),
        plans=plans_section(run),
        catchup=catchup_section(run),
        dataset=dataset_section(run),
        machine=machine_section(run),
        command=run.get("command") or command(cfg),
        repeat=cfg.repeat,
        sweep_repeat=cfg.sweep_repeat,
        exports=_count(cfg.export_repeat, "export"),
        creates=cfg.creates,
        svg=SVG_NAME,
    )
    md_path = cfg.output_dir / MD_NAME
    # The served figures come from `make loadtest`, which this run does not measure: kept as they are, and
    # the targets of scale written again from this run's figures beside the last load run's.
    md_path.write_text(loadtest_report.keep(md_path, text))
    scale_targets.rewrite(md_path)
    return [md_path, svg_path]


if __name__ == "__main__":
    # Write the document and the plot again from the last run's figures (BENCH_JSON), measuring nothing.
    import json

    config = Config.from_env()
    print(write(config, json.loads(config.json_path.read_text())))
