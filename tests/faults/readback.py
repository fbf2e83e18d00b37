"""The soak's database and sink read back: what arrived (per line of each accepted email and each
in-app notification), what the sweep recorded, and a watch on the sweep heartbeat that shows when
sweeps resumed after each fault."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.faults.load import EMAIL, IN_APP, LEADS, MODERATORS, WEBHOOK, Copy, Item, email_of, items_in
from tests.faults.webhook_sink import WebhookSink
from tests.processes import DELIVERIES_WITH_ATTEMPTS, Sink


def query(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


def copies(db_url: str, sink: Sink, hooks: WebhookSink) -> list[Copy]:
    """Every item that arrived: per line of each email the sink accepted, of each webhook request the
    receiver accepted, and of each notification."""
    user_of = {email_of(name): name for name in (*MODERATORS, *LEADS)}
    found = []
    for message in sink.snapshot()[0]:
        for to in message.to:
            found += items_in(message.text, user_of.get(to, to), EMAIL, message.message_id, message.at)
    for hook in hooks.snapshot()[0]:
        found += items_in(hook.text, hook.username, WEBHOOK, f"webhook:{hook.webhook_id}", hook.at)
    for username, pk, body, created in query(
        db_url,
        "SELECT u.username, n.id, n.body, n.created_at FROM escalations_notification n"
        " JOIN auth_user u ON u.id = n.user_id",
    ):
        found += items_in(body, username, IN_APP, f"notification-{pk}", created.timestamp())
    return found


def pending_deliveries(db_url: str) -> int:
    rows = query(db_url, "SELECT count(*) FROM escalations_delivery WHERE sent_at IS NULL AND cancelled_at IS NULL")
    return int(rows[0][0])


def held_by_claims(db_url: str, tokens: list[str]) -> int | None:
    """Deliveries these claims still hold unrecorded (neither sent nor cancelled); None when the
    database does not answer."""
    import psycopg

    try:
        with psycopg.connect(db_url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT count(*) FROM escalations_delivery"
                " WHERE claim_token = ANY(%s) AND sent_at IS NULL AND cancelled_at IS NULL",
                (tokens,),
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0


def last_sweep(db_url: str) -> float | None:
    rows = query(db_url, "SELECT last_finished_at FROM escalations_sweepheartbeat")
    return rows[0][0].timestamp() if rows and rows[0][0] else None


def database_items(db_url: str, keys_by_id: dict[int, str]) -> dict[str, Any]:
    """The deliveries as the sweep recorded them: the items of those not cancelled, the cancelled
    ones with their reasons, unsent ones, ones with more than one successful attempt, and failures."""
    rows = query(
        db_url,
        "SELECT u.username, d.channel, r.escalation_id, r.kind, d.sent_at, d.cancelled_at, r.cancel_reason,"
        + DELIVERIES_WITH_ATTEMPTS,
    )
    items: set[Item] = set()
    cancelled: Counter[str] = Counter()
    unsent = multi_ok = failed = 0
    for username, channel, escalation_id, kind, sent_at, cancelled_at, reason, ok, not_ok in rows:
        if cancelled_at is not None:
            cancelled[f"{kind}: {reason}"] += 1
            continue
        items.add((username, channel, keys_by_id[escalation_id], kind))
        unsent += sent_at is None
        multi_ok += ok > 1
        failed += not_ok
    return {"items": items, "cancelled": cancelled, "unsent": unsent, "multi_ok": multi_ok, "failed": failed}


@dataclass
class SweepWatch:
    """Polls the sweep heartbeat in a thread (every half second, shrugging off a database that is
    down) and keeps every distinct `last_finished_at` it saw."""

    db_url: str
    finishes: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sweep-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                finished = last_sweep(self.db_url)
            except Exception:  # PostgreSQL restarting: look again
                finished = None
            if finished is not None and (not self.finishes or finished > self.finishes[-1]):
                self.finishes.append(finished)
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def first_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the first sweep that finished after it (None: none yet)."""
        later = [t for t in self.finishes if t > moment]
        return later[0] - moment if later else None

    def longest_gap(self, since: float) -> float:
        times = [since] + [t for t in self.finishes if t > since] + [time.time()]
        return max(b - a for a, b in itertools.pairwise(times))
