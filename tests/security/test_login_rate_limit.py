"""Login rate limiting (django-axes): 5 failures lock a username from one address for 15 min."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-1"
ATTACKER = "203.0.113.7"


@pytest.fixture(autouse=True)
def _axes_on(settings):
    # On whatever the environment says: these tests are about the lockout itself.
    settings.AXES_ENABLED = True


@pytest.fixture
def user() -> User:
    user = User.objects.create_user("alice", password=PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    return user


def login(client: Client, password: str, username: str = "alice", address: str = ATTACKER):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail_five_times(client: Client) -> None:
    for attempt in range(5):
        response = login(client, f"wrong-{attempt}")
        assert not logged_in(client)
        assert response.status_code in (200, 429)


def test_the_right_password_logs_in(user):
    client = Client()

    response = login(client, PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_after_five_failures_the_sixth_login_is_refused_even_with_the_right_password(user):
    client = Client()
    for attempt in range(4):
        assert login(client, f"wrong-{attempt}").status_code == 200  # the form, with an error
    assert login(client, "wrong-4").status_code == 429  # the fifth failure locks

    response = login(client, PASSWORD)

    assert response.status_code == 429
    assert not logged_in(client)
    assert not logged_in(Client()) and login(Client(), PASSWORD).status_code == 429


def test_the_lock_is_per_username_and_address(user):
    User.objects.create_user("bob", password=PASSWORD)
    fail_five_times(Client())

    other_address = Client()
    assert login(other_address, PASSWORD, address="198.51.100.9").status_code == 302
    assert logged_in(other_address)
    other_user = Client()
    assert login(other_user, PASSWORD, username="bob").status_code == 302
    assert logged_in(other_user)


def test_the_lock_still_holds_after_fourteen_minutes(user):
    fail_five_times(Client())

    with time_machine.travel(timezone.now() + timedelta(minutes=14), tick=False):
        assert login(Client(), PASSWORD).status_code == 429


def test_the_lock_lifts_after_fifteen_minutes(user):
    fail_five_times(Client())

    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        client = Client()
        assert login(client, PASSWORD).status_code == 302
        assert logged_in(client)


def test_four_failures_then_a_success_start_the_count_again(user):
    client = Client()
    for attempt in range(4):
        login(client, f"wrong-{attempt}")
    assert login(client, PASSWORD).status_code == 302

    for attempt in range(4):
        assert login(Client(), f"again-{attempt}").status_code == 200
    assert login(Client(), PASSWORD).status_code == 302


def test_the_admin_login_is_locked_too(user):
    user.is_staff = True
    user.save()
    client = Client()
    for attempt in range(5):
        client.post(
            "/admin/login/",
            {"username": "alice", "password": f"bad-{attempt}"},
            REMOTE_ADDR=ATTACKER,
        )

    response = client.post(
        "/admin/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=ATTACKER
    )

    assert response.status_code == 429
    assert not logged_in(client)


def test_a_locked_out_users_api_token_keeps_working(user):
    _, token = AuthToken.objects.create(user=user, expiry=None)
    fail_five_times(Client())
    assert login(Client(), PASSWORD).status_code == 429

    api = Client(HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=ATTACKER)

    assert api.get("/api/runs/").status_code == 200
    assert (
        api.post("/api/runs/", {"job": "quick"}, content_type="application/json").status_code == 201
    )
