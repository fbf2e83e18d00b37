"""Every page's HTML for every role, on the demo data at a frozen moment, written to a folder: run it
before and after a refactor and `diff -r` the two folders to prove the pages did not change.

    .venv/bin/python scripts/page_snapshots.py OUT_DIR

It builds a new SQLite database in a temporary folder, migrates, seeds the demo data and the extra
records of the page registry (tests/browser/pages.py), all with the clock frozen at one moment, then
signs in as each demo role with Django's test client and saves each page the role may open (and the
403 page for the first one it may not). What changes between two runs of the same code is masked:
CSRF tokens, a service token's random prefix and a webhook secret.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROZEN_AT = datetime(2026, 6, 15, 14, 30, tzinfo=UTC)

_MASKS = (
    (re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+'), r"\1CSRF"),
    (re.compile(r'(name="csrf-token" content=")[^"]+'), r"\1CSRF"),
    (re.compile(r"esct_[A-Za-z0-9_-]{4,}"), "esct_TOKEN"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "HEX64"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_SECRET"),
)


def mask(html: str) -> str:
    for pattern, replacement in _MASKS:
        html = pattern.sub(replacement, html)
    return html


def main(out_dir: Path) -> int:
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="page-snapshots-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings.dev"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'db.sqlite3'}"

    import time_machine

    with time_machine.travel(FROZEN_AT, tick=False):
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import setup_test_environment

        from tests.browser import pages as registry

        setup_test_environment()
        settings.ALLOWED_HOSTS = ["testserver"]
        # The pages people see: the 404 page is ours, not Django's debug page (which lists the URL table).
        settings.DEBUG = False
        call_command("migrate", verbosity=0)
        call_command("seeddemo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
        ids_path = workdir / "ids.json"
        exec(registry.SETUP, {"IDS_PATH": str(ids_path)})  # noqa: S102 (our own registry's set-up code)
        ids = registry.read_ids(ids_path)

        users = get_user_model().objects
        written = 0
        for role in registry.ROLES:
            client = Client()
            client.force_login(users.get(username=role))
            chosen = [page for page in registry.pages_for(role) if not page.sign_in_as]
            forbidden = registry.forbidden_page_for(role)
            for page in [*chosen, *([forbidden] if forbidden else [])]:
                response = client.get(page.path(ids))
                target = out_dir / role / f"{page.slug}{'-403' if page is forbidden else ''}.html"
                target.parent.mkdir(parents=True, exist_ok=True)
                body = response.content.decode("utf-8", errors="replace")
                target.write_text(f"<!-- {page.path(ids)} {response.status_code} -->\n{mask(body)}")
                written += 1
        anonymous = Client()
        for page in registry.PAGES:
            if registry.SIGNED_OUT in page.roles and not page.sign_in_as:
                response = anonymous.get(page.path(ids))
                target = out_dir / registry.SIGNED_OUT / f"{page.slug}.html"
                target.parent.mkdir(parents=True, exist_ok=True)
                body = response.content.decode("utf-8", errors="replace")
                target.write_text(f"<!-- {page.path(ids)} {response.status_code} -->\n{mask(body)}")
                written += 1
    print(f"page snapshots: {written} pages written to {out_dir}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]).resolve()))
