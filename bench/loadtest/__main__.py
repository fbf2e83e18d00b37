"""`make loadtest`: see bench/loadtest/__init__.py. Prints each measurement as it ends and writes
docs/benchmarks.md's load section and var/loadtest-results.json."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import database, machine
from ..__main__ import run_child
from ..config import ROOT, database_name
from . import report, stack, wrk
from .config import MIX, LoadConfig, split


def log(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


def command() -> str:
    names = sorted(
        name for name in os.environ if name.startswith(("LOADTEST_", "BENCH_")) and name not in ("LOADTEST_JSON",)
    )
    return " ".join([*(f"{name}={os.environ[name]}" for name in names), "make loadtest"])


def prepare_bench_database(cfg: LoadConfig) -> int:
    """The bench database with the asked-for data set: reused when it holds it, else made as `make
    bench` makes it (migrated, generated). Returns its rows."""
    bench = cfg.bench
    generate = database.prepare(bench.url, bench.rows, bench.seed, bench.regenerate)
    name = database_name(bench.url)
    if generate:
        log(f"generating {bench.rows:,} rows in {name} (a million take about a quarter of an hour)")
    else:
        log(f"reusing {name} ({bench.rows:,} rows)")
    run_child(bench, bench.url, bench.rows, generate, mode="prepare")
    return bench.rows


def request_lines(paths_by_person: list[tuple[str, list[str]]]) -> list[str]:
    """wrk's request file for a GET page: one line per request in turn, interleaving the people so
    that consecutive requests come from different people."""
    longest = max(len(paths) for _, paths in paths_by_person)
    lines = []
    for index in range(longest):
        for cookie, paths in paths_by_person:
            lines.append(f"{paths[index % len(paths)]}\t{cookie}")
    return lines


def check_page(person: stack.Person, path: str) -> None:
    answer = person.get(path)
    if answer.status != 200 or 'name="password"' in answer.body:
        raise stack.StackError(f"{path} answered {answer.status} {answer.location} before the load, not the page")


def measure(
    cfg: LoadConfig, web: stack.Web, files: dict[str, Path], clients: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """One wrk per page in `clients`, all started together on an idle server; their results by page.
    With one page, also the CPU time gunicorn's workers spent per request it served."""
    waited = web.settle()
    if waited > 1:
        log(f"  (waited {waited:.0f} s for the server to finish the requests of the last measurement)")
    cpu_before, workers_before = web.cpu_seconds()
    started = {
        key: wrk.start(cfg.port, kind, path, clients[key], cfg.seconds, cfg.timeout)
        for key, (kind, path) in ((k, _kind_file(k, files)) for k in clients)
    }
    results = {}
    for key, proc in started.items():
        result = wrk.finish(proc, _kind_file(key, files)[0], limit=cfg.seconds + cfg.timeout + 60)
        results[key] = result.as_dict()
        log(
            f"  {key}: {result.per_second:.1f}/s, p50 {result.p50_ms} ms, p95 {result.p95_ms} ms, "
            f"p99 {result.p99_ms} ms, errors {result.errors}, timeouts {result.timeouts}"
        )
    # The requests still in flight when wrk stopped (one per connection) are served to the end.
    web.settle()
    cpu_after, workers_after = web.cpu_seconds()
    if len(clients) == 1:
        [(key, n)] = clients.items()
        served = results[key]["requests"] + n
        # A worker replaced meanwhile (gunicorn's max_requests) takes its CPU time with it: no figure.
        same = workers_before == workers_after
        results[key]["cpu_ms_per_request"] = round((cpu_after - cpu_before) * 1000 / served, 1) if same else None
    return results


def _kind_file(key: str, files: dict[str, Path]) -> tuple[str, Path]:
    return ("post" if key == "api_create" else "get"), files[key]


def gunicorn_version() -> str:
    try:
        from importlib.metadata import version

        return version("gunicorn")
    except Exception:  # only for the report
        return "?"


def main() -> None:
    cfg = LoadConfig.from_env()
    wrk.binary()
    for problem in (stack.postgres_problem(cfg.bench.url), stack.redis_problem(cfg.redis_url)):
        if problem:
            raise SystemExit(f"loadtest: {problem}")
    started = time.perf_counter()
    load_before = machine.loadavg()
    rows = prepare_bench_database(cfg)
    logs = ROOT / "var" / "loadtest"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    with ExitStack() as cleanup:
        scratch = Path(tempfile.mkdtemp(prefix="escalations-loadtest-"))
        os.chmod(scratch, 0o700)  # session cookies and the token are written here for wrk
        cleanup.callback(shutil.rmtree, scratch, True)
        log(f"copying {database_name(cfg.bench.url)} to {database_name(cfg.url)}")
        copy_seconds = stack.copy_database(cfg.bench.url, cfg.url)
        if not cfg.keep_database:
            cleanup.callback(stack.drop_database, cfg.url)
        stack.flush_redis(cfg.redis_url)
        cleanup.callback(stack.flush_redis, cfg.redis_url)
        env = stack.process_env(
            {
                "DJANGO_SETTINGS_MODULE": "settings.prod",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": cfg.url,
                "CELERY_BROKER_URL": cfg.redis_url,
                "CACHE_URL": cfg.redis_url,
                "SITE_URL": f"https://127.0.0.1:{cfg.port}",
                "GUNICORN_BIND": f"127.0.0.1:{cfg.port}",
                "WEB_CONCURRENCY": str(cfg.workers),
                **({"GUNICORN_THREADS": str(cfg.threads)} if cfg.threads else {}),
                "STATIC_ROOT": str(scratch / "static"),
                # A policy limit (600/min per token), not a capacity: the pipeline measures the app.
                "API_TOKEN_RATE": "100000000/min",
                "PYTHONUNBUFFERED": "1",
            }
        )
        log("migrate the copy, collectstatic")
        stack.run([str(stack.ENTRYPOINT), "migrate"], env, logs / "migrate.log")
        stack.manage(env, logs / "collectstatic.log", "collectstatic", "--noinput")
        password = secrets.token_urlsafe(24)
        people = json.loads(
            stack.python_module("bench.loadtest.people", {**env, "LOADTEST_PASSWORD": password}, logs / "people.log")
            .strip()
            .splitlines()[-1]
        )
        # Only gunicorn's workers share their Prometheus figures through files (as entrypoint.sh says).
        (scratch / "metrics").mkdir()
        web = stack.Web({**env, "PROMETHEUS_MULTIPROC_DIR": str(scratch / "metrics")}, logs / "web.log")
        threads_shown = cfg.threads or 4
        log(f"start gunicorn: {cfg.workers} workers x {threads_shown} threads on 127.0.0.1:{cfg.port}")
        web.start()
        cleanup.callback(web.stop)
        stack.wait_for(cfg.port, web)

        log("sign in: moderators with a password, leads and the admin with a password and a code")
        moderators = [
            (stack.sign_in(cfg.port, m["username"], password, None), m["detail_ids"]) for m in people["moderators"]
        ]
        leads = [stack.sign_in(cfg.port, lead["username"], password, lead["totp_key"]) for lead in people["leads"]]
        admin = stack.sign_in(cfg.port, people["admin"]["username"], password, people["admin"]["totp_key"])
        gets: dict[str, list[tuple[stack.Person, list[str]]]] = {
            "my_queue": [(p, ["/escalations/mine/"]) for p, _ in moderators],
            "detail": [(p, [f"/escalations/{pk}/" for pk in ids]) for p, ids in moderators],
            "list": [(p, ["/escalations/"]) for p in leads],
            "dashboard": [(p, ["/dashboard/"]) for p in leads],
            "admin_changelist": [(admin, ["/admin/escalations/escalation/"])],
        }
        files: dict[str, Path] = {}
        for key, by_person in gets.items():
            for person, paths in by_person:
                check_page(person, paths[0])
            files[key] = scratch / f"{key}.requests"
            lines = request_lines([(person.cookie_header, paths) for person, paths in by_person])
            files[key].write_text("\n".join(lines) + "\n")
        knowledge_at = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        files["api_create"] = scratch / "api_create.requests"
        files["api_create"].write_text(f"{people['token']}\nloadtest-{secrets.token_hex(4)}\n{knowledge_at}\n")
        first = wrk.start(cfg.port, "post", files["api_create"], 1, 1, cfg.timeout)
        if wrk.finish(first, "post", limit=60).ok == 0:
            raise stack.StackError("the API answered no create with 201 before the load (see var/loadtest/web.log)")

        log(f"each page alone: {cfg.clients} clients, {cfg.seconds} s each")
        alone = {}
        for key, *_ in MIX:
            alone.update(measure(cfg, web, files, {key: cfg.clients}))
            web.alive()
        clients = split(cfg.clients)
        log(f"everyone at once for {cfg.seconds} s: " + ", ".join(f"{k} {n}" for k, n in clients.items()))
        mixed = measure(cfg, web, files, clients)
        web.alive()

    run = {
        "config": {
            "clients": cfg.clients,
            "seconds": cfg.seconds,
            "workers": cfg.workers,
            "threads": threads_shown,
            "timeout": cfg.timeout,
            "bench_database": database_name(cfg.bench.url),
            "database": database_name(cfg.url),
        },
        "rows": rows,
        "machine": machine.describe(cfg.bench.url),
        "load_before": load_before,
        "load_after": machine.loadavg(),
        "wrk": wrk.version(),
        "gunicorn": gunicorn_version(),
        "copy_seconds": copy_seconds,
        "seconds": round(time.perf_counter() - started, 1),
        "people": {
            "moderators": [m["username"] for m in people["moderators"]],
            "leads": [lead["username"] for lead in people["leads"]],
            "admin": people["admin"]["username"],
            "detail_pages": sum(len(m["detail_ids"]) for m in people["moderators"]),
            "queues": [m["queue"] for m in people["moderators"]],
            "largest_queue": people["largest_queue"],
        },
        "alone": alone,
        "clients": clients,
        "mixed": mixed,
        "command": command(),
    }
    cfg.json_path.parent.mkdir(parents=True, exist_ok=True)
    cfg.json_path.write_text(json.dumps(run, indent=1, default=str))
    written = report.write(cfg.bench.output_dir / "benchmarks.md", json.loads(cfg.json_path.read_text()))
    log(f"wrote {written} and {cfg.json_path} in {run['seconds']:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except (stack.StackError, wrk.WrkError) as failure:
        raise SystemExit(f"loadtest: FAILED: {failure}") from None
