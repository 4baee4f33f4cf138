"""Fair share on a real database: the tick, the Queued tab's order and `explain` agree."""

from __future__ import annotations

import pytest

from queueing.engine.fair_share import CODE_LOCATION_TAG
from queueing.engine.types import RunStatus, Wait
from queueing.models import Run
from queueing.services import queries, run_queue

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db

FAIR = {
    "run_queue": {"max_concurrent_runs": 2},
    "concurrency_ui": {"fair_share": {"key": "team"}},
}


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)


def test_the_tick_interleaves_teams_and_stores_the_fair_share_reason():
    load_config(FAIR)
    data = [submit(team="data") for _ in range(5)]
    growth = [submit(team="growth") for _ in range(2)]
    # What a page explains is what the tick then does and stores.
    verdict = run_queue.explain(data[1].run_id)
    assert isinstance(verdict, Wait) and verdict.blocking.rule == "fair_share"
    assert run_queue.tick().launched == (data[0].run_id, growth[0].run_id)
    data[1].refresh_from_db()
    assert data[1].status == RunStatus.QUEUED
    assert data[1].wait_rule == "fair_share:team=data"
    assert data[1].wait_reason == verdict.message
    assert "waits its turn as team=data" in data[1].wait_reason


def test_the_queued_tab_lists_runs_in_fair_order_with_their_positions():
    load_config(FAIR)
    data = [submit(team="data") for _ in range(3)]
    growth = [submit(team="growth") for _ in range(3)]
    page = queries.page_of_runs(queries.filter_runs([RunStatus.QUEUED]), 0, 4)
    expected = [data[0], growth[0], data[1], growth[1]]
    assert [r.run_id for r in page.runs] == [r.run_id for r in expected]
    assert [page.verdicts[r.run_id].position for r in page.runs] == [1, 2, 3, 4]
    second = queries.page_of_runs(queries.filter_runs([RunStatus.QUEUED]), 4, 4)
    assert [r.run_id for r in second.runs] == [data[2].run_id, growth[2].run_id]
    assert page.total == second.total == 6


def test_every_run_carries_its_code_location_so_fair_share_can_use_it():
    load_config({**FAIR, "concurrency_ui": {"fair_share": {"key": CODE_LOCATION_TAG}}})
    run = submit("quick")
    assert run.tags[CODE_LOCATION_TAG] == "queueing.demo.definitions"
    # A tag a user sends under that name is replaced by the true location.
    forged = submit("quick", **{CODE_LOCATION_TAG: "other"})
    assert forged.tags[CODE_LOCATION_TAG] == "queueing.demo.definitions"


def test_with_one_slot_the_teams_alternate_because_ended_runs_of_the_backlog_count():
    load_config({**FAIR, "run_queue": {"max_concurrent_runs": 1}})
    data = [submit(team="data") for _ in range(3)]
    growth = submit(team="growth")
    assert run_queue.tick().launched == (data[0].run_id,)
    Run.objects.filter(run_id=data[0].run_id).update(status=RunStatus.SUCCESS)
    # data had its turn in this backlog: growth goes next, not the older data run.
    assert run_queue.tick().launched == (growth.run_id,)
