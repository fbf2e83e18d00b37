"""The API's per-token throttle counts in the shared cache (Redis in production). When that cache is
down, a pipeline must still be able to log an escalation: the legal clock runs whether Redis does or
not. The throttle lets the request through and says so in the log, rather than answering 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rest_framework.throttling import SimpleRateThrottle

from escalations.models import Escalation
from tests.api.test_api import make_token, new_data, post, token_client


class CacheDown:
    """A cache whose server is unreachable: every call raises, as django's RedisCache does."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    set = get


@pytest.fixture
def cache_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SimpleRateThrottle, "cache", CacheDown())


def test_a_pipeline_logs_an_escalation_while_the_throttle_cache_is_down(
    db: Any, lead: Any, cache_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = token_client(make_token(lead))
    with caplog.at_level(logging.WARNING, logger="escalations.api.auth"):
        response = post(client, "/api/v1/escalations/", new_data())
    assert response.status_code == 201, response.content
    assert Escalation.objects.filter(pk=response.json()["id"]).exists()
    assert any("throttle" in record.getMessage() and "cache" in record.getMessage() for record in caplog.records)
