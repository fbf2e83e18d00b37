"""`make bench` (python -m bench): prepare both databases, measure each in a child process, write
docs/benchmarks.md and docs/benchmarks.svg. Environment: see bench.config and docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import catchup, database, machine, report
from .config import ROOT, Config
from .stats import summary


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# The sweep's comparison across sizes is a ratio of two small times; taken in rounds that alternate
# between the databases, so that a change in the shared machine's load falls on both alike.
SWEEP_ROUNDS = 3


def run_child(
    cfg: Config, url: str, rows: int, generate: bool, mode: str = "all", writes: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "results.json"
        args = {
            "mode": mode,
            "rows": rows,
            "seed": cfg.seed,
            "generate": generate,
            "repeat": cfg.repeat,
            "sweep_repeat": cfg.sweep_repeat if mode == "all" else max(cfg.sweep_repeat // SWEEP_ROUNDS, 2),
            "export_repeat": cfg.export_repeat,
            "creates": cfg.creates,
            "import_rows": list(cfg.import_rows) if writes else [],
            "bulk_runs": cfg.bulk_runs if writes else 0,
            "out": str(out),
        }
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        done = subprocess.run(  # noqa: S603 - our own module, with our own interpreter
            [sys.executable, "-m", "bench.child", json.dumps(args)], cwd=ROOT, env=env, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"bench: measuring {rows:,} rows failed (exit {done.returncode})")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main() -> None:
    cfg = Config.from_env()
    started = time.perf_counter()
    load_before = machine.loadavg()
    results: dict[str, Any] = {}
    for label, url, rows in cfg.sizes():
        generate = database.prepare(url, rows, cfg.seed, cfg.regenerate)
        log(f"{label}: {rows:,} rows in {url.rsplit('/', 1)[-1]} ({'generating' if generate else 'reusing'})")
        results[label] = run_child(cfg, url, rows, generate, writes=label == "large")
    log(f"comparing the sweep at both sizes, {SWEEP_ROUNDS} alternating rounds")
    samples: dict[str, list[float]] = {label: [] for label, _, _ in cfg.sizes()}
    for _ in range(SWEEP_ROUNDS):
        for label, url, rows in cfg.sizes():
            samples[label] += run_child(cfg, url, rows, False, mode="sweep")["samples"]
    for label, values in samples.items():
        results[label]["sweep"]["first_run"] = {k: results[label]["sweep"][k] for k in ("n", "median_ms", "p95_ms")}
        results[label]["sweep"].update(summary(values), rounds=SWEEP_ROUNDS)
    caught_up = None
    if os.environ.get("BENCH_CATCHUP", "1") != "0":
        log("catch-up after an outage: reminders due at once, one worker")
        caught_up = catchup.measure(cfg)
    run = {
        "config": {k: str(v) for k, v in vars(cfg).items()},
        "machine": machine.describe(cfg.url),
        "load_before": load_before,
        "load_after": machine.loadavg(),
        "seconds": round(time.perf_counter() - started, 1),
        "command": report.command(cfg),
        "results": results,
    }
    if caught_up is not None:
        run["catchup"] = caught_up
    cfg.json_path.parent.mkdir(parents=True, exist_ok=True)
    cfg.json_path.write_text(json.dumps(run, indent=1, default=str))
    written = report.write(cfg, run)
    log("wrote " + ", ".join(str(path) for path in written))


if __name__ == "__main__":
    main()
