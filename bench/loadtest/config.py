"""What a load run does and where, from the environment (LOADTEST_ names, and the bench's own
BENCH_DATABASE_URL, BENCH_ROWS and BENCH_SEED for the data set it copies)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import FORBIDDEN_NAMES, ROOT, Config, database_name, with_database

DEFAULT_PORT = 18700
# wrk's timeout: gunicorn's own (GUNICORN_TIMEOUT, 30 s), after which it replaces a worker that has
# not answered; a shorter one would hide how slow a slow page is.
DEFAULT_TIMEOUT = 30
# A Redis database of the load run's own: it is emptied before and after the run.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number (got {raw!r})") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum} (got {value})")
    return value


@dataclass(frozen=True)
class LoadConfig:
    bench: Config
    # The database the stack is served from: a fresh copy of the bench database each run, so that
    # the pipeline's creates never change the data set `make bench` measures and every run starts
    # from the same rows.
    url: str
    redis_url: str
    port: int
    clients: int
    seconds: int
    workers: int
    threads: int | None
    timeout: int
    keep_database: bool
    json_path: Path

    @classmethod
    def from_env(cls) -> LoadConfig:
        bench = Config.from_env()
        url = os.environ.get("LOADTEST_DATABASE_URL", "").strip() or with_database(
            bench.url, database_name(bench.url) + "_loadtest"
        )
        name = database_name(url)
        if not name or name in FORBIDDEN_NAMES or name.startswith("test_") or name == database_name(bench.url):
            raise SystemExit(
                f"LOADTEST_DATABASE_URL must name a database of the load run's own (it is dropped and copied "
                f"from the bench database each run), not {name!r}"
            )
        threads = os.environ.get("LOADTEST_THREADS", "").strip()
        return cls(
            bench=bench,
            url=url,
            redis_url=os.environ.get("LOADTEST_REDIS_URL", "").strip() or DEFAULT_REDIS_URL,
            port=_int("LOADTEST_PORT", DEFAULT_PORT, minimum=1),
            clients=_int("LOADTEST_CLIENTS", 8, minimum=len(MIX)),
            seconds=_int("LOADTEST_SECONDS", 15, minimum=1),
            workers=_int("LOADTEST_WORKERS", 4, minimum=1),
            threads=_int("LOADTEST_THREADS", 1, minimum=1) if threads else None,
            timeout=_int("LOADTEST_TIMEOUT", DEFAULT_TIMEOUT, minimum=1),
            keep_database=os.environ.get("LOADTEST_KEEP_DATABASE", "") not in ("", "0"),
            json_path=Path(os.environ.get("LOADTEST_JSON", "").strip() or ROOT / "var" / "loadtest-results.json"),
        )


# The pages, in the order of the tables: (key, label, who asks, share of the clients when everyone
# is on at once). Moderators are most of the people at work; one client each for the rest.
MIX: list[tuple[str, str, str, int]] = [
    ("my_queue", "My queue (`/escalations/mine/`)", "moderators", 2),
    ("detail", "Escalation page (`/escalations/<id>/`)", "moderators", 2),
    ("list", "All escalations (`/escalations/`)", "leads", 1),
    ("dashboard", "Dashboard (`/dashboard/`)", "leads", 1),
    ("api_create", "API create (`POST /api/v1/escalations/`)", "a pipeline (service token)", 1),
    ("admin_changelist", "Admin changelist (`/admin/escalations/escalation/`)", "a superuser", 1),
]


def split(clients: int) -> dict[str, int]:
    """The clients of each page when everyone is on at once: at least one each, the rest by share
    (largest remainder, ties to the earlier page)."""
    if clients < len(MIX):
        raise ValueError(f"{clients} clients cannot cover {len(MIX)} pages at once")
    total = sum(share for *_, share in MIX)
    spare = clients - len(MIX)
    exact = {key: spare * share / total for key, _, _, share in MIX}
    given = {key: 1 + int(value) for key, value in exact.items()}
    left = clients - sum(given.values())
    order = sorted(exact, key=lambda key: (-(exact[key] - int(exact[key])), [k for k, *_ in MIX].index(key)))
    for key in order[:left]:
        given[key] += 1
    return given
