"""CI's integrations line: run the tests marked `integrations` (each integration against a local
receiver, or its endpoint called as the other system would) and print

    integrations: coop=N pagerduty=N teams=N slack=N events=N refused=M

N counts the requests each local receiver (or our endpoint, for coop) accepted; M the requests
refused on purpose in those tests (bad signatures, malformed bodies, receivers answering 500). The
counts come from tests/integrations/conftest.py's `integration_counter`.

Exits non-zero when the tests fail, or when a kind named in INTEGRATIONS_REQUIRED (comma-separated;
default REQUIRED below) counted 0: a receiver test that silently stopped sending fails CI instead
of printing a zero. Add a kind to REQUIRED once its tests are in.

Usage: .venv/bin/python scripts/integrations_summary.py [extra pytest arguments]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integrations.conftest import KINDS, summary_line  # noqa: E402

# The kinds whose count must not be 0.
REQUIRED = ("coop", "pagerduty", "teams", "slack", "events")


def required() -> list[str]:
    named = os.environ.get("INTEGRATIONS_REQUIRED")
    kinds = [k.strip() for k in named.split(",") if k.strip()] if named is not None else list(REQUIRED)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise SystemExit(f"INTEGRATIONS_REQUIRED names unknown kinds: {', '.join(unknown)} (known: {', '.join(KINDS)})")
    return kinds


def main(argv: list[str]) -> int:
    kinds = required()
    with tempfile.TemporaryDirectory(prefix="integrations-") as tmp:
        counts_file = Path(tmp) / "counts.json"
        env = {**os.environ, "INTEGRATIONS_COUNTS_FILE": str(counts_file)}
        command = [sys.executable, "-m", "pytest", "-m", "integrations", "-p", "no:cacheprovider", "-q", *argv]
        print("+ " + " ".join(command), flush=True)
        tests = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603
        if not counts_file.exists():
            print("integrations: no counts were written (did the tests run?)")
            return tests.returncode or 1
        counts = json.loads(counts_file.read_text(encoding="utf-8"))
    print(summary_line(counts))
    zero = [kind for kind in kinds if counts["accepted"].get(kind, 0) == 0]
    if zero:
        print(f"integrations: FAIL: no request accepted for {', '.join(zero)} (required: {', '.join(kinds)})")
        return 1
    if tests.returncode != 0:
        print(f"integrations: FAIL: the tests exited {tests.returncode}")
        return tests.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
