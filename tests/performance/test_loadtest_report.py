"""`make loadtest`'s own logic (bench/loadtest), without a server: reading wrk's report, sharing the
clients out, and keeping its section of docs/benchmarks.md when either benchmark rewrites it. One
test runs wrk with load.lua against a local stand-in server to check what the requests carry.

No timing is asserted: the load run is a benchmark, and its figures are its own output."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.loadtest import report, wrk
from bench.loadtest.config import MIX, LoadConfig, split


def wrk_output(statuses: dict[str, int], **errors: int) -> str:
    line = {
        "requests": sum(statuses.values()),
        "duration_us": 10_000_000,
        "bytes": 123456,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0, **errors},
        "latency_us": {
            "min": 1000,
            "max": 950_000,
            "mean": 120_000.5,
            "percentiles": {"50": 100_000, "90": 300_000, "95": 412_345, "99": 900_000},
        },
        "statuses": statuses,
    }
    # wrk prints its own summary before the script's line.
    return "Running 10s test @ http://127.0.0.1:1/\n  2 threads and 8 connections\nLOADTEST " + json.dumps(line) + "\n"


def test_only_the_expected_status_counts_as_served() -> None:
    result = wrk.parse(wrk_output({"200": 90, "302": 3, "500": 2}, connect=1, read=1), "get")
    assert result.ok == 90
    assert result.per_second == 9.0  # 90 pages in 10 s; the redirects to sign-in and the 500s are not pages
    assert result.unexpected == {"302": 3, "500": 2}
    assert result.errors == 7  # 5 wrong answers and 2 broken connections
    assert result.timeouts == 0
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (100.0, 412.3, 900.0)


def test_an_answer_after_the_timeout_is_a_timeout_not_a_page_served() -> None:
    # What wrk reports when every page took longer than its timeout: counted under its status by the
    # script, as a timeout by wrk, and in no percentile.
    result = wrk.parse(wrk_output({"200": 7}, timeout=7), "get")
    assert (result.ok, result.timeouts, result.errors) == (0, 7, 0)
    assert result.p50_ms is None
    mixed = wrk.parse(wrk_output({"200": 10}, timeout=3), "get")
    assert (mixed.ok, mixed.timeouts, mixed.p50_ms) == (7, 3, 100.0)


def test_a_create_is_served_when_the_api_answers_201() -> None:
    result = wrk.parse(wrk_output({"201": 40, "429": 10}), "post")
    assert (result.ok, result.unexpected) == (40, {"429": 10})


def test_nothing_answered_shows_no_percentiles_rather_than_zero() -> None:
    result = wrk.parse(wrk_output({}, timeout=8), "get")
    assert result.ok == 0 and result.timeouts == 8
    assert result.p50_ms is None
    run_row = report.table({key: result.as_dict() for key, *_ in MIX}, None).splitlines()[2]
    assert "| 0.0 | — | — | — | 0 | 8 | — |" in run_row


def test_output_without_the_report_line_is_an_error_that_shows_it() -> None:
    with pytest.raises(wrk.WrkError, match="unable to connect"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n", "get")


def test_everyone_at_once_gives_each_page_a_client_and_moderators_the_most() -> None:
    assert split(8) == {
        "my_queue": 2,
        "detail": 2,
        "list": 1,
        "dashboard": 1,
        "api_create": 1,
        "admin_changelist": 1,
    }
    assert set(split(6).values()) == {1}
    for clients in range(6, 40):
        shares = split(clients)
        assert sum(shares.values()) == clients
        assert shares["my_queue"] >= shares["list"] >= 1


def test_too_few_clients_to_cover_every_page_is_refused_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADTEST_CLIENTS", "3")
    with pytest.raises(SystemExit, match="LOADTEST_CLIENTS must be at least 6"):
        LoadConfig.from_env()
    monkeypatch.setenv("LOADTEST_CLIENTS", "eight")
    with pytest.raises(SystemExit, match="LOADTEST_CLIENTS must be a whole number"):
        LoadConfig.from_env()


def test_the_copy_may_not_be_the_bench_database_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/escalations_bench")
    monkeypatch.setenv("LOADTEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/escalations_bench")
    with pytest.raises(SystemExit, match="of the load run's own"):
        LoadConfig.from_env()


SECTION = f"{report.BEGIN}\n## Served, under load\n\nfigures\n{report.END}\n"
BENCH_DOCUMENT = "# Benchmarks\n\n## Every figure\n\nin-process\n\n## How it was measured\n\nhow\n"


def test_the_section_goes_before_how_it_was_measured_then_replaces_itself() -> None:
    first = report.splice(BENCH_DOCUMENT, SECTION)
    assert first.index("## Served, under load") < first.index("## How it was measured")
    assert first.index("in-process") < first.index("## Served, under load")
    again = report.splice(first, SECTION.replace("figures", "new figures"))
    assert again.count(report.END) == 1
    assert "new figures" in again and "\nfigures" not in again
    assert again.replace("new figures", "figures") == first


def test_a_bench_rewrite_keeps_the_served_figures(tmp_path: Path) -> None:
    previous = tmp_path / "benchmarks.md"
    previous.write_text(report.splice(BENCH_DOCUMENT, SECTION))
    rewritten = report.keep(previous, BENCH_DOCUMENT.replace("in-process", "new in-process figures"))
    assert "new in-process figures" in rewritten
    assert report.extract(rewritten) == SECTION
    assert report.keep(tmp_path / "missing.md", BENCH_DOCUMENT) == BENCH_DOCUMENT


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def _answer(self, status: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        Recorder.seen.append({"method": self.command, "path": self.path, "body": body, **dict(self.headers)})
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self._answer(302 if self.path == "/escalations/mine/" and "mod2" in self.headers.get("Cookie", "") else 200)

    def do_POST(self) -> None:
        self._answer(201)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[int]:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_load_lua_sends_each_persons_cookie_and_the_proxy_header(stand_in: int, tmp_path: Path) -> None:
    requests = tmp_path / "mine.requests"
    requests.write_text("/escalations/mine/\t__Host-sessionid=mod1\n/escalations/mine/\t__Host-sessionid=mod2\n")
    proc = wrk.start(stand_in, "get", requests, clients=1, seconds=1, timeout=5)
    result = wrk.finish(proc, "get", limit=30)
    cookies = {seen["Cookie"] for seen in Recorder.seen}
    assert cookies == {"__Host-sessionid=mod1", "__Host-sessionid=mod2"}
    assert {seen["X-Forwarded-Proto"] for seen in Recorder.seen} == {"https"}
    # mod2's session is "signed out" here: its answers are counted as errors, not as pages served.
    assert result.unexpected.keys() == {"302"} and result.ok > 0
    # Every answer is counted, but for the one request in flight when wrk stopped.
    assert result.ok + result.unexpected["302"] in (len(Recorder.seen), len(Recorder.seen) - 1)


def test_load_lua_posts_a_new_escalation_with_the_token(stand_in: int, tmp_path: Path) -> None:
    requests = tmp_path / "api.requests"
    requests.write_text("secret-token\nloadtest-abcd\n2026-01-02T03:04:05Z\n")
    result = wrk.finish(wrk.start(stand_in, "post", requests, clients=1, seconds=1, timeout=5), "post", limit=30)
    assert result.ok in (len(Recorder.seen), len(Recorder.seen) - 1) and result.ok > 1
    first = Recorder.seen[0]
    assert first["method"] == "POST" and first["path"] == "/api/v1/escalations/"
    assert first["Authorization"] == "Bearer secret-token"
    assert first["Content-Type"] == "application/json"
    body = json.loads(first["body"])
    assert body["platform_reference"] == first["Idempotency-Key"]
    assert body["knowledge_at"] == "2026-01-02T03:04:05Z"
    references = [json.loads(seen["body"])["platform_reference"] for seen in Recorder.seen]
    assert len(set(references)) == len(references)  # each create is a new escalation
