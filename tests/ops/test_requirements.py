"""The pip a new virtualenv is upgraded to first (requirements/pip.txt) is the one dev.txt pins, with
the same hashes: otherwise `make` would install one pip and then replace it with another."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pin(path: Path, name: str) -> tuple[str, list[str]]:
    text = path.read_text()
    found = re.search(rf"^{name}==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{{64}}(?: \\)?\n)+)", text, re.M)
    assert found, f"{path.name} pins no {name}"
    return found.group(1), sorted(re.findall(r"sha256:([0-9a-f]{64})", found.group(2)))


def test_pip_is_pinned_alike_in_its_own_file_and_in_dev_requirements() -> None:
    first = _pin(ROOT / "requirements" / "pip.txt", "pip")
    assert first == _pin(ROOT / "requirements" / "dev.txt", "pip")
    assert first[1], "pip.txt's pin carries its hashes"
