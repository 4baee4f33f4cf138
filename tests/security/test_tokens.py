"""API tokens: a revoked, unknown or missing token is answered 401, never served."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from queueing.models import Run

pytestmark = pytest.mark.django_db


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
    key = Token.objects.create(user=operator).key
    client = token_client(key)
    assert client.get("/api/runs/").status_code == 200

    assert client.delete("/api/token/").status_code == 204

    read = client.get("/api/runs/")
    write = client.post("/api/runs/", {"job": "quick"}, format="json")
    assert read.status_code == 401 and write.status_code == 401
    assert read["WWW-Authenticate"] == "Token"
    assert not Run.objects.exists()


def test_a_token_revoked_by_deleting_it_elsewhere_stops_at_once(operator):
    key = Token.objects.create(user=operator).key
    client = token_client(key)
    assert client.get("/api/runs/").status_code == 200

    Token.objects.filter(user=operator).delete()  # e.g. from the admin or a shell

    assert client.get("/api/runs/").status_code == 401


def test_a_deactivated_users_token_gets_401(operator):
    key = Token.objects.create(user=operator).key
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
