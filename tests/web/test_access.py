"""Who may see and do what: anonymous users log in first, viewers only read, operators
run things, admins change limits. Every write endpoint is POST-only and checks the role."""

from __future__ import annotations

import pytest
from django.urls import reverse

from queueing.models import AuditEntry, Pool, Run
from queueing.services import pools

from .conftest import HTMX, html

PAGES = ["overview", "runs", "launchpad", "concurrency", "configuration", "daemons"]
RUN_ACTIONS = ["run-terminate", "run-priority"]
LIMIT_ACTIONS = [
    "queue-settings",
    "monitoring-settings",
    "tag-limit-add",
    "tag-limit-delete",
    "pool-add",
    "free-slots",
    "configuration-import",
]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from queueing.views import _data

    monkeypatch.setattr(
        _data, "celery_workers", lambda: _data.Workers(problem="not asked in tests")
    )


@pytest.fixture
def run(submit) -> Run:
    return submit("redshift_etl")


@pytest.fixture
def pool(db) -> Pool:
    return pools.set_limit("redshift", 2, actor="setup")


def all_get_urls(run: Run, pool: Pool) -> list[str]:
    return [
        *(reverse(name) for name in PAGES),
        reverse("run-detail", args=[run.run_id]),
        reverse("configuration-export"),
        reverse("pool-row", args=[pool.pk]),
        reverse("pool-edit", args=[pool.pk]),
        reverse("concurrency") + "?part=history",
    ]


def all_post_urls(run: Run, pool: Pool) -> list[str]:
    return [
        reverse("runs-terminate"),
        reverse("launchpad"),
        reverse("launchpad-validate"),
        *(reverse(name, args=[run.run_id]) for name in RUN_ACTIONS),
        *(reverse(name) for name in LIMIT_ACTIONS),
        reverse("pool-limit", args=[pool.pk]),
        reverse("pool-delete", args=[pool.pk]),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page_everywhere(client, run, pool):
    for url in all_get_urls(run, pool):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url
    for url in all_post_urls(run, pool):
        response = client.post(url, {"confirmed": "1"})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    run.refresh_from_db()
    assert run.status == "QUEUED"


def test_htmx_fragments_also_require_login(client, run):
    response = client.get(reverse("runs") + "?tab=queued", **HTMX)
    assert response.status_code == 302


def test_a_viewer_reads_every_page(as_viewer, run, pool):
    for url in all_get_urls(run, pool):
        if "edit" in url:
            continue
        assert as_viewer.get(url, follow=True).status_code == 200, url


def test_a_viewer_gets_403_on_every_change_and_nothing_changes(as_viewer, run, pool):
    for url in all_post_urls(run, pool):
        response = as_viewer.post(url, {"confirmed": "1", "run_id": run.run_id, "priority": "5"})
        assert response.status_code == 403, url
    assert as_viewer.get(reverse("pool-edit", args=[pool.pk])).status_code == 403
    run.refresh_from_db()
    pool.refresh_from_db()
    assert (run.status, run.priority, pool.limit) == ("QUEUED", 0, 2)
    assert Run.objects.count() == 1
    assert list(AuditEntry.objects.values_list("actor", flat=True)) == ["setup"]


def test_an_operator_may_not_change_limits_or_the_configuration(as_operator, run, pool):
    for name in LIMIT_ACTIONS:
        assert as_operator.post(reverse(name), {"confirmed": "1"}).status_code == 403, name
    assert (
        as_operator.post(reverse("pool-limit", args=[pool.pk]), {"limit": "9"}).status_code == 403
    )
    assert (
        as_operator.post(reverse("pool-delete", args=[pool.pk]), {"confirmed": "1"}).status_code
        == 403
    )
    pool.refresh_from_db()
    assert pool.limit == 2


def test_pages_refuse_changes_by_get(as_admin, run):
    response = as_admin.get(reverse("run-terminate", args=[run.run_id]))
    assert response.status_code == 405
    run.refresh_from_db()
    assert run.status == "QUEUED"


def test_login_page_logs_a_user_in_and_logout_is_a_post(client, user_with_role):
    user_with_role("viewer")
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'name="password"' in html(page)
    response = client.post(
        reverse("login"), {"username": "viewer-user", "password": "secret-pass-1"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("overview")
    assert client.get(reverse("overview")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("overview")).status_code == 302


def test_every_page_carries_the_csrf_header_for_htmx_and_the_navigation(as_viewer):
    page = html(as_viewer.get(reverse("overview")))
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    for name in ["overview", "runs", "launchpad", "concurrency", "configuration", "daemons"]:
        assert f'href="{reverse(name)}"' in page
    assert "viewer-user" in page and reverse("logout") in page


def test_views_that_answer_htmx_differently_vary_on_the_hx_request_header(as_viewer, run):
    for url in [reverse("overview"), reverse("runs"), reverse("run-detail", args=[run.run_id])]:
        assert "HX-Request" in as_viewer.get(url)["Vary"], url
