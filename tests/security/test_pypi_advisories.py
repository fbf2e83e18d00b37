"""scripts/pypi_advisories.py: a pin at its project's latest release is checked against PyPI's
advisories, one below it is named as unchecked, never counted as clean."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pypi_advisories.py"


@pytest.fixture
def advisories() -> Any:
    spec = importlib.util.spec_from_file_location("pypi_advisories", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROJECTS = {
    "clean": {"info": {"version": "2.0"}, "vulnerabilities": []},
    "holey": {
        "info": {"version": "1.1"},
        "vulnerabilities": [
            {"id": "PYSEC-2026-1", "fixed_in": ["1.2"], "withdrawn": None},
            {"id": "PYSEC-2025-9", "fixed_in": [], "withdrawn": "2025-10-01"},
        ],
    },
    "behind": {"info": {"version": "9.0"}, "vulnerabilities": []},
}


def test_vulnerable_pin_fails_and_is_named(tmp_path: Path, advisories: Any, monkeypatch: Any, capsys: Any) -> None:
    pins = tmp_path / "reqs.txt"
    pins.write_text("clean==2.0 \\\n    --hash=sha256:00\nholey==1.1\nbehind==8.5 ; python_version >= '3'\n# x==1\n")
    monkeypatch.setattr(advisories, "project", lambda name: PROJECTS[name])
    assert advisories.main([str(pins)]) == 1
    out = capsys.readouterr().out
    assert "pypi advisories: pins=3 checked=2 vulnerable=1 unchecked=1" in out
    assert "holey==1.1: PYSEC-2026-1 (fixed in 1.2)" in out
    assert "PYSEC-2025-9" not in out, "a withdrawn advisory does not count"
    assert "behind==8.5 (latest 9.0)" in out


def test_clean_pins_pass(tmp_path: Path, advisories: Any, monkeypatch: Any, capsys: Any) -> None:
    pins = tmp_path / "reqs.txt"
    pins.write_text("clean==2.0\n")
    monkeypatch.setattr(advisories, "project", lambda name: PROJECTS[name])
    assert advisories.main([str(pins)]) == 0
    assert "checked=1 vulnerable=0 unchecked=0" in capsys.readouterr().out


def test_nothing_answering_is_not_clean(tmp_path: Path, advisories: Any, monkeypatch: Any) -> None:
    import urllib.error

    def refuse(name: str) -> Any:
        raise urllib.error.URLError("no route")

    pins = tmp_path / "reqs.txt"
    pins.write_text("clean==2.0\n")
    monkeypatch.setattr(advisories, "project", refuse)
    assert advisories.main([str(pins)]) == 2
