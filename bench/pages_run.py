"""`python -m bench.pages_run`: the pages alone (no sweep, export or creates), at both sizes of the
bench (BENCH_DATABASE_URL and its _small copy, made as `make bench` makes them when missing), into
var/bench-pages.json with the machine's load before and after. A quicker run than `make bench` for
comparing pages on a shared machine: both sizes are measured in the same run, one after the other."""

from __future__ import annotations

import json
import time
from typing import Any

from . import database, machine
from .__main__ import log, run_child
from .config import ROOT, Config


def main() -> None:
    cfg = Config.from_env()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    run: dict[str, Any] = {"load_before": machine.loadavg(), "results": results}
    for label, url, rows in cfg.sizes():
        generate = database.prepare(url, rows, cfg.seed, cfg.regenerate)
        log(f"{label}: {rows:,} rows, pages only")
        results[label] = run_child(cfg, url, rows, generate, mode="pages")
    run.update(load_after=machine.loadavg(), seconds=round(time.perf_counter() - started, 1))
    out = ROOT / "var" / "bench-pages.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(run, indent=1, default=str))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
