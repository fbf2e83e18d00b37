"""A time column as the text the exports write (`2025-01-31T09:30:00Z`: whole seconds, UTC), made by
the database: a CSV export of every row then formats no time in Python, where formatting was a
third of its work. exports.iso_utc makes the same text from a datetime; a test holds them equal."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Func


class UtcText(Func):
    """The time in UTC as `YYYY-MM-DDTHH:MM:SSZ` (NULL stays NULL). PostgreSQL and SQLite only."""

    arity = 1
    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # HH24:MI:SS cuts the fraction off, as iso_utc does (it never rounds up to the next second).
        return self.as_sql(
            compiler,
            connection,
            template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores SQLite times as UTC text; strftime's %S is whole seconds too. Each % is
        # doubled in the SQL made (four here, halved by the template): the SQLite backend halves
        # them again before running the query, and its query log formats the parameters into the
        # SQL, which fails on a single % once the query has parameters (an export's labels).
        return self.as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)",
            **extra,
        )
