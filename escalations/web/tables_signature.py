"""django-tables2 inspects a function's signature on every call it makes to one: once per cell for
the column's render method, so 500 times for a page of 50 rows and 10 columns. The answer never
changes for a given function, so it is remembered here (measured by the bench: about 12 ms of a
75 ms My queue page with 50 rows on a 2-core machine).

Installed by EscalationsConfig.ready(). It replaces `django_tables2.utils.signature`, which every
caller in django-tables2 reaches through that module; `INSTALLED_FOR` names the release it was
checked against, and tests/test_tables_signature.py fails when the installed release differs, so
that an upgrade is checked again rather than trusted."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import django_tables2
import django_tables2.utils as tables2_utils

INSTALLED_FOR = "3.0.1"

uncached: Callable[[Any], tuple[tuple[str, ...], str | None]] = tables2_utils.signature


@functools.lru_cache(maxsize=1024)
def _signature_of(function: Any, bound: bool) -> tuple[tuple[str, ...], str | None]:
    args, keywords = uncached(function)
    # A bound method's signature leaves out its first parameter (self), as inspect.signature does.
    return (tuple(args[1:]) if bound else tuple(args)), keywords


def signature(fn: Any) -> tuple[tuple[str, ...], str | None]:
    """What django_tables2.utils.signature returns, remembered per function. Bound methods are
    remembered by their function (a new bound method object is made at every attribute access)."""
    function = getattr(fn, "__func__", None)
    if function is not None and getattr(fn, "__self__", None) is not None:
        return _signature_of(function, True)
    try:
        return _signature_of(fn, False)
    except TypeError:  # unhashable callable: ask each time
        return uncached(fn)


def install() -> None:
    if django_tables2.__version__ == INSTALLED_FOR:
        tables2_utils.signature = signature
