"""What a bench run measures and where, from the environment (every name starts with BENCH_)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/escalations_bench"
# Database names the bench must never touch: the app's own and the test suite's.
FORBIDDEN_NAMES = frozenset({"escalations", "test_escalations", "postgres", "template0", "template1"})


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    value = int(raw) if raw else default
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum} (got {value})")
    return value


def _sizes(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list of row counts; "0" measures none."""
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    try:
        sizes = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"{name} must be row counts separated by commas (got {raw!r})") from None
    return tuple(size for size in sizes if size > 0)


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass(frozen=True)
class Config:
    """One run. Two databases: the large one (`rows`, default 1,000,000) and a small one beside it
    (`small_rows`, default 10,000, named <name>_small) for the sweep's comparison."""

    url: str
    rows: int
    small_rows: int
    repeat: int
    sweep_repeat: int
    export_repeat: int
    creates: int
    # The writes, measured on the large database: importescalations of files of these sizes (their
    # peak memory shows whether it grows with the file), and bulk API calls of 1,000 escalations.
    import_rows: tuple[int, ...]
    bulk_runs: int
    seed: int
    output_dir: Path
    json_path: Path
    regenerate: bool

    @classmethod
    def from_env(cls) -> Config:
        url = os.environ.get("BENCH_DATABASE_URL", "").strip() or DEFAULT_URL
        name = database_name(url)
        if not name or name in FORBIDDEN_NAMES or name.startswith("test_"):
            raise SystemExit(f"BENCH_DATABASE_URL must name a database of the bench's own, not {name!r}")
        rows = _int("BENCH_ROWS", 1_000_000)
        output_dir = Path(os.environ.get("BENCH_OUTPUT_DIR", "").strip() or ROOT / "docs")
        json_path = Path(os.environ.get("BENCH_JSON", "").strip() or ROOT / "var" / "bench-results.json")
        return cls(
            url=url,
            rows=rows,
            small_rows=min(_int("BENCH_SMALL_ROWS", 10_000), rows),
            repeat=_int("BENCH_REPEAT", 20, minimum=2),
            sweep_repeat=_int("BENCH_SWEEP_REPEAT", 30, minimum=2),
            export_repeat=_int("BENCH_EXPORT_REPEAT", 3),
            creates=_int("BENCH_CREATES", 200, minimum=2),
            import_rows=_sizes("BENCH_IMPORT_ROWS", (20_000, 100_000)),
            bulk_runs=_int("BENCH_BULK_RUNS", 5, minimum=2),
            seed=_int("BENCH_SEED", 8, minimum=0),
            output_dir=output_dir,
            json_path=json_path,
            regenerate=os.environ.get("BENCH_REGENERATE", "") not in ("", "0"),
        )

    @property
    def small_url(self) -> str:
        return with_database(self.url, database_name(self.url) + "_small")

    def sizes(self) -> list[tuple[str, str, int]]:
        """(label, database URL, rows), the small database first."""
        return [("small", self.small_url, self.small_rows), ("large", self.url, self.rows)]
