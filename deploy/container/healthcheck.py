"""The image's HEALTHCHECK: is the web process answering /healthz?

Healthy when /healthz answers 200, or 503 because the reminder sweep is stale: the web process works,
and the sweep is the worker's and beat's business (Prometheus alerts on it: EscalationsSweepStale).
Unhealthy when nothing answers, or the database is unreachable. Asks as the proxy would: for the first
of DJANGO_ALLOWED_HOSTS, over https as far as the app can tell (the request comes from this host).
"""

import json
import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "8000")
    host = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".") or "localhost"
    if host == "*":
        host = "localhost"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz", headers={"Host": host, "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except OSError as error:
        print(f"unhealthy: {error}")
        return 1
    try:
        state = json.loads(body).get("status")
    except ValueError:
        state = None
    print(f"/healthz: {status} {state}")
    return 0 if status == 200 or (status == 503 and state == "stale") else 1


if __name__ == "__main__":
    sys.exit(main())
