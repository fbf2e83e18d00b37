"""People at work during the soak, through the web processes: a pipeline logs escalations through
the API (each create under an Idempotency-Key) and a lead corrects the notes of the soak's own
escalations (each edit goes through the services, which reset `next_reminder_at` while sweeps are
moving it). Requests go to either web process, as a load balancer would send them; when one is down
(killed) or answers 5xx (PostgreSQL restarting) the request goes again to the other, the create
under the same key. Run in a thread of the soak's process.

What it keeps: every answer by web process and status; each create that was answered 201 (its
reference and id), and each whose answer never came (the web process died holding its key: a retry
is told to wait while the key is held, up to idempotency.PENDING_TIMEOUT). The soak then checks the
database: each answered create exists once, each unanswered one at most once, and no web-created
escalation had a reminder (their deadlines lie after the run).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ATTEMPTS = 12  # per request, over both web processes, about half a second apart
PAUSE = (0.2, 0.6)  # seconds between two requests


@dataclass
class WebLoad:
    ports: dict[str, int]  # slot name -> port
    token: str
    edit_ids: list[int]
    rng: random.Random
    answers: Counter[str] = field(default_factory=Counter)  # "web-a 201", "web-b 503", "web-a down" ...
    created: dict[str, int] = field(default_factory=dict)  # reference -> id, answered 201
    unanswered: list[str] = field(default_factory=list)  # references whose create never got its answer
    edits: int = 0
    refused: list[str] = field(default_factory=list)  # answers no request here should get
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _count: int = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-web-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def ok_by_web(self) -> dict[str, int]:
        return {
            name: sum(n for key, n in self.answers.items() if key.split()[0] == name and key.split()[1][0] == "2")
            for name in self.ports
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            self._count += 1
            if self._count % 2 or not self.edit_ids:
                self._create()
            else:
                self._edit()
            self._stop.wait(self.rng.uniform(*PAUSE))

    def _create(self) -> None:
        reference = f"soak-web-{self._count}"
        # Standard priority, known a minute ago: its first reminder is due 55 minutes later, after
        # the run; any reminder for it would be counted as unexpected.
        knowledge = datetime.now(UTC) - timedelta(minutes=1)
        body = {
            "platform_reference": reference,
            "incident_type": "child_pornography",
            "priority": "standard",
            "knowledge_at": knowledge.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        status, answer = self._send("POST", "/api/v1/escalations/", body, {"Idempotency-Key": reference})
        if status == 201:
            self.created[reference] = int(answer["id"])
        else:
            self.unanswered.append(reference)

    def _edit(self) -> None:
        pk = self.rng.choice(self.edit_ids)
        status, _ = self._send("PATCH", f"/api/v1/escalations/{pk}/", {"notes": f"Soak edit {self._count}."}, {})
        self.edits += status == 200

    def _send(self, method: str, path: str, body: Mapping[str, object], headers: dict[str, str]) -> tuple[int, dict]:
        """Until a 2xx or a final refusal; (0, {}) when no web process gave one in ATTEMPTS tries."""
        names = list(self.ports)
        self.rng.shuffle(names)
        for attempt in range(ATTEMPTS):
            name = names[attempt % len(names)]
            try:
                status, answer = self._once(self.ports[name], method, path, body, headers)
            except (OSError, http.client.HTTPException):
                self.answers[f"{name} down"] += 1
            else:
                self.answers[f"{name} {status}"] += 1
                if 200 <= status < 300:
                    return status, answer
                # 409 on a create: the key is held by a request whose web process died; 5xx: the
                # database is restarting. Both may clear: go again. Anything else is a refusal the
                # soak's requests should never get.
                if status != 409 and status < 500:
                    self.refused.append(f"{method} {path} -> {status} {json.dumps(answer)[:200]}")
                    return status, answer
            if self._stop.wait(0.5):
                break
        return 0, {}

    def _once(
        self, port: int, method: str, path: str, body: Mapping[str, object], headers: dict[str, str]
    ) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body).encode(),
                headers={
                    "Host": f"127.0.0.1:{port}",
                    # As the TLS proxy in front forwards it (settings.prod redirects plain http).
                    "X-Forwarded-Proto": "https",
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                    **headers,
                },
            )
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"body": raw[:200].decode(errors="replace")}
        return response.status, answer if isinstance(answer, dict) else {"body": answer}


def wait_until_serving(ports: dict[str, int], timeout: float) -> None:
    """Until every web process answers /healthz (any status: it is serving)."""
    deadline = time.monotonic() + timeout
    waiting = dict(ports)
    while waiting and time.monotonic() < deadline:
        for name, port in list(waiting.items()):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/healthz", headers={"Host": f"127.0.0.1:{port}", "X-Forwarded-Proto": "https"})
                conn.getresponse().read()
                del waiting[name]
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
        time.sleep(0.5)
    if waiting:
        raise AssertionError(f"web processes not serving after {timeout:.0f}s: {sorted(waiting)}")
