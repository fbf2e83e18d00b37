"""Security headers under the production settings (settings.prod).

The suite itself runs under the test settings, and pytest-django's ``settings`` fixture cannot swap
in settings.prod wholesale (middleware and apps are fixed at start-up), so each test starts a fresh
Python with DJANGO_SETTINGS_MODULE=settings.prod on an in-memory SQLite database.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from django.test import Client

BASE_DIR = Path(__file__).resolve().parents[2]

PROD_ENV = {
    "DJANGO_SECRET_KEY": "test-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
    "DJANGO_ALLOWED_HOSTS": "testserver,example.org",
    "DATABASE_URL": "sqlite:///:memory:",
    "CACHE_URL": "locmemcache://",
}

# Runs in the child: migrate the in-memory database, ask for the sign-in page over HTTPS, and print
# the response's headers and cookies as JSON. Static files are not collected in tests, so the
# manifest storage of prod gives way to the plain one (headers do not depend on it).
PROBE = textwrap.dedent(
    """
    import json
    import django
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client, override_settings
    call_command("migrate", verbosity=0)
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        response = Client().get("/accounts/login/", secure=True)
    cookies = {
        name: {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"])}
        for name, morsel in response.cookies.items()
    }
    print(json.dumps({
        "status": response.status_code,
        "headers": dict(response.headers.items()),
        "cookies": cookies,
        "session_cookie": {
            "secure": settings.SESSION_COOKIE_SECURE, "httponly": settings.SESSION_COOKIE_HTTPONLY,
        },
        "database": {
            key: settings.DATABASES["default"][key] for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")
        },
    }))
    """
)


def _prod_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_URL"}
    env.update(PROD_ENV)
    return env


def _run(args: list[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**_prod_env(), **extra_env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _directives(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def test_check_deploy_is_clean_under_prod_settings() -> None:
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING", "--settings=settings.prod"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_prod_headers_on_the_sign_in_page() -> None:
    result = _run(["-c", PROBE], DJANGO_SETTINGS_MODULE="settings.prod")
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    headers = {name.lower(): value for name, value in probe["headers"].items()}
    print(json.dumps(probe, indent=2))  # shown with pytest -s, and on failure

    assert probe["status"] == 200

    policy = _directives(headers["content-security-policy"])
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in policy.get(directive, []), policy
        assert "'unsafe-eval'" not in policy.get(directive, []), policy
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]

    hsts = headers["strict-transport-security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"

    # The sign-in page sets the CSRF cookie; the session cookie only comes with a session.
    assert probe["cookies"], "the sign-in page set no cookie"
    for name, flags in probe["cookies"].items():
        assert flags == {"secure": True, "httponly": True}, name
    assert probe["session_cookie"] == {"secure": True, "httponly": True}
    # Connections are kept between requests, and checked before reuse after a database restart.
    assert probe["database"] == {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}


def test_api_docs_page_has_no_inline_script(moderator: Any) -> None:
    """/api/docs/ runs under script-src 'self': every script comes from a URL, its start-up script
    from the page's own URL (SpectacularSwaggerSplitView), which points Swagger UI at the schema."""
    browser = Client()
    browser.force_login(moderator)
    page = browser.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts
    for attributes, body in scripts:
        assert 'src="' in attributes and not body.strip(), attributes
    assert ' style="' not in page
    script = browser.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


# Runs in the child: sign in over HTTPS under settings.prod and print every cookie set on the way,
# with the attributes a browser checks for the __Host- prefix, and the answer's Permissions-Policy.
COOKIE_PROBE = textwrap.dedent(
    """
    import json
    import django
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client, override_settings
    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user("probe", password="probe-password-0123456789")
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cookies = {}
    with override_settings(STORAGES=storages):
        browser = Client()
        page = browser.get("/accounts/login/", secure=True)
        signed_in = browser.post(
            "/accounts/login/",
            "username=probe&password=probe-password-0123456789",
            content_type="application/x-www-form-urlencoded",
            secure=True,
        )
    for response in (page, signed_in):
        for name, morsel in response.cookies.items():
            cookies[name] = {
                "secure": bool(morsel["secure"]), "path": morsel["path"], "domain": morsel["domain"],
            }
    print(json.dumps({
        "signed_in": signed_in.status_code, "cookies": cookies,
        "permissions_policy": page.headers.get("Permissions-Policy", ""),
    }))
    """
)


def test_prod_cookies_carry_the_host_prefix() -> None:
    """__Host-: the browser keeps the cookie only if Secure, path "/", no Domain, so no sibling
    subdomain and no plain-HTTP page can plant or overwrite our session or CSRF cookie."""
    result = _run(["-c", COOKIE_PROBE], DJANGO_SETTINGS_MODULE="settings.prod")
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(probe, indent=2))
    assert probe["signed_in"] == 302
    assert set(probe["cookies"]) == {"__Host-csrftoken", "__Host-sessionid"}
    for name, attributes in probe["cookies"].items():
        assert attributes == {"secure": True, "path": "/", "domain": ""}, name
    assert "camera=()" in probe["permissions_policy"]
