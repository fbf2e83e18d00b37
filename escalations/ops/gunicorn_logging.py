"""gunicorn's error and access logs as the same JSON lines as the app's (escalations.ops.structured_logging).

Named by gunicorn.conf.py (logger_class); loaded by gunicorn's master before Django is set up.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from escalations.ops.structured_logging import ENVIRON_REQUEST_ID, ENVIRON_USER_ID, JsonFormatter


class GunicornLogger(Logger):
    """An access line: method, path (without the query string, which may name case data), status,
    bytes, duration, the peer's address as gunicorn saw it, and the request and user ids that the app
    put in the WSGI environ (the same dict gunicorn hands to this method)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        record = access_record(resp, environ, request_time.total_seconds())
        try:
            for handler in self.access_log.handlers:
                handler.handle(record)
        except Exception:
            self.exception("Failed to write the access log line")


def access_record(resp: Any, environ: dict[str, Any], seconds: float) -> logging.LogRecord:
    status = (str(getattr(resp, "status", "") or "").split(None, 1) or [""])[0]
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 0, "request", None, None)
    record.__dict__.update(
        method=environ.get("REQUEST_METHOD"),
        path=environ.get("PATH_INFO"),
        status=int(status) if status.isdigit() else None,
        bytes=getattr(resp, "sent", None),
        duration_ms=round(seconds * 1000, 1),
        remote_addr=environ.get("REMOTE_ADDR"),
        user_agent=str(environ.get("HTTP_USER_AGENT", ""))[:200],
        request_id=environ.get(ENVIRON_REQUEST_ID),
        user_id=environ.get(ENVIRON_USER_ID),
        task_id=None,
    )
    return record
