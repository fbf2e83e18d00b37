"""The section of docs/benchmarks.md that puts the page, session and dashboard targets beside the
figures measured before the work on them, written from the last runs:

- var/bench-pages-base.json and var/bench-pages.json: `python -m bench.pages_run` with the code
  before (a checkout of the base commit, run with the same interpreter) and after, one right after
  the other on the same databases, so that their ratios share the machine's load;
- var/loadtest-results.json: `make loadtest` (the served figures), when it was run.

`python -m bench.before_after` rewrites the section in place (between its markers) or adds it
before "How it was measured"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import ROOT

BEGIN = "<!-- before-after:begin (written by `python -m bench.before_after`) -->"
END = "<!-- before-after:end -->"
ANCHOR = "## How it was measured"
TIMES = "\N{MULTIPLICATION SIGN}"

# The figures the work started from (in-process median, its SQL; served requests/s and p50), measured
# on this machine at 1,000,000 rows before any of it.
BEFORE = {
    "my_queue": ("92 ms, 11 ms SQL", "18.1/s, p50 412 ms"),
    "admin_changelist": ("154 ms, 88 ms SQL", "10.8/s, p50 725 ms"),
    "list": ("133 ms, 8 ms SQL", "14.3/s, p50 530 ms"),
    "detail": ("41 ms, 12 ms SQL", "51.8/s, p50 149 ms"),
    "dashboard": ("2,020 ms (208 ms at 10,000 rows)", "0.5/s: all 8 requests timed out at 2 s"),
}
LABELS = {
    "my_queue": "My queue (50 rows)",
    "list": "All escalations",
    "detail": "Escalation page",
    "dashboard": "Dashboard",
    "admin_changelist": "Admin changelist (100 rows)",
}


def _load(name: str) -> dict[str, Any] | None:
    path = ROOT / "var" / name
    return json.loads(path.read_text()) if path.exists() else None


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms")


def _in_process(run: dict[str, Any] | None, key: str) -> str:
    if run is None:
        return "not measured"
    page = run["results"]["large"]["pages"][key]
    ratio = page["median_ms"] / page["sql_ms"] if page["sql_ms"] else 0
    return f"{_ms(page['median_ms'])}, {_ms(page['sql_ms'])} SQL ({ratio:.1f}{TIMES}), {page['queries']} queries"


def _served(load: dict[str, Any] | None, key: str) -> str:
    if load is None or key not in load.get("alone", {}):
        return "not measured"
    got = load["alone"][key]
    return (
        f"{got['per_second']:.1f}/s, p50 {_ms(got['p50_ms'])}, p99 {_ms(got['p99_ms'])}, max {_ms(got['max_ms'])}, "
        f"timeouts {got['timeouts']}"
    )


def section() -> str:
    base, after, load = _load("bench-pages-base.json"), _load("bench-pages.json"), _load("loadtest-results.json")
    lines = [BEGIN, "## Pages, sessions and the dashboard: before and after", ""]
    if after is not None:
        lines += [
            f"In-process at {after['results']['large']['rows']:,} rows (`python -m bench.pages_run`, "
            f"{after.get('seconds', 0):.0f} s; load average before {after['load_before']}, after "
            f"{after['load_after']}). The column *before, same session* is the code before this work (a checkout of "
            "its base commit, the same interpreter) measured on the same databases minutes earlier (load average "
            f"before {base['load_before'] if base else '—'}, after {base['load_after'] if base else '—'}). The "
            "machine (2 cores) was shared with other jobs throughout, at a load average of 10 to 20: the "
            "absolute times are several times those of an idle machine (the first figures), their ratios "
            "much less so.",
            "",
        ]
    lines += [
        "| page | first measured (in-process; served) | before, same session (in-process) | now (in-process) "
        "| now, served |",
        "|---|---|---|---|---|",
    ]
    for key, label in LABELS.items():
        first_in, first_served = BEFORE[key]
        lines.append(
            f"| {label} | {first_in}; {first_served} | {_in_process(base, key)} | {_in_process(after, key)} | "
            f"{_served(load, key)} |"
        )
    if after is not None:
        small, large = after["results"]["small"]["pages"]["dashboard"], after["results"]["large"]["pages"]["dashboard"]
        growth = large["median_ms"] / small["median_ms"] if small["median_ms"] else 0
        lines += [
            "",
            f"- Dashboard at {after['results']['large']['rows']:,} rows against "
            f"{after['results']['small']['rows']:,}: {_ms(large['median_ms'])} vs {_ms(small['median_ms'])} "
            f"(**{growth:.2f}{TIMES}**; target at most 1.5{TIMES} and under 150 ms).",
        ]
        queue, admin = (
            after["results"]["large"]["pages"]["my_queue"],
            after["results"]["large"]["pages"]["admin_changelist"],
        )
        lines.append(
            f"- My queue against the admin changelist, in-process: {_ms(queue['median_ms'])} vs "
            f"{_ms(admin['median_ms'])} (**{admin['median_ms'] / queue['median_ms']:.1f}{TIMES}** faster)."
        )
    if load is not None and "my_queue" in load.get("alone", {}) and "admin_changelist" in load["alone"]:
        q, a = load["alone"]["my_queue"]["per_second"], load["alone"]["admin_changelist"]["per_second"]
        lines.append(
            f"- Served (gunicorn, {load['config']['workers']} workers, {load['config']['clients']} clients, "
            f"{load['config']['seconds']} s a page, load average before {load.get('load_before', '—')}): My queue "
            f"{q:.1f}/s against the admin changelist's {a:.1f}/s (**{q / a:.1f}{TIMES}**; target at least 5{TIMES})."
        )
    lines += [
        "",
        "What changed, each a measured cause: the escalation table's rows are written in Python instead of "
        "django-tables2's per-cell template (same bytes; `tests/web/test_tables.py`), the list's filter "
        "selects likewise (`tests/core/test_fast_select.py`), moments formatted with strftime, the bulk form's "
        "assignee options written from two columns; a partial index for the releases awaiting approval (the "
        "dashboard's list of them read the whole table: 733 ms at a million rows); production "
        "reads the session (cached_db) and the person from Redis; the dashboard counts its figures of now "
        "over partial indexes at every visit. What grows with the table (the period's figures, the people, "
        "the charts, and the holds ending within 30 days or ended: an index-only scan of some 90,000 entries "
        "at a million rows) is counted and rendered once a minute by beat (`refresh-dashboard`, about 5 s "
        "of a worker's time per period looked at, measured during the load run) and kept in the cache as "
        "HTML, with the time it was counted; a visit inserts it (rendering the people's table and the "
        "charts had been most of the page's time at any size). The served figures were "
        "taken while other jobs kept both cores busy (the load average above): gunicorn's workers got a "
        "fraction of a core each, so they say little about the code; the in-process ratios, measured "
        "minutes apart at a similar load, say more.",
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


def keep(previous: Path, document: str) -> str:
    """The new `document` with this section as `previous` (the file it replaces) had it, if any
    (`make bench` rewrites the rest of the file)."""
    if not previous.exists():
        return document
    old = previous.read_text()
    start, end = old.find(BEGIN.split(" (")[0]), old.find(END)
    if start < 0 or end < start:
        return document
    return splice(document, old[start : end + len(END)] + "\n")


def main() -> None:
    path = ROOT / "docs" / "benchmarks.md"
    path.write_text(splice(path.read_text() if path.exists() else "# Benchmarks\n", section()))
    print(path)


if __name__ == "__main__":
    main()
