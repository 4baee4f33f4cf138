"""Audit entries cannot be edited or deleted: not through the API, not through the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from queueing.models import AuditEntry, Pool, Run
from queueing.services import pools, runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry() -> AuditEntry:
    pools.set_limit("warehouse", 3, actor="alice")
    return AuditEntry.objects.get()


def audit_rows() -> list[tuple]:
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "id", "actor", "action", "target", "old_value", "new_value"
        )
    )


@pytest.fixture
def superuser_admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-1"))
    return client


@pytest.fixture
def admin_api() -> APIClient:
    user = User.objects.create_user("adm", password="pw-for-tests-1")
    user.groups.add(Group.objects.get(name="admin"))
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user, expiry=None)[1]}"
    )
    return client


def test_the_api_audit_log_is_read_only_even_for_an_admin(entry, admin_api):
    before = audit_rows()

    assert admin_api.get("/api/audit/").json()[0]["target"] == "warehouse"
    body = {"actor": "mallory", "action": "pool.set_limit", "target": "warehouse"}
    for method in ("post", "put", "patch", "delete"):
        response = getattr(admin_api, method)("/api/audit/", body, format="json")
        assert response.status_code == 405, method
    assert admin_api.get(f"/api/audit/{entry.pk}/").status_code == 404  # no per-entry URL at all

    assert audit_rows() == before


def test_the_schema_offers_no_write_method_on_the_audit_log(admin_api):
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert set(schema["paths"]["/api/audit/"]) == {"get"}
    assert not [
        path for path in schema["paths"] if path.startswith("/api/audit/") and path != "/api/audit/"
    ]


def test_the_admin_shows_audit_entries_but_a_superuser_cannot_change_them(entry, superuser_admin):
    before = audit_rows()
    change_url = f"/admin/queueing/auditentry/{entry.pk}/change/"

    listing = superuser_admin.get("/admin/queueing/auditentry/")
    assert listing.status_code == 200 and b"warehouse" in listing.content
    page = superuser_admin.get(change_url)
    assert page.status_code == 200  # view-only
    assert b'name="_save"' not in page.content and b"deletelink" not in page.content

    edit = superuser_admin.post(change_url, {"actor": "mallory", "action": "x", "target": "y"})
    assert edit.status_code == 403
    assert (
        superuser_admin.post(
            f"/admin/queueing/auditentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert superuser_admin.get("/admin/queueing/auditentry/add/").status_code == 403
    bulk = superuser_admin.post(
        "/admin/queueing/auditentry/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)  # the action does not exist: nothing happens

    assert audit_rows() == before


def test_no_queueing_model_can_be_changed_through_the_admin(superuser_admin):
    run = runs.submit("quick", actor="test")
    pools.set_limit("warehouse", 3, actor="alice")
    pool = Pool.objects.get()

    assert superuser_admin.get("/admin/queueing/run/").status_code == 200
    edit = superuser_admin.post(f"/admin/queueing/run/{run.pk}/change/", {"status": "SUCCESS"})
    assert edit.status_code == 403
    assert (
        superuser_admin.post(f"/admin/queueing/pool/{pool.pk}/change/", {"limit": 999}).status_code
        == 403
    )
    assert (
        superuser_admin.post(f"/admin/queueing/pool/{pool.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )

    assert Run.objects.get(pk=run.pk).status == "QUEUED"
    assert Pool.objects.get(pk=pool.pk).limit == 3


def test_every_queueing_model_is_registered_read_only():
    from django.contrib import admin
    from django.test import RequestFactory

    from queueing.models import AuditEntry as Audit

    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    registered = {m for m in admin.site._registry if m._meta.app_label == "queueing"}
    assert Audit in registered and Run in registered and Pool in registered
    for model in registered:
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
