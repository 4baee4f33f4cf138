"""Users of the three roles, logged-in clients, and runs of the demo code location."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from queueing.models import Run
from queueing.services import runs

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = "<script>alert(1)</script>"


@pytest.fixture
def user_with_role(db) -> Callable[[str], User]:
    def make(role: str) -> User:
        user = User.objects.create_user(username=f"{role}-user", password="secret-pass-1")
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_viewer(user_with_role) -> Client:
    return _client_for(user_with_role("viewer"))


@pytest.fixture
def as_operator(user_with_role) -> Client:
    return _client_for(user_with_role("operator"))


@pytest.fixture
def as_admin(user_with_role) -> Client:
    return _client_for(user_with_role("admin"))


@pytest.fixture
def submit(db) -> Callable[..., Run]:
    """Submit a run of a demo job; it stays QUEUED (no tick runs in these tests)."""

    def make(job: str = "quick", tags: dict[str, str] | None = None, **kwargs: Any) -> Run:
        return runs.submit(job, tags or {}, kwargs.get("run_config"), actor="test")

    return make


def triggered(response) -> set[str]:
    """The client events an htmx answer triggers (django-htmx's `trigger_client_event`)."""
    return set(json.loads(response.get("HX-Trigger", "{}")))


def html(response) -> str:
    return response.content.decode()
