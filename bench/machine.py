"""What the figures ran on: CPU, memory, load, versions, date."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from .config import ROOT


def _read(path: str) -> str:
    file = Path(path)
    return file.read_text() if file.exists() else ""


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (/proc/loadavg), e.g. '1.52 0.88 0.41'."""
    return " ".join(_read("/proc/loadavg").split()[:3]) or "unknown"


def cpu() -> tuple[str, int]:
    lines = _read("/proc/cpuinfo").splitlines()
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return (models[0] if models else platform.processor() or "unknown"), os.cpu_count() or len(models)


def memory_gb() -> float:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def postgres(url: str) -> dict[str, str]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = {
            name: str(row[0])
            for name in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost")
            if (row := conn.execute(f"SHOW {name}").fetchone()) is not None
        }
    return {"version": str(version[0]) if version else "unknown", **settings}


def _git(*args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed git subcommands, no input
            ["git", *args],  # noqa: S607 - git from PATH, as make does
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return done.stdout


# What the benchmarks write themselves: not a change to the code they measure.
OWN_OUTPUT = frozenset({"docs/benchmarks.md", "docs/benchmarks.svg"})


def git_commit() -> str:
    """The commit, and how many files of the working tree differ from it (a shared tree moves)."""
    commit = _git("rev-parse", "--short", "HEAD").strip() or "unknown"
    lines = [line for line in _git("status", "--porcelain").splitlines() if line.strip()]
    changed = len([line for line in lines if line[3:].strip() not in OWN_OUTPUT])
    return f"{commit} (with {changed} uncommitted files in the working tree)" if changed else commit


def describe(url: str) -> dict[str, Any]:
    import django

    model, count = cpu()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cpus": count,
        "memory_gb": memory_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "psycopg": psycopg.__version__,
        "postgres": postgres(url),
        "commit": git_commit(),
    }
