"""The dev settings for the accessibility run and the screenshots (tests/browser/pages.py): DEBUG off,
so people see our 404 page rather than Django's debug page; and the reminder watchdog's window long
enough that the sweep run once at set-up does not turn into the "Reminders are not being sent"
banner halfway through the run (the screenshots would differ by how long the suite took)."""

from settings.dev import *  # noqa: F403

DEBUG = False
WATCHDOG_STALE_MINUTES = 24 * 60
