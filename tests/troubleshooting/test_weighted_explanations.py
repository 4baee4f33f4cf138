"""What a weighted or multi-pool step waits for, said in full everywhere: the run page, the
Queued tab, `manage.py explain`, the doctor (a weight above its pool's limit) and the
metrics (slots, not steps). Demo jobs: warehouse_rebuild (3 warehouse slots, then 1) and
partner_sync (2 warehouse slots and 1 partner_api slot at once)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.models import Run
from queueing.services import pools, run_queue, runs

from .helpers import evidence, finding, submit
from .test_metrics import _samples

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def viewer() -> Client:
    user = User.objects.create_user(username="viewer-user", password="secret-pass-1")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    return client


def _started(job: str):
    run = submit(job)
    run_queue.tick()
    runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
    # Past the start allotment of SEMANTICS 2.7: only its claims count for its pools.
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    run.refresh_from_db()
    return run


def test_the_run_page_says_what_a_two_pool_step_needs_of_each_pool(viewer, workers):
    pools.set_limit("warehouse", 4, actor="test")
    pools.set_limit("partner_api", 1, actor="test")
    holder = _started("warehouse_rebuild")
    assert pools.try_claim(holder, "rebuild_marts", {"warehouse": 3}, 0, None).claimed
    run = _started("partner_sync")

    page = _text(viewer.get(reverse("run-detail", args=[run.run_id])).content.decode())

    assert "needs 1 of partner_api (free) and 2 of warehouse (1 free)" in page
    holder_page = _text(viewer.get(reverse("run-detail", args=[holder.run_id])).content.decode())
    assert "warehouse ×3" in holder_page and "holds 3 slots since" in holder_page


def test_the_queued_tab_and_explain_say_what_a_pool_held_run_needs(viewer, workers):
    pools.set_limit("warehouse", 4, actor="test")
    pools.set_limit("partner_api", 1, actor="test")
    holder = _started("warehouse_rebuild")
    assert pools.try_claim(holder, "rebuild_marts", {"warehouse": 3}, 0, None).claimed
    queued = submit("partner_sync")
    run_queue.tick()
    queued.refresh_from_db()
    assert queued.status == RunStatus.QUEUED

    tab = _text(viewer.get(reverse("runs") + "?status=QUEUED").content.decode())
    out = io.StringIO()
    call_command("explain", queued.run_id, stdout=out)

    expected = "root step needs 1 of partner_api (free) and 2 of warehouse (1 free)"
    assert "pool warehouse: 3 steps of started runs" in tab
    assert "this run needs 2 slots" in tab
    assert expected in tab
    assert f"  {expected}" in out.getvalue().splitlines()


def test_the_doctor_names_a_step_whose_weight_exceeds_its_pool_limit(workers):
    pools.set_limit("warehouse", 2, actor="test")

    found = finding("pools")

    assert found.status == "warning"
    assert "need more slots than their pool has" in found.title
    assert (
        "job warehouse_rebuild step rebuild_marts needs 3 slots of pool warehouse, "
        "whose limit is 2: it can never run"
    ) in evidence(found)
    pools.set_limit("warehouse", 3, actor="test")
    assert finding("pools").status == "ok"


def test_metrics_count_slots_not_steps(workers):
    pools.set_limit("warehouse", 5, actor="test")
    big = _started("warehouse_rebuild")
    other = _started("partner_sync")
    assert pools.try_claim(big, "rebuild_marts", {"warehouse": 3}, 0, None).claimed
    assert not pools.try_claim(other, "sync_partner", {"warehouse": 3}, 0, None).claimed

    s = _samples()

    assert s[("concurrency_ui_pool_slots_in_use", (("pool", "warehouse"),))] == 3
    assert s[("concurrency_ui_pool_steps_waiting", (("pool", "warehouse"),))] == 1
    assert s[("concurrency_ui_pool_slots_waited_for", (("pool", "warehouse"),))] == 3
