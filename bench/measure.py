"""Timings, query counts and plans, in the process that runs Django against one bench database.

Pages are requested in-process with django.test.Client (the whole middleware stack, templates
rendered, no network or WSGI server), signed in with force_login. Each measurement: one warm-up
request (templates and per-process caches), one request under CaptureQueriesContext for the query
count and the slowest query (whose plan is then taken with EXPLAIN (ANALYZE, BUFFERS)), then
`repeat` timed requests without query capture. Times are wall-clock milliseconds.
"""

from __future__ import annotations

import cProfile
import itertools
import json
import pstats
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.accounts import tokens
from escalations.core.permissions import LEAD, MODERATOR
from escalations.models import ACTIVE_STATUSES, Escalation, Status, TokenScope
from escalations.reminders import sweep as reminders

from .config import ROOT
from .generate import ADMIN_USERNAME
from .stats import summary

PLAN_LINES = 40
SITE_PACKAGES = sysconfig.get_paths()["purelib"] + "/"


def _consume(response: Any) -> int:
    """Read the whole body (a streamed one included); its size in bytes."""
    if getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def explain(sql: str) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a SELECT, as text lines (at most PLAN_LINES)."""
    if not sql.lstrip().upper().startswith("SELECT"):
        return []
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        lines = [row[0] for row in cursor.fetchall()]
    return lines[:PLAN_LINES] + (["..."] if len(lines) > PLAN_LINES else [])


# Transaction control that Django also logs (since 4.2); not counted as queries.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def is_query(sql: str) -> bool:
    return not sql.strip().upper().startswith(TRANSACTION_CONTROL)


def _queries(run: Callable[[], Any], runs: int = 3) -> dict[str, Any]:
    """Run `runs` times with every statement captured: how many queries (transaction control apart),
    their time in the database, the slowest one and its plan. Each statement's time is its fastest
    of the runs, so that one stall of a shared machine does not name the wrong query."""
    captures = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            run()
        captures.append([(float(q.get("time") or 0) * 1000, q["sql"] or "") for q in ctx.captured_queries])
    captured = captures[0]
    if all(len(other) == len(captured) for other in captures):
        captured = [(min(c[i][0] for c in captures), sql) for i, (_, sql) in enumerate(captured)]
    queries = [(ms, sql) for ms, sql in captured if is_query(sql)]
    slowest = max(queries, key=lambda q: q[0], default=None)
    result: dict[str, Any] = {
        "queries": len(queries),
        "statements": len(captured),
        "sql_ms": round(sum(ms for ms, _ in captured), 1),
        "slowest_sql": "",
        "slowest_ms": None,
        "plan": [],
    }
    if slowest is not None:
        result["slowest_ms"] = round(slowest[0], 1)
        result["slowest_sql"] = slowest[1]
        result["plan"] = explain(slowest[1])
    result["all_sql"] = [(round(ms, 1), sql[:400]) for ms, sql in queries]
    return result


# Where a request's Python time goes, by the file that spent it (cProfile's own time per function).
LAYERS = (
    ("database driver (psycopg)", "/psycopg"),
    ("Django ORM (django/db)", "/django/db/"),
    ("templates (django/template)", "/django/template/"),
    ("django-tables2", "/django_tables2/"),
    ("django-filter", "/django_filters/"),
    ("REST framework", "/rest_framework/"),
    ("Django admin", "/django/contrib/admin/"),
    ("other Django", "/django/"),
    ("the app (escalations/)", "/escalations/"),
)


def _layer(filename: str) -> str:
    return next((name for name, marker in LAYERS if marker in filename), "other (stdlib, libraries)")


def profile(client: Client, url: str, top: int = 12) -> dict[str, Any]:
    """cProfile of one GET `url`: own time per layer (ms and share), and the `top` functions by own time."""
    return profile_call(lambda: _consume(client.get(url)), top)


def profile_call(run: Callable[[], Any], top: int = 12) -> dict[str, Any]:
    """cProfile of one call of `run`, as `profile` reports it."""
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    layers: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, _, tottime, _, _) in raw.items():
        layers[_layer(filename)] = layers.get(_layer(filename), 0.0) + tottime
        short = filename.replace(str(ROOT) + "/", "").replace(SITE_PACKAGES, "")
        functions.append((tottime, f"{short}:{line}({name})"))
    total = sum(layers.values()) or 1.0
    functions.sort(reverse=True)
    return {
        "total_ms": round(total * 1000, 1),
        "layers": [
            (name, round(seconds * 1000, 1), round(100 * seconds / total))
            for name, seconds in sorted(layers.items(), key=lambda item: -item[1])
        ],
        "top": [(round(seconds * 1000, 1), where) for seconds, where in functions[:top]],
    }


def page(client: Client, url: str, repeat: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Time GET `url`: warm-up, one counted request, then `repeat` timed ones."""
    extra = headers or {}

    def get() -> Any:
        response = client.get(url, headers=extra)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        return response

    body = get().content
    size, table_rows = len(body), body.count(b"<tr")
    counted = _queries(get)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        get()
        samples.append((time.perf_counter() - started) * 1000)
    return {"url": url, "bytes": size, "table_rows": table_rows, **summary(samples), **counted}


def user(username: str) -> Any:
    return get_user_model().objects.get(username=username)


def queue_moderator() -> tuple[Any, int, int]:
    """The moderator whose active queue is the median one among moderators, with its size and
    the largest moderator's queue size."""
    sizes = list(
        Escalation.objects.filter(status__in=ACTIVE_STATUSES, assignee__groups__name=MODERATOR)
        .values_list("assignee")
        .annotate(n=Count("pk"))
        .order_by("n", "assignee")
        .values_list("assignee", "n")
    )
    if not sizes:
        raise RuntimeError("no moderator has an active queue: was the data set generated?")
    pk, n = sizes[len(sizes) // 2]
    return get_user_model().objects.get(pk=pk), n, sizes[-1][1]


def client_for(person: Any) -> Client:
    client = Client()
    client.force_login(person)
    return client


def service_token(lead: Any, scope: str) -> str:
    _, raw = tokens.create_token(
        actor=lead,
        name=f"bench-{scope}-{uuid.uuid4().hex[:10]}",
        scope=scope,
        expires_at=timezone.now() + timedelta(days=1),
    )
    return raw


def detail_escalation() -> int:
    """A reported escalation with a history: the newest one whose preservation was confirmed."""
    return (
        Escalation.objects.filter(status=Status.REPORTED, preservation_confirmed_at__isnull=False)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
        or Escalation.objects.order_by("-pk").values_list("pk", flat=True).first()
        or 0
    )


def pages(repeat: int) -> dict[str, Any]:
    """Every page and the API list, with the admin changelist beside them."""
    moderator, queue_size, largest_queue = queue_moderator()
    lead = get_user_model().objects.filter(groups__name=LEAD, is_active=True).order_by("username").first()
    admin = user(ADMIN_USERNAME)
    as_moderator, as_lead, as_admin = client_for(moderator), client_for(lead), client_for(admin)
    read_token = service_token(lead, TokenScope.READ)
    bearer = {"Authorization": f"Bearer {read_token}"}
    results = {
        "my_queue": page(as_moderator, "/escalations/mine/", repeat),
        "list": page(as_lead, "/escalations/", repeat),
        "list_open_urgent": page(as_lead, "/escalations/?status=open&priority=urgent", repeat),
        "list_overdue": page(as_lead, "/escalations/?deadline_state=overdue", repeat),
        "dashboard": page(as_lead, "/dashboard/", repeat),
        "detail": page(as_lead, f"/escalations/{detail_escalation()}/", repeat),
        "api_list": page(as_lead, "/api/v1/escalations/", repeat, headers=bearer),
        "admin_changelist": page(as_admin, "/admin/escalations/escalation/", repeat),
        "admin_open_urgent": page(
            as_admin, "/admin/escalations/escalation/?priority__exact=urgent&status__exact=open", repeat
        ),
    }
    # Where the time goes (Python or database), for the pages compared in the targets.
    results["my_queue"]["profile"] = profile(as_moderator, "/escalations/mine/")
    results["admin_changelist"]["profile"] = profile(as_admin, "/admin/escalations/escalation/")
    results["list"]["profile"] = profile(as_lead, "/escalations/")
    results["detail"]["profile"] = profile(as_lead, results["detail"]["url"])
    results["my_queue"]["user"] = moderator.get_username()
    results["my_queue"]["active_escalations"] = queue_size
    results["my_queue"]["largest_moderator_queue"] = largest_queue
    return results


def sweeps(at: datetime, repeat: int) -> dict[str, Any]:
    """The sweep the Celery task runs (escalations.reminders.sweep.sweep) at `at`, the moment the data set
    was generated, when by construction nothing is due: one warm-up, one counted, `repeat` timed."""
    first = reminders.sweep(now=at)
    counted = _queries(lambda: reminders.sweep(now=at))
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        stats = reminders.sweep(now=at)
        samples.append((time.perf_counter() - started) * 1000)
        if stats.reminders_created or stats.deliveries_sent or stats.deliveries_failed:
            raise RuntimeError(f"the sweep found work at {at.isoformat()}: {stats}")
    return {"at": at.isoformat(), "warm_up_stats": vars(first), **summary(samples), **counted}


def sweep_samples(at: datetime, repeat: int) -> list[float]:
    """`repeat` timed sweeps at `at` (after one warm-up), in ms: one round of the interleaved comparison."""
    reminders.sweep(now=at)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        reminders.sweep(now=at)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def creates(count: int) -> dict[str, Any]:
    """`count` POSTs to /api/v1/escalations/, one after another, with a write-scoped service token and
    an Idempotency-Key each (as the README's pipeline sends them)."""
    lead = get_user_model().objects.filter(groups__name=LEAD, is_active=True).order_by("username").first()
    token = service_token(lead, TokenScope.WRITE)
    client = Client()
    run = uuid.uuid4().hex[:8]

    def post(i: int) -> None:
        knowledge = (timezone.now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "platform_reference": f"bench-{run}-{i}",
            "incident_type": "child_pornography",
            "priority": "standard",
            "knowledge_at": knowledge,
        }
        response = client.post(
            "/api/v1/escalations/",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{run}-{i}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"create answered {response.status_code}: {response.content[:300]!r}")

    post(-1)
    keys = itertools.count(-2, -1)
    counted = _queries(lambda: post(next(keys)))
    samples = []
    started = time.perf_counter()
    for i in range(count):
        one = time.perf_counter()
        post(i)
        samples.append((time.perf_counter() - one) * 1000)
    elapsed = time.perf_counter() - started
    where = profile_call(lambda: post(next(keys)))
    return {"count": count, "per_second": round(count / elapsed, 1), **summary(samples), **counted, "profile": where}


class _RolledBack(Exception):
    pass


def bulk(runs: int, size: int = 1000) -> dict[str, Any]:
    """`runs` POSTs of `size` escalations to /api/v1/escalations/bulk/ with a write-scoped service
    token, each inside a transaction rolled back afterwards (the endpoint's own transaction becomes a
    savepoint), so that the data set stays as generated: every check and insert, without the commit."""
    lead = get_user_model().objects.filter(groups__name=LEAD, is_active=True).order_by("username").first()
    token = service_token(lead, TokenScope.WRITE)
    client = Client()
    run = uuid.uuid4().hex[:8]
    knowledge = (timezone.now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def post(i: int) -> None:
        body = [
            {
                "platform_reference": f"bulk-{run}-{i}-{n}",
                "incident_type": "child_pornography",
                "priority": "standard",
                "knowledge_at": knowledge,
            }
            for n in range(size)
        ]
        try:
            with transaction.atomic():
                response = client.post(
                    "/api/v1/escalations/bulk/",
                    body,
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 201:
                    raise RuntimeError(f"bulk answered {response.status_code}: {response.content[:300]!r}")
                raise _RolledBack
        except _RolledBack:
            pass

    post(-1)
    keys = itertools.count(-2, -1)
    counted = _queries(lambda: post(next(keys)), runs=1)
    samples = []
    for i in range(runs):
        one = time.perf_counter()
        post(i)
        samples.append((time.perf_counter() - one) * 1000)
    stats = summary(samples)
    counted["slowest_sql"] = counted["slowest_sql"][:400]
    where = profile_call(lambda: post(next(keys)))
    return {
        "size": size,
        "rows_per_second": round(size / (stats["median_ms"] / 1000), 1),
        **stats,
        **counted,
        "profile": where,
    }


def imports(sizes: list[int]) -> list[dict[str, Any]]:
    """`importescalations --dry-run` of a file of each size, each in a fresh child process
    (bench.import_memory), for its time and its peak memory."""
    results = []
    for rows in sizes:
        done = subprocess.run(  # noqa: S603 - our own module, with our own interpreter
            [sys.executable, "-m", "bench.import_memory", str(rows)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"the import child failed ({done.returncode}): {done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["peak_rss_mb"] = round(result.pop("peak_rss_kb") / 1024, 1)
        result["rss_before_mb"] = round(result.pop("rss_before_kb") / 1024, 1)
        results.append(result)
    return results
