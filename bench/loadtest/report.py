"""The load run's section of docs/benchmarks.md: made from one run's results, put in place of the
previous one (or before "How it was measured" the first time). `make bench` rewrites the rest of the
document and keeps this section (bench.report calls keep()).

`python -m bench.loadtest.report` writes the section again from the last run (LOADTEST_JSON)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import scale_targets
from .config import MIX

BEGIN = "<!-- loadtest:begin (written by `make loadtest`, bench/loadtest; `make bench` keeps it) -->"
END = "<!-- loadtest:end -->"
ANCHOR = "## How it was measured"
TIMES = "\N{MULTIPLICATION SIGN}"
# Issue 21: My queue served at least this many times the admin changelist's requests per second.
QUEUE_VS_ADMIN = 5.0

_BLOCK = re.compile(re.escape(BEGIN.split(" (")[0]) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)


def extract(document: str) -> str:
    """The load section of a document, markers included ('' when it has none)."""
    found = _BLOCK.search(document)
    return found.group(0) if found else ""


def splice(document: str, section: str) -> str:
    """`document` with `section` in place of its load section, or before ANCHOR, or at the end."""
    section = section if section.endswith("\n") else section + "\n"
    if _BLOCK.search(document):
        return _BLOCK.sub(lambda _: section, document, count=1)
    at = document.find("\n" + ANCHOR)
    if at >= 0:
        return document[: at + 1] + section + "\n" + document[at + 1 :]
    return document.rstrip("\n") + "\n\n" + section


def keep(previous: Path, document: str) -> str:
    """The new `document` with the load section `previous` (the file it replaces) had, if any."""
    if not previous.exists():
        return document
    section = extract(previous.read_text())
    return splice(document, section) if section else document


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    if value >= 100:
        return f"{value:,.0f} ms"
    return f"{value:.1f} ms"


def _errors(result: dict[str, Any]) -> str:
    parts = [f"{n:,}{TIMES} {status}" for status, n in result["unexpected"].items()]
    if result["socket_errors"]:
        parts.append(f"{result['socket_errors']:,} socket")
    return ", ".join(parts) if parts else "0"


def _range(values: list[int]) -> str:
    if not values:
        return "?"
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def table(phase: dict[str, dict[str, Any]], clients: dict[str, int] | None) -> str:
    head = "| page | who | " + ("clients | " if clients else "") + "requests/s | p50 | p95 | p99 | errors | timeouts |"
    cpu = clients is None
    if cpu:
        head += " CPU per request |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for key, label, who, _ in MIX:
        result = phase[key]
        cells = [label, who]
        if clients:
            cells.append(str(clients[key]))
        cells += [
            f"{result['per_second']:,.1f}",
            _ms(result["p50_ms"]),
            _ms(result["p95_ms"]),
            _ms(result["p99_ms"]),
            _errors(result),
            f"{result['timeouts']:,}",
        ]
        if cpu:
            cells.append(_ms(result.get("cpu_ms_per_request")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(phase: dict[str, dict[str, Any]]) -> str:
    queue, admin = phase["my_queue"]["per_second"], phase["admin_changelist"]["per_second"]
    if not admin:
        return "the admin changelist served nothing"
    ratio = queue / admin
    verdict = "met" if ratio >= QUEUE_VS_ADMIN else "missed"
    return (
        f"My queue served **{ratio:.1f}{TIMES}** the admin changelist's requests per second "
        f"(issue 21 asks for at least {QUEUE_VS_ADMIN:g}{TIMES}: {verdict})"
    )


def section(run: dict[str, Any]) -> str:
    cfg, machine, people = run["config"], run["machine"], run["people"]
    threads = cfg["threads"]
    postgres = machine["postgres"]
    out = [
        BEGIN,
        "## Served, under load (`make loadtest`)",
        "",
        f"Measured on {machine['date']} on {machine['cpu']} ({machine['cpus']} cores, {machine['memory_gb']} GB; "
        f"load average {run['load_before']} before, {run['load_after']} after), commit {machine['commit']}: "
        f"**{run['rows']:,} rows** (a copy of the bench database `{cfg['bench_database']}`), gunicorn "
        f"{run['gunicorn']} with `gunicorn.conf.py` under `settings.prod`, **{cfg['workers']} workers {TIMES} "
        f"{threads} threads** (gthread), PostgreSQL {postgres['version']} (shared_buffers "
        f"{postgres.get('shared_buffers', '?')}), Redis as cache and broker; {run['wrk']}, "
        f"**{cfg['clients']} concurrent clients, {cfg['seconds']} s** per measurement, a request unanswered "
        f"after {cfg['timeout']} s counted as a timeout. The server, PostgreSQL and wrk share the machine's cores "
        "(and, on a shared machine, other work: see the load average).",
        "",
        f"### Each page alone: {cfg['clients']} clients on it",
        "",
        table(run["alone"], None),
        "",
        _ratio(run["alone"]) + ".",
        "",
        f"### Everyone at once: {cfg['clients']} clients shared out",
        "",
        table(run["mixed"], run["clients"]),
        "",
        _ratio(run["mixed"]) + ", both under the same load.",
        "",
        "How:",
        "",
        f"- Requests/s counts the answers with the expected status (200; 201 for a create) within "
        f"{cfg['timeout']} s, over the measurement's duration; p50/p95/p99 are wrk's latency percentiles "
        f"of those answers; errors are answers with any other status and broken connections; timeouts "
        f"are requests answered only after {cfg['timeout']} s (gunicorn's worker timeout), in no other "
        "column. Requests still unanswered when a measurement ends are in none.",
        f"- People sign in over HTTP before the load, as a browser behind the TLS proxy would "
        f"(`X-Forwarded-Proto: https`, CSRF token, the `__Host-` cookies): {len(people['moderators'])} "
        f"moderators with their password; {len(people['leads'])} leads and the superuser with password and "
        "then the code of an authenticator (TOTP) the run gives them, since `REQUIRE_2FA` is on. The "
        "people are `bench/generate.py`'s. wrk (`bench/loadtest/load.lua`) sends each person's session "
        "cookie; a page's requests go to its people in turn.",
        f"- My queue: the moderators' own; they are the {len(people['moderators'])} whose active queues are "
        f"the median ones ({_range(people.get('queues', []))} active escalations each; the largest "
        f"moderator's queue holds {people.get('largest_queue', 0):,}), as `make bench` picks its moderator. "
        f"Escalation page: {people['detail_pages']} escalations, each "
        "moderator's most recent assignments. All escalations: the unfiltered first page. Dashboard: the "
        "leads'. API create: a new standard escalation per request (its own reference and "
        "`Idempotency-Key`) with a write-scoped service token; `API_TOKEN_RATE` is raised for this run's "
        "server only (600/min per token is a policy limit, not a capacity). Admin changelist: Django's "
        "changelist for Escalation as the bench's superuser.",
        "- CPU per request: the CPU time (user and system) gunicorn's workers used from the start of a "
        "page's measurement until they were idle again, divided by the requests they served (wrk's count "
        "and the one in flight on each connection at the end); PostgreSQL's share is not in it. It depends "
        "little on what else the machine runs: two dedicated cores serve at most about 2 s / (CPU per "
        "request) pages a second, less the database's share.",
        "- Each page alone: one wrk with every client on that page, one page after another. Everyone at "
        "once: one wrk per page, all started together, with the clients in the `clients` column. Each "
        "measurement starts once gunicorn's workers are idle again (the server goes on working through "
        "requests a client stopped waiting for).",
        f"- The database is a fresh copy of the bench database for each run (`CREATE DATABASE ... TEMPLATE`, "
        f"{run['copy_seconds']:.0f} s), migrated, so the pipeline's creates never change what `make bench` "
        "measures. No Celery worker runs: the tasks the creates queue wait in Redis (its database is emptied "
        "before and after the run). gunicorn writes its JSON access log as in production.",
        "",
        "This run:",
        "",
        "```sh",
        run["command"],
        "```",
        "",
        "`make loadtest` needs wrk (`apt-get install wrk`), PostgreSQL with the bench database (made as "
        "`make bench` makes it when missing: `BENCH_DATABASE_URL`, `BENCH_ROWS`, `BENCH_SEED`) and Redis. "
        "Variables: `LOADTEST_CLIENTS` (8), `LOADTEST_SECONDS` (15), `LOADTEST_WORKERS` (4), "
        "`LOADTEST_THREADS` (gunicorn.conf.py's default, 4), `LOADTEST_TIMEOUT` (30 s), `LOADTEST_PORT` "
        "(18700), `LOADTEST_REDIS_URL` (redis://127.0.0.1:6379/13, emptied), `LOADTEST_DATABASE_URL` (the "
        "copy: `<bench database>_loadtest`), `LOADTEST_KEEP_DATABASE` (1 keeps the copy afterwards), "
        "`LOADTEST_JSON` (var/loadtest-results.json). `.venv/bin/python -m bench.loadtest.report` writes "
        "this section again from the last run's figures.",
        END,
    ]
    return "\n".join(out) + "\n"


def write(path: Path, run: dict[str, Any]) -> Path:
    document = path.read_text() if path.exists() else "# Benchmarks\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(splice(document, section(run)))
    # The targets of scale put this run's served figures beside the last `make bench` run's.
    scale_targets.rewrite(path)
    return path


if __name__ == "__main__":
    import json

    from .config import LoadConfig

    config = LoadConfig.from_env()
    print(write(config.bench.output_dir / "benchmarks.md", json.loads(config.json_path.read_text())))
