"""The time zones a person can choose: the canonical IANA names (one per region, as zone.tab lists
them, and UTC), never the old aliases ("US/Eastern", "Asia/Calcutta") that are links to them; and
what each alias stands for, so that a stored alias is shown as its canonical name."""

from __future__ import annotations

import functools
from importlib import resources


def _tzdata_text(name: str) -> str:
    return resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")


@functools.cache
def canonical_zones() -> tuple[str, ...]:
    """UTC, then every zone of zone.tab (the tz database's canonical zones, one line each), sorted."""
    names = set()
    for line in _tzdata_text("zone.tab").splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("\t")[2])
    return ("UTC", *sorted(names))


@functools.cache
def zone_aliases() -> dict[str, str]:
    """alias -> the canonical zone it is a link to (following links of links), from tzdata.zi."""
    links: dict[str, str] = {}
    for line in _tzdata_text("tzdata.zi").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    canonical = set(canonical_zones())
    resolved = {}
    for alias, target in links.items():
        seen = 0
        while target in links and target not in canonical and seen < 10:
            target, seen = links[target], seen + 1
        resolved[alias] = target
    for name in ("Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "Etc/Universal", "Etc/Zulu", "GMT", "Etc/GMT"):
        resolved[name] = "UTC"
    return resolved


def canonical_zone(name: str) -> str | None:
    """The canonical name for `name` (itself, or what the alias stands for); None if it names none
    of the zones offered (a made-up name, or a zone like "EST5EDT" that no region uses)."""
    if name in canonical_zones():
        return name
    target = zone_aliases().get(name)
    if target in canonical_zones():
        return target
    # Typed rather than picked: "america/new york" is America/New_York.
    return _by_folded_name().get(_fold(name))


def _fold(name: str) -> str:
    return name.strip().replace(" ", "_").casefold()


@functools.cache
def _by_folded_name() -> dict[str, str]:
    canonical = set(canonical_zones())
    folded = {_fold(alias): target for alias, target in zone_aliases().items() if target in canonical}
    folded.update({_fold(name): name for name in canonical})
    return folded


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in canonical_zones()]
