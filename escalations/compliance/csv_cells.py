"""An escalation export's CSV cells made by the database, in the SELECT: the key, choices by their
labels, typed text with its formula guard, times as text, and the states and outcomes worked out at
one moment. A CSV export of every row then runs no Python per cell: csv.writer writes the rows as
they are read, where calling a function per cell was most of an export's own time. The Python cells
in exports (which XLSX and the pages use) make the same text from the same values; a byte-for-byte
test holds the CSV equal to the older export's, on SQLite and on PostgreSQL. PostgreSQL and SQLite
only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Case, CharField, F, Func, Q, Value, When


def _repeated(compiler: Any, expression: Any, times: int) -> tuple[str, list[Any]]:
    """The expression's SQL and its parameters once per use: a template that names the expression
    more than once needs its parameters as often."""
    sql, params = compiler.compile(expression)
    return sql, list(params) * times


class Guarded(Func):
    """Typed text with a leading apostrophe where a spreadsheet would run it as a formula: what
    exports.guarded() does, the first character being one of = + - @ tab carriage return. NULL
    stays NULL (an empty cell)."""

    arity = 1
    output_field = CharField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = _repeated(compiler, self.source_expressions[0], 3)
        # chr()/char(): a tab and a carriage return without escapes that each database reads apart.
        control = "chr(9), chr(13)" if connection.vendor == "postgresql" else "char(9), char(13)"
        first = f"substr({sql}, 1, 1) IN ('=', '+', '-', '@', {control})"
        return f"CASE WHEN {first} THEN '''' || {sql} ELSE {sql} END", params


class KeyText(Func):
    """The escalation's key from its id as models.format_key writes it: the prefix, then the id with
    at least six digits (ESC-000123, ESC-1234567)."""

    arity = 1
    output_field = CharField()

    def __init__(self, expression: Any, prefix: str) -> None:
        super().__init__(expression)
        self.prefix = prefix

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = _repeated(compiler, self.source_expressions[0], 3)
        if connection.vendor == "postgresql":
            digits = f"CASE WHEN {sql} < 1000000 THEN lpad(CAST({sql} AS text), 6, '0') ELSE CAST({sql} AS text) END"
        else:
            digits = f"CASE WHEN {sql} < 1000000 THEN substr('00000' || {sql}, -6) ELSE CAST({sql} AS text) END"
        return f"(%s || {digits})", [self.prefix, *params]


def text(field: str) -> Guarded:
    return Guarded(F(field))


def labelled(field: str, labels: Iterable[tuple[str, str]], blank_is_empty: bool = False) -> Case:
    """A choice column as its label (already as the cell writes it), or, for a value that is no
    choice, the value itself guarded as typed text. `blank_is_empty`: an empty or NULL value is an
    empty cell whatever the choices say."""
    whens = [When(Q(**{field: ""}) | Q(**{f"{field}__isnull": True}), then=Value(""))] if blank_is_empty else []
    whens += [When(**{field: value}, then=Value(label)) for value, label in labels]
    return Case(*whens, default=Guarded(F(field)), output_field=CharField())


def when_active(active: Q, cell: Any) -> Case:
    """The cell for an escalation still being worked on; an empty cell otherwise."""
    return Case(When(active, then=cell), default=Value(None), output_field=CharField())
