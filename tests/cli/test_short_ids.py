"""Short run ids: a unique prefix of at least 8 characters names a run in every command,
API path and page URL; an ambiguous prefix is an error listing the matches."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from queueing.errors import NotFound
from queueing.models import PoolClaim, Run
from queueing.services import runs

PREFIX = "7d072e5e"


@pytest.fixture
def twins(db) -> tuple[Run, Run]:
    """Two queued runs whose ids share the 8-character prefix the dashboard shows."""
    a = runs.submit("quick", actor="test")
    b = runs.submit("quick", actor="test")
    Run.objects.filter(pk=a.pk).update(run_id=f"{PREFIX}-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
    Run.objects.filter(pk=b.pk).update(run_id=f"{PREFIX}-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
    a.refresh_from_db()
    b.refresh_from_db()
    return a, b


def test_a_unique_prefix_resolves_and_an_ambiguous_one_lists_the_matches(twins):
    a, b = twins
    assert runs.resolve_run_id(a.run_id[:13]) == a.run_id
    with pytest.raises(Exception) as ambiguous:
        runs.resolve_run_id(PREFIX)
    assert a.run_id in str(ambiguous.value.errors[0].message)
    assert b.run_id in str(ambiguous.value.errors[0].message)


def test_a_prefix_shorter_than_8_characters_is_not_looked_up(twins):
    with pytest.raises(NotFound, match="does not exist"):
        runs.resolve_run_id(PREFIX[:7])


def test_explain_and_pools_free_accept_the_short_id_shown_in_the_ui(db, capsys):
    run = runs.submit("quick", actor="test")
    short = run.run_id[:8]

    call_command("explain", short)
    assert run.run_id in capsys.readouterr().out

    call_command("pools", "free", "--run", short)
    assert not PoolClaim.objects.filter(run=run).exists()


def test_an_ambiguous_prefix_is_a_clear_cli_error(twins, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("explain", PREFIX)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "run_id:" in err and twins[0].run_id in err and twins[1].run_id in err


def test_api_paths_and_pages_accept_a_prefix(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("op", password="x")
    user.groups.add(Group.objects.get(name="operator"))
    client = Client()
    client.force_login(user)
    run = runs.submit("quick", actor="test")
    short = run.run_id[:8]

    assert client.get(f"/api/runs/{short}/").json()["run_id"] == run.run_id
    page = client.get(f"/runs/{short}/")
    assert page.status_code == 302 and page["Location"] == f"/runs/{run.run_id}/"
    answer = client.post(
        f"/api/runs/{short}/priority/", {"priority": 3}, content_type="application/json"
    )
    assert answer.status_code == 200
    run.refresh_from_db()
    assert run.priority == 3


def test_an_ambiguous_prefix_is_a_400_listing_matches_in_the_api(twins, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("viewer1", password="x")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    answer = client.get(f"/api/runs/{PREFIX}/")
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["path"] == "run_id" and twins[0].run_id in error["message"]
    page = client.get(f"/runs/{PREFIX}/")
    assert page.status_code == 404
    assert twins[1].run_id in page.content.decode()
