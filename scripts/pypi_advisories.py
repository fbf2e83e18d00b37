"""Known vulnerabilities from PyPI's own advisory data, where pip-audit's services cannot be reached.

PyPI's project JSON (https://pypi.org/pypi/<name>/json) lists, under "vulnerabilities", the
advisories that affect the project's latest release. So a pin at the latest release is checked; a pin
below it is not, and is named as unchecked rather than counted as clean. Prints one summary line:

    pypi advisories: pins=N checked=C vulnerable=V unchecked=U

and a line per vulnerable or unchecked pin. Exit status 1 when any checked pin is vulnerable, 2 when
PyPI could not be asked at all.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
PYPI = "https://pypi.org/pypi/{name}/json"


def pins(paths: list[Path]) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            match = PIN.match(line.strip())
            if match:
                found[match.group(1).lower()] = match.group(2)
    return found


def project(name: str) -> dict[str, object]:
    # A fixed https host and a name from our own requirements files: no user-typed URL.
    with urllib.request.urlopen(PYPI.format(name=name), timeout=15) as response:  # noqa: S310
        data: dict[str, object] = json.load(response)
        return data


def main(argv: list[str]) -> int:
    pinned = pins([Path(p) for p in argv] or [Path("requirements/base.txt"), Path("requirements/dev.txt")])
    checked = 0
    vulnerable: list[str] = []
    unchecked: list[str] = []
    unreachable: list[str] = []
    for name, version in sorted(pinned.items()):
        try:
            data = project(name)
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
            unreachable.append(f"{name}=={version} ({exc})")
            continue
        info = data.get("info")
        latest = info.get("version") if isinstance(info, dict) else None
        if latest != version:
            unchecked.append(f"{name}=={version} (latest {latest})")
            continue
        checked += 1
        listed = data.get("vulnerabilities")
        advisories = [
            v for v in (listed if isinstance(listed, list) else []) if isinstance(v, dict) and not v.get("withdrawn")
        ]
        for advisory in advisories:
            fixed = ", ".join(advisory.get("fixed_in") or []) or "no fix yet"
            vulnerable.append(f"{name}=={version}: {advisory.get('id')} (fixed in {fixed})")
    print(
        f"pypi advisories: pins={len(pinned)} checked={checked} vulnerable={len(vulnerable)} "
        f"unchecked={len(unchecked) + len(unreachable)}"
    )
    for line in vulnerable:
        print(f"  vulnerable: {line}")
    for line in unchecked:
        print(f"  unchecked (not the latest release; PyPI lists advisories for the latest only): {line}")
    for line in unreachable:
        print(f"  unchecked (PyPI did not answer): {line}")
    if checked == 0:
        return 2
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
