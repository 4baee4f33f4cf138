"""A change that stops work (max_concurrent_runs 0, a pool set to 0) is confirmed first,
with the simulator's prediction of the next tick; confirmed, it is saved."""

from __future__ import annotations

from queueing.models import Pool
from queueing.services.config import current_config

from .conftest import html

QUEUE = {
    "max_concurrent_runs": "0",
    "slot_buffer": "0",
    "block_op_concurrency_limited_runs": "on",
    "granularity": "op",
    "default_pool_limit": "",
}


def _queue_form(**extra: str) -> dict[str, str]:
    return {**QUEUE, **extra}


def test_max_concurrent_runs_zero_asks_first_with_the_prediction(as_admin, submit):
    submit("quick")
    answer = as_admin.post("/deployment/concurrency/settings/", _queue_form())
    page = html(answer)
    assert "Stop work?" in page
    assert "max_concurrent_runs 0 stops the queue" in page
    assert "the next tick launches 0 run(s) instead of 1" in page
    assert current_config().queue.max_concurrent_runs != 0  # nothing saved yet

    as_admin.post("/deployment/concurrency/settings/", _queue_form(confirmed="1"))
    assert current_config().queue.max_concurrent_runs == 0


def test_with_htmx_the_confirmation_replaces_the_main_part(as_admin):
    answer = as_admin.post(
        "/deployment/concurrency/settings/", _queue_form(), headers={"HX-Request": "true"}
    )
    assert answer["HX-Retarget"] == "main"
    assert 'name="confirmed" value="1"' in html(answer)
    assert current_config().queue.max_concurrent_runs != 0


def test_closing_a_pool_asks_first(as_admin):
    pool = Pool.objects.create(key="api", limit=2)
    page = html(as_admin.post(f"/deployment/concurrency/pools/{pool.pk}/limit/", {"limit": "0"}))
    assert "Limit 0 closes pool api" in page
    pool.refresh_from_db()
    assert pool.limit == 2
    confirmed = {"limit": "0", "confirmed": "1"}
    as_admin.post(f"/deployment/concurrency/pools/{pool.pk}/limit/", confirmed)
    pool.refresh_from_db()
    assert pool.limit == 0
