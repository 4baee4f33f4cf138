"""Fuzzing the REST API from its own OpenAPI schema: no input makes it answer 5xx.

For every operation of `/api/schema/`, Schemathesis generates requests that fit the schema
and requests that do not (bad types, missing fields, odd path values) and sends them to the
WSGI application, authenticated by token as an admin, so every write path is reached.

Schemathesis' pytest plugin does not run under pytest 9 (`Function._nodeid`), so each
operation is one test driving Hypothesis with `operation.as_strategy()`.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.contrib.auth.models import Group, User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS

from queueing.services import pools, runs

ADMIN_TOKEN = "f" * 64
AUTH = {"Authorization": f"Token {ADMIN_TOKEN}"}
EXAMPLES = 25


def operations() -> list:
    """One test per operation and generation mode, named "METHOD /path mode".

    Read from the schema generator at collection time (the served schema needs a login).
    Invalid requests are generated only where the schema constrains something (a body, a
    typed or enumerated parameter): a lone string path parameter has no invalid value.
    """
    schema = SchemaGenerator().get_schema(request=None, public=True)
    params = []
    for path, item in sorted(schema["paths"].items()):
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            constrained = "requestBody" in operation or any(
                p.get("schema", {}).get("type", "string") != "string"
                or "enum" in p.get("schema", {})
                or p.get("schema", {}).get("items")
                for p in operation.get("parameters", [])
            )
            modes = [schemathesis.GenerationMode.POSITIVE]
            if constrained:
                modes.append(schemathesis.GenerationMode.NEGATIVE)
            params += [
                pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode.value}")
                for mode in modes
            ]
    return params


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    # A tick started by a request would send launches to Celery; only the API is tested.
    monkeypatch.setattr("queueing.services.run_queue.send_launches", lambda ids: None)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # The WSGI handler closes the database connection after each request, and the test's
    # transaction lives on it; Django's own test client disconnects the same handlers.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def ensure_admin_token() -> None:
    """The admin and its token, again: a generated DELETE /api/token/ revokes it."""
    admin = User.objects.filter(username="fuzz-admin").first()
    if admin is None:
        admin = User.objects.create_user("fuzz-admin", password="pw-for-fuzzing-1")
        admin.groups.add(Group.objects.get(name="admin"))
    digest = hash_token(ADMIN_TOKEN)
    if not AuthToken.objects.filter(digest=digest).exists():
        # A generated POST /api/token/ replaced it, or a DELETE revoked it: store it again
        # (knox keeps only the digest, so the row is built from the known token).
        AuthToken.objects.filter(user=admin).delete()
        AuthToken(
            digest=digest, token_key=ADMIN_TOKEN[: CONSTANTS.TOKEN_KEY_LENGTH], user=admin
        ).save()


@pytest.fixture
def api_schema(db):
    """The schema as served by /api/schema/, bound to the WSGI application."""
    from concurrency_ui.wsgi import application

    ensure_admin_token()
    # Something for the generated requests to find: runs in several states, a pool.
    queued = runs.submit("quick", actor="fuzz")
    runs.submit("redshift_etl", tags={"team": "data"}, actor="fuzz")
    pools.set_limit("redshift", 1, actor="fuzz")
    runs.terminate(queued.run_id, actor="fuzz")
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=AUTH)


@pytest.mark.parametrize(("method", "path", "mode"), operations())
def test_no_generated_request_gets_a_server_error(api_schema, method, path, mode):
    operation = api_schema[path][method]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        ensure_admin_token()
        response = case.call(headers=AUTH)
        seen.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}\n"
            f"query={case.query!r} body={getattr(case, 'body', None)!r}\n{response.text[:2000]}"
        )

    check()
    assert seen, "no request was generated"
    assert 401 not in seen, "the admin token stopped working: the fuzzing tested nothing"


# --- deep and aliased payloads (issue 12) ---------------------------------------------------

DEEP = 100_000  # JSON nesting that made every body-reading endpoint answer 500
BOMB = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)]
)


def body_operations() -> list:
    """Every operation with a JSON body, and the properties of that body by type."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    params = []
    for path, item in sorted(schema["paths"].items()):
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            ref = content["application/json"]["schema"].get("$ref", "")
            properties = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            params.append(
                pytest.param(method.upper(), path, properties, id=f"{method.upper()} {path}")
            )
    return params


def _raw_payloads(properties: dict) -> list[tuple[str, str]]:
    """(what, JSON text): the whole body nested DEEP levels, each object property nested
    DEEP levels, each string property holding a YAML billion-laughs document."""
    payloads = [("a body nested 100,000 deep", "[" * DEEP + "]" * DEEP)]
    for name, spec in properties.items():
        if spec.get("type") == "object" or "additionalProperties" in spec:
            deep = '{"a": ' * DEEP + "1" + "}" * DEEP
            payloads.append((f"{name} nested 100,000 deep", f'{{"{name}": {deep}}}'))
        elif spec.get("type") == "string":
            payloads.append((f"{name} holding a YAML bomb", json.dumps({name: BOMB})))
    return payloads


@pytest.mark.parametrize(("method", "path", "properties"), body_operations())
def test_deep_and_aliased_payloads_are_refused_without_a_server_error(
    api_schema, method, path, properties
):
    operation = api_schema[path][method]
    queued = runs.submit("quick", actor="fuzz")
    path_parameters = {
        name: {"run_id": queued.run_id, "key": "redshift"}[name]
        for name in ("run_id", "key")
        if "{" + name + "}" in path
    }
    for what, raw in _raw_payloads(properties):
        ensure_admin_token()
        case = operation.Case(
            path_parameters=path_parameters, body={}, media_type="application/json"
        )

        response = case.call(headers=AUTH, data=raw)

        assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
        if "nested" in what and path != "/api/token/":  # the token view reads no body
            assert response.status_code == 400, f"{what}: {response.text[:300]}"
            assert "INPUT_MAX_DEPTH" in response.text, what
        if what == "yaml holding a YAML bomb":  # a dagster.yaml: read, and refused at once
            assert response.status_code == 400 and "INPUT_MAX_NODES" in response.text, what
