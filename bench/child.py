"""One bench database, in a process of its own (Django is configured for one database per
process): migrate, generate the data set when asked, then every measurement (none in mode
"prepare", which `make loadtest` uses to make the database it serves). Run by bench.__main__
as `python -m bench.child <json arguments>` with DATABASE_URL and DJANGO_SETTINGS_MODULE set; writes
its results as JSON to the path it is given."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from .stats import summary


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# The XLSX export is measured on the rows of the last tenth of the data set's span (knowledge times
# are spread evenly over it): 100,000 of a million, a sheet a spreadsheet still opens.
XLSX_SHARE = 0.1


def xlsx_query(generated_at: datetime, span_days: int) -> str:
    since = (generated_at - timedelta(days=span_days * XLSX_SHARE)).date()
    return f"knowledge_at_after={since:%Y-%m-%d}&_export=xlsx"


def export_runs(repeat: int, query: str = "_export=csv") -> dict[str, Any]:
    """`repeat` exports of the list (`query`: every row as CSV unless told), each in a fresh child
    process (bench.export_memory)."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(  # noqa: S603 - our own module, with our own interpreter and query
            [sys.executable, "-m", "bench.export_memory", query],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the export child failed ({done.returncode}): {done.stderr[-2000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = summary(run["seconds"] * 1000 for run in runs)
    return {
        "runs": runs,
        **seconds,
        "query": query,
        "rows": runs[-1]["rows"],
        "rows_per_second": round(runs[-1]["rows"] / (seconds["median_ms"] / 1000)) if seconds["median_ms"] else 0,
        "cpu_seconds": min(run["cpu_seconds"] for run in runs),
        "bytes": runs[-1]["bytes"],
        "peak_rss_mb": round(max(run["peak_rss_kb"] for run in runs) / 1024, 1),
        "rss_before_mb": round(max(run["rss_before_kb"] for run in runs) / 1024, 1),
        "children_maxrss_mb": round(children_kb / 1024, 1),
    }


def main() -> None:
    args = json.loads(sys.argv[1])
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.core.management import call_command

    from . import database, measure
    from .config import database_name
    from .generate import SPAN, generate

    url = os.environ["DATABASE_URL"]
    if args.get("mode") == "sweep":
        # One round of the interleaved sweep comparison (bench.__main__): samples only.
        meta = database.read_meta(url) or {}
        samples = measure.sweep_samples(datetime.fromisoformat(meta["generated_at"]), args["sweep_repeat"])
        with open(args["out"], "w") as handle:
            json.dump({"samples": samples}, handle)
        return
    results: dict[str, Any] = {"rows": args["rows"]}
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    results["migrate_seconds"] = round(time.perf_counter() - started, 1)
    if args["generate"]:
        log(f"generating {args['rows']:,} escalations with COPY")
        meta = generate(url, args["rows"], args["seed"], log=log)
        meta["reused"] = False
        log(f"generated in {meta['seconds']['total']} s")
    else:
        meta = database.read_meta(url) or {}
        meta["reused"] = True
        log(f"reusing the data set generated at {meta.get('generated_at')}")
    meta["database"] = database_name(url)
    results["dataset"] = meta
    if args.get("mode") == "prepare":
        # `make loadtest`: the data set only; the served stack measures it.
        with open(args["out"], "w") as handle:
            json.dump(results, handle, indent=1, default=str)
        return
    log("measuring the pages")
    results["pages"] = measure.pages(args["repeat"])
    log("measuring the sweep")
    results["sweep"] = measure.sweeps(datetime.fromisoformat(meta["generated_at"]), args["sweep_repeat"])
    log("measuring the CSV export")
    results["export"] = export_runs(args["export_repeat"])
    log("measuring the XLSX export")
    query = xlsx_query(datetime.fromisoformat(meta["generated_at"]), SPAN.days)
    results["export_xlsx"] = export_runs(args["export_repeat"], query)
    log("measuring API creates")
    results["creates"] = measure.creates(args["creates"])
    if args.get("bulk_runs"):
        log(f"measuring the bulk endpoint ({args['bulk_runs']} calls of 1,000)")
        results["bulk"] = measure.bulk(args["bulk_runs"])
    if args.get("import_rows"):
        log("measuring importescalations of " + ", ".join(f"{n:,}" for n in args["import_rows"]) + " rows")
        results["imports"] = measure.imports(args["import_rows"])
    with open(args["out"], "w") as handle:
        json.dump(results, handle, indent=1, default=str)


if __name__ == "__main__":
    main()
