"""The pool page (`/pools/<key>/`): limit in words ("closed" at 0), holders with free
actions, waiters in the order they get slots, queued runs, jobs, history and waits; every
pool name shown elsewhere links to it; the pools list shows pools code uses and flags typos."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from queueing.models import Pool, PoolClaim, Run, Step
from queueing.services import pools

from .conftest import html


def _started(job: str = "redshift_etl") -> Run:
    return Run.objects.create(job_name=job, location_name="x", status="STARTED")


def test_a_closed_pool_page_says_closed_and_lists_holders_and_waiters_in_order(as_admin):
    pools.set_limit("redshift", 1, actor="alice")
    pools.set_limit("redshift", 0, actor="alice")
    holder, low, high = _started(), _started(), _started()
    now = timezone.now()
    PoolClaim.objects.create(
        pool_key="redshift", run=holder, step_key="load", enqueued_at=now, claimed_at=now
    )
    PoolClaim.objects.create(pool_key="redshift", run=low, step_key="load", enqueued_at=now)
    PoolClaim.objects.create(
        pool_key="redshift", run=high, step_key="load", priority=3, enqueued_at=now
    )

    page = html(as_admin.get("/pools/redshift/"))

    assert "Closed (limit 0)" in page
    assert "no step may start" in page
    assert f'href="/runs/{holder.run_id}/"' in page
    # Waiters in the order they will get slots (priority first), each run id a link.
    assert page.index(high.run_id[:8]) < page.index(low.run_id[:8])
    assert "Free step" in page
    # The free actions post to the audited free with the page to come back to.
    assert 'name="next" value="/pools/redshift/"' in page
    assert "limit 1 → closed (limit 0)" in page
    assert "redshift_etl" in page  # a job using it


def test_the_pool_page_fragment_is_what_htmx_polls(as_viewer):
    Pool.objects.create(key="api", limit=2)
    response = as_viewer.get("/pools/api/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert html(response).lstrip().startswith('<div id="pool-live"')
    assert "Free step" not in html(response)  # viewers see no actions


def test_a_pool_without_a_limit_that_code_uses_has_a_page_and_an_unknown_one_404s(as_viewer):
    assert "No limit" in html(as_viewer.get("/pools/snowflake/"))
    assert as_viewer.get("/pools/no-such-pool/").status_code == 404


def test_the_pool_page_shows_recent_waits_from_started_steps(as_viewer):
    Pool.objects.create(key="api", limit=1)
    run = _started("api_ingest")
    now = timezone.now()
    for index, wait in enumerate([10.0, 20.0, 300.0]):
        Step.objects.create(
            run=run,
            step_key=f"s{index}",
            op_name="op",
            plan_index=index,
            pool="api",
            status=Step.Status.SUCCESS,
            started_at=now - timedelta(minutes=5),
            slot_wait_seconds=wait,
        )

    page = html(as_viewer.get("/pools/api/"))

    assert "<td>Last hour</td><td>3</td><td>20s</td><td>5m 00s</td>" in page
    assert 'class="bar cap"' in page


def test_the_pools_list_shows_code_pools_and_flags_limits_no_code_uses(as_viewer):
    Pool.objects.create(key="redshfit", limit=2)
    page = html(as_viewer.get("/deployment/concurrency/"))
    assert 'href="/pools/snowflake/"' in page  # used by code, no limit
    assert 'href="/pools/redshfit/"' in page
    assert "no code uses it: typo?" in page


def test_a_closed_pool_is_on_the_overview_as_closed(as_viewer):
    Pool.objects.create(key="api", limit=0)
    page = html(as_viewer.get("/"))
    assert 'href="/pools/api/"' in page
    assert "closed (limit 0): no step may start" in page


def test_the_run_page_links_its_pools_and_free_only_on_steps_holding_a_slot(as_admin, submit):
    Pool.objects.create(key="redshift", limit=1)
    run = submit("redshift_etl")
    Run.objects.filter(pk=run.pk).update(status="STARTED")
    steps = list(run.steps.filter(pool="redshift").order_by("plan_index"))
    now = timezone.now()
    PoolClaim.objects.create(
        pool_key="redshift", run=run, step_key=steps[0].step_key, enqueued_at=now, claimed_at=now
    )
    PoolClaim.objects.create(
        pool_key="redshift", run=run, step_key=steps[-1].step_key, enqueued_at=now
    )

    page = html(as_admin.get(f"/runs/{run.run_id}/"))

    assert 'href="/pools/redshift/"' in page
    # One step holds a slot: one "Free" button, not one per claim.
    assert page.count(">Free</button>") == 1


def test_a_page_past_the_end_shows_the_last_page_and_the_job_filter_takes_part_of_a_name(
    as_viewer, submit
):
    submit("redshift_etl")
    submit("quick")
    page = html(as_viewer.get("/runs/?tab=queued&page=999"))
    assert "page 999" not in page
    filtered = html(as_viewer.get("/runs/?tab=queued&job=ETL"))
    assert "redshift_etl" in filtered and ">quick<" not in filtered
