"""API tokens: a revoked, unknown or missing token is answered 401, never served."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from knox.models import AuthToken
from rest_framework.test import APIClient

from queueing.models import Run

pytestmark = pytest.mark.django_db


def new_token(user: User) -> str:
    return AuthToken.objects.create(user=user, expiry=None)[1]


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def operator() -> User:
    user = User.objects.create_user("ops", password="pw-for-tests-1")
    user.groups.add(Group.objects.get(name="operator"))
    return user


def test_a_revoked_token_gets_401_on_reads_and_writes(operator):
    key = new_token(operator)
    client = token_client(key)
    assert client.get("/api/runs/").status_code == 200

    assert client.delete("/api/token/").status_code == 204

    read = client.get("/api/runs/")
    write = client.post("/api/runs/", {"job": "quick"}, format="json")
    assert read.status_code == 401 and write.status_code == 401
    assert read["WWW-Authenticate"] == "Token"
    assert not Run.objects.exists()


def test_a_token_revoked_by_deleting_it_elsewhere_stops_at_once(operator):
    key = new_token(operator)
    client = token_client(key)
    assert client.get("/api/runs/").status_code == 200

    AuthToken.objects.filter(user=operator).delete()  # e.g. from the admin or a shell

    assert client.get("/api/runs/").status_code == 401


def test_a_deactivated_users_token_gets_401(operator):
    key = new_token(operator)
    operator.is_active = False
    operator.save()

    assert token_client(key).get("/api/runs/").status_code == 401


@pytest.mark.parametrize("header", ["Token", "Token " + "0" * 40, "Token a b", "Bearer xyz"])
def test_malformed_or_unknown_credentials_get_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/runs/")

    # A scheme the API does not know ("Bearer") is no credentials at all: still 401.
    assert response.status_code == 401


def test_no_credentials_get_401_with_the_scheme_to_use(db):
    response = APIClient().get("/api/pools/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_tokens_are_stored_as_digests_only(operator):
    key = new_token(operator)

    (stored,) = AuthToken.objects.values_list("digest", "token_key")
    assert key not in stored and stored[1] == key[:15]


def test_existing_plain_text_tokens_are_hashed_by_the_migration_and_keep_working(operator):
    """Migration 0003: a DRF token row becomes a knox digest; the client's key still works."""
    import importlib
    from types import SimpleNamespace

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    migration = importlib.import_module("queueing.migrations.0003_hash_api_tokens")
    key = "a1" * 20  # DRF's tokens are 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, "
            "user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, "2026-01-01 00:00:00", operator.pk],
        )
    state = MigrationExecutor(connection).loader.project_state(("queueing", "0003_hash_api_tokens"))
    # The function needs the editor only for its connection (SQLite refuses a real schema
    # editor inside the test's transaction).
    migration.hash_existing_tokens(state.apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # the plain text is gone
    assert not AuthToken.objects.filter(digest=key).exists()
    assert token_client(key).get("/api/runs/").status_code == 200
