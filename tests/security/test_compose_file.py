"""docker-compose.yml is safe to copy: no working default secret, the web port on 127.0.0.1,
one `migrate` service that everything else waits for.

These read the file as YAML; `.ci/run` also has `docker-compose config` interpolate it
(refused without SECRET_KEY, accepted with it) when the tool is installed.
"""

from __future__ import annotations

import re

import yaml

from tests.support.workers import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "control-worker", "run-worker", "beat")
# `${NAME:-default}` / `${NAME-default}` / `${NAME:?message}` / `${NAME}`
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {key: str(value) for key, value in env.items()}


def _default(value: str) -> str | None:
    """What an unset variable turns `value` into; None when compose refuses to start."""
    refused = False

    def substitute(match: re.Match) -> str:
        nonlocal refused
        _, op, rest = match.groups()
        if op and op.endswith("?"):
            refused = True
            return ""
        return rest if op and op.endswith("-") else ""

    result = INTERPOLATION.sub(substitute, value)
    return None if refused else result


def test_no_service_starts_with_a_known_secret_key_or_admin_password():
    for service in (*APP_SERVICES, "migrate"):
        env = _environment(service)
        assert _default(env["SECRET_KEY"]) is None, f"{service}: SECRET_KEY must be required"
        assert "SECRET_KEY" in env["SECRET_KEY"] and ":?" in env["SECRET_KEY"]
        # Unset, bootstrap generates a random admin password (printed once by `migrate`).
        assert _default(env.get("ADMIN_PASSWORD", "")) == "", f"{service}: ADMIN_PASSWORD"
        assert _default(env["CONCURRENCY_UI_ENV"]) == "production"


def test_the_web_port_is_bound_to_localhost_unless_asked_otherwise():
    (port,) = SERVICES["web"]["ports"]
    assert _default(port) == "127.0.0.1:8000:8000"
    for name, service in SERVICES.items():
        if name != "web":
            assert "ports" not in service, f"{name} publishes a port"


def test_a_one_shot_migrate_service_runs_first_and_everything_waits_for_it():
    migrate = SERVICES["migrate"]
    assert "manage.py migrate" in migrate["command"] and migrate.get("restart") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "migrate" not in str(service.get("command", "")), f"{name} migrates on its own"
