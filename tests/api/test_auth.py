"""Session and token authentication; a revoked token stops working."""

from __future__ import annotations

from knox.models import AuthToken
from rest_framework.test import APIClient

from .conftest import make_user


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_authenticates_with_the_users_role(clients):
    key = clients["operator"].post("/api/token/").json()["token"]
    client = token_client(key)

    assert client.get("/api/runs/").status_code == 200
    assert client.post("/api/runs/", {"job": "quick"}, format="json").status_code == 201
    # The token carries the operator role, not more.
    assert client.post("/api/pools/", {"key": "x", "limit": 1}, format="json").status_code == 403


def test_asking_again_replaces_the_token_and_only_its_digest_is_stored(clients):
    first = clients["viewer"].post("/api/token/").json()["token"]
    second = clients["viewer"].post("/api/token/").json()["token"]

    assert first != second
    (stored,) = AuthToken.objects.all()
    # Issue 12: the database holds a SHA-512 digest, never the token itself.
    assert second not in (stored.digest, stored.token_key) and len(stored.digest) == 128
    assert token_client(first).get("/api/runs/").status_code == 401
    assert token_client(second).get("/api/runs/").status_code == 200


def test_a_revoked_token_stops_working(clients):
    key = clients["admin"].post("/api/token/").json()["token"]
    client = token_client(key)
    assert client.get("/api/pools/").status_code == 200

    assert client.delete("/api/token/").status_code == 204

    assert not AuthToken.objects.exists()
    assert client.get("/api/pools/").status_code in (401, 403)
    assert client.post("/api/runs/", {"job": "quick"}, format="json").status_code in (401, 403)


def test_a_new_token_after_revoking_is_a_different_one(clients):
    old = clients["admin"].post("/api/token/").json()["token"]
    clients["admin"].delete("/api/token/")

    new = clients["admin"].post("/api/token/").json()["token"]

    assert new != old
    assert token_client(old).get("/api/runs/").status_code in (401, 403)
    assert token_client(new).get("/api/runs/").status_code == 200


def test_an_unknown_token_is_refused(db):
    response = token_client("0" * 40).get("/api/runs/")

    assert response.status_code in (401, 403)
    assert "token" in response.json()["detail"].lower()


def test_password_login_gives_a_session_the_api_accepts(db):
    make_user("viewer")
    client = APIClient()

    assert client.login(username="viewer-user", password="pw-for-tests")

    assert client.get("/api/runs/").status_code == 200
    assert client.post("/api/runs/", {"job": "quick"}, format="json").status_code == 403


def test_session_writes_need_the_csrf_token(db):
    user = make_user("operator")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/api/runs/", {"job": "quick"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
