"""Production settings: a missing secret or DEBUG refuses to start; cookies are locked down.

Each check starts a fresh Python process, since settings are read once at start-up.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.support.workers import ROOT

HOST = "concurrency.example.com"


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    """A clean production environment: nothing inherited from the test run (which sets
    e.g. DJANGO_ALLOW_ASYNC_UNSAFE, DEBUG or a broker URL) except what finds programs."""
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
        if key in os.environ
    }
    env.update(
        CONCURRENCY_UI_ENV="production",
        DJANGO_SETTINGS_MODULE="concurrency_ui.settings",
        VAR_DIR=str(tmp_path),
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS=HOST,
    )
    env.update(extra)
    return env


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def without(env: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in env.items() if key != name}


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = python(
        "import django; django.setup()", without(production_env(tmp_path), "SECRET_KEY")
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set when CONCURRENCY_UI_ENV=production" in result.stderr


def test_production_refuses_an_empty_secret_key(tmp_path):
    result = python("import django; django.setup()", production_env(tmp_path, SECRET_KEY=""))

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_with_debug_on(tmp_path):
    result = python("import django; django.setup()", production_env(tmp_path, DEBUG="true"))

    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_development_starts_without_a_secret_key_but_never_uses_it_in_production(tmp_path):
    env = without(production_env(tmp_path, CONCURRENCY_UI_ENV="development"), "SECRET_KEY")
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"

    result = python(code, env)

    assert result.returncode == 0, result.stderr
    assert "insecure" in result.stdout


SETTINGS_DUMP = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in [
    "DEBUG", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "ALLOWED_HOSTS",
    "AXES_ENABLED", "AXES_FAILURE_LIMIT",
]}))
"""


def test_production_turns_debug_off_and_secures_both_cookies(tmp_path):
    result = python(SETTINGS_DUMP, production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["CSRF_COOKIE_SECURE"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["ALLOWED_HOSTS"] == [HOST]
    assert values["AXES_ENABLED"] is True and values["AXES_FAILURE_LIMIT"] == 5


COOKIE_PROBE = """
import json, django
django.setup()
from django.test import Client
HOST = "THEHOST"
client = Client()
plain = client.get("/login/", HTTP_HOST=HOST)
page = client.get("/login/", secure=True, HTTP_HOST=HOST)
cookie = page.cookies["csrftoken"]
print(json.dumps({
    "plain_status": plain.status_code, "plain_location": plain.get("Location", ""),
    "status": page.status_code, "secure": bool(cookie["secure"]), "httponly": bool(cookie["httponly"]),
    "hsts": page.get("Strict-Transport-Security", ""), "nosniff": page.get("X-Content-Type-Options", ""),
    "frame": page.get("X-Frame-Options", ""),
    "bad_host": client.get("/login/", secure=True, HTTP_HOST="evil.example.net").status_code,
}))
""".replace("THEHOST", HOST)


def test_production_pages_redirect_to_https_and_send_secure_httponly_cookies(tmp_path):
    result = python(COOKIE_PROBE, production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["plain_status"] == 301 and seen["plain_location"].startswith("https://")
    assert seen["status"] == 200
    assert seen["secure"] and seen["httponly"]
    assert "max-age=31536000" in seen["hsts"]
    assert seen["nosniff"] == "nosniff"
    assert seen["frame"] == "DENY"
    assert seen["bad_host"] == 400


def test_check_deploy_is_clean_for_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("name", ["SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT"])
def test_check_deploy_flags_a_production_deployment_that_weakens_https(tmp_path, name):
    # The clean result above means something: turning HTTPS protection off is reported.
    weak = {"SECURE_HSTS_SECONDS": "0", "SECURE_SSL_REDIRECT": "false"}[name]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path, **{name: weak}),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "security.W00" in result.stdout + result.stderr
