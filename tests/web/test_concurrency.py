"""Concurrency limits: run-queue settings, tag limits, pools (edited in place), slot
release, history. Changes go through the services and are audited; viewers only read."""

from __future__ import annotations

from django.urls import reverse

from queueing.models import AuditEntry, Pool, PoolClaim
from queueing.services import pools, run_queue
from queueing.services.config import current_config, sources

from .conftest import HTMX, XSS, html, triggered

PAGE = reverse("concurrency")


def held_claim(submit, pool_key: str = "redshift"):
    """A started run whose first step holds a slot of `pool_key`."""
    run = submit("redshift_etl")
    run_queue.tick()
    run.refresh_from_db()
    assert pools.try_claim(run, "extract_orders", pool_key, 0, default_limit=None).claimed
    return run


def test_a_viewer_sees_every_limit_without_edit_controls(as_viewer, submit):
    pools.set_limit("redshift", 2, actor="setup")
    held_claim(submit)
    page = html(as_viewer.get(PAGE))
    for text in ["Max concurrent runs", "redshift", "extract_orders", "setup", "pool.set_limit"]:
        assert text in page, text
    assert "<form" not in page.split("</header>")[1]
    assert "hx-post" not in page and reverse("pool-edit", args=[1]) not in page


def test_an_admin_sets_max_concurrent_runs_and_the_change_is_audited(as_admin):
    data = {
        "max_concurrent_runs": "3",
        "block_op_concurrency_limited_runs": "on",
        "slot_buffer": "1",
        "granularity": "op",
        "default_pool_limit": "",
    }
    response = as_admin.post(reverse("queue-settings"), data)
    assert response.status_code == 302
    config = current_config()
    assert config.queue.max_concurrent_runs == 3 and config.queue.slot_buffer == 1
    assert sources()["max_concurrent_runs"] == "browser"
    entry = AuditEntry.objects.get(action="config.update")
    assert entry.actor == "admin-user"
    assert (
        entry.old_value["max_concurrent_runs"] == 10 and entry.new_value["max_concurrent_runs"] == 3
    )


def test_an_htmx_settings_change_swaps_the_section_and_tells_the_history(as_admin):
    data = {
        "max_concurrent_runs": "4",
        "block_op_concurrency_limited_runs": "on",
        "slot_buffer": "0",
        "granularity": "op",
        "default_pool_limit": "2",
    }
    response = as_admin.post(reverse("queue-settings"), data, **HTMX)
    assert triggered(response) == {"settings-changed"}
    assert '<section id="settings">' in html(response) and "<html" not in html(response)
    assert current_config().default_pool_limit == 2


def test_a_refused_setting_is_shown_next_to_its_field_and_nothing_is_saved(as_admin):
    data = {
        "max_concurrent_runs": "-5",
        "block_op_concurrency_limited_runs": "on",
        "slot_buffer": "0",
        "granularity": "op",
        "default_pool_limit": "5000",
    }
    response = as_admin.post(reverse("queue-settings"), data)
    assert response.status_code == 400
    page = html(response)
    assert "use -1 for no limit" in page and "between 0 and 1000" in page
    assert 'id="id_max_concurrent_runs-errors"' in page or "aria-invalid" in page
    assert current_config().queue.max_concurrent_runs == 10
    assert not AuditEntry.objects.exists()


def test_run_granularity_with_blocking_off_is_refused(as_admin):
    data = {
        "max_concurrent_runs": "10",
        "slot_buffer": "0",
        "granularity": "run",
        "default_pool_limit": "",
    }
    response = as_admin.post(reverse("queue-settings"), data, **HTMX)
    assert "pools would be enforced nowhere" in html(response)
    assert current_config().queue.granularity == "op"


def test_tag_limits_of_the_three_kinds_are_added_and_deleted(as_admin):
    add = reverse("tag-limit-add")
    as_admin.post(add, {"tag-key": "database", "tag-kind": "key", "tag-limit": "2"})
    as_admin.post(
        add,
        {"tag-key": "database", "tag-kind": "key_value", "tag-value": "redshift", "tag-limit": "1"},
    )
    as_admin.post(
        add, {"tag-key": "tenant", "tag-kind": "per_unique_value", "tag-limit": "3"}, **HTMX
    )
    limits = current_config().queue.tag_limits
    assert [(t.key, t.value, t.per_unique_value, t.limit) for t in limits] == [
        ("database", None, False, 2),
        ("database", "redshift", False, 1),
        ("tenant", None, True, 3),
    ]
    page = html(as_admin.get(PAGE))
    assert "each value separately" in page and "value <code>redshift</code>" in page
    as_admin.post(reverse("tag-limit-delete"), {"index": "1", "key": "database", "confirmed": "1"})
    assert [t.key for t in current_config().queue.tag_limits] == ["database", "tenant"]
    assert AuditEntry.objects.filter(action="config.update").count() == 4


def test_deleting_a_tag_limit_that_moved_meanwhile_deletes_nothing(as_admin):
    as_admin.post(reverse("tag-limit-add"), {"tag-key": "a", "tag-kind": "key", "tag-limit": "1"})
    response = as_admin.post(
        reverse("tag-limit-delete"), {"index": "0", "key": "b", "confirmed": "1"}, follow=True
    )
    assert "changed meanwhile" in html(response)
    assert len(current_config().queue.tag_limits) == 1


def test_a_key_value_limit_needs_its_value(as_admin):
    response = as_admin.post(
        reverse("tag-limit-add"),
        {"tag-key": "a", "tag-kind": "key_value", "tag-limit": "1"},
        **HTMX,
    )
    assert "needs the value" in html(response)
    assert current_config().queue.tag_limits == ()


def test_a_negative_tag_limit_is_refused_next_to_the_limit_field(as_admin):
    response = as_admin.post(
        reverse("tag-limit-add"), {"tag-key": "a", "tag-kind": "key", "tag-limit": "-1"}
    )
    assert response.status_code == 400 and "must be &gt;= 0" in html(response)


def test_an_admin_adds_a_pool(as_admin):
    response = as_admin.post(
        reverse("pool-add"), {"pool-key": "snowflake", "pool-limit": "3"}, **HTMX
    )
    assert triggered(response) == {"pools-changed"} and '<section id="pools"' in html(response)
    assert Pool.objects.get(key="snowflake").limit == 3
    assert AuditEntry.objects.get(action="pool.set_limit").new_value == 3


def test_a_pool_limit_out_of_range_is_refused(as_admin):
    response = as_admin.post(reverse("pool-add"), {"pool-key": "x", "pool-limit": "1001"})
    assert response.status_code == 400 and "1001" in html(response)
    assert not Pool.objects.exists()


def test_a_limit_is_edited_in_place(as_admin):
    pool = pools.set_limit("redshift", 1, actor="setup")
    edit = as_admin.get(reverse("pool-edit", args=[pool.pk]), **HTMX)
    assert html(edit).lstrip().startswith(f'<tr id="pool-{pool.pk}" class="editing">')
    assert 'name="limit"' in html(edit)
    saved = as_admin.post(reverse("pool-limit", args=[pool.pk]), {"limit": "4"}, **HTMX)
    assert html(saved).lstrip().startswith(f'<tr id="pool-{pool.pk}"')
    assert 'name="limit"' not in html(saved) and ">4</a>" in html(saved)
    assert "<template>" in html(saved)  # the flash travels out of band next to the row
    pool.refresh_from_db()
    assert pool.limit == 4
    assert (
        AuditEntry.objects.filter(action="pool.set_limit", actor="admin-user").get().old_value == 1
    )


def test_a_bad_limit_keeps_the_row_open_with_the_error(as_admin):
    pool = pools.set_limit("redshift", 1, actor="setup")
    response = as_admin.post(reverse("pool-limit", args=[pool.pk]), {"limit": "-3"}, **HTMX)
    page = html(response)
    assert 'class="editing"' in page and 'aria-invalid="true"' in page
    pool.refresh_from_db()
    assert pool.limit == 1


def test_editing_without_javascript_uses_the_page_with_edit(as_admin):
    pool = pools.set_limit("redshift", 1, actor="setup")
    page = html(as_admin.get(PAGE, {"edit": pool.pk}))
    assert 'class="editing"' in page
    response = as_admin.post(reverse("pool-limit", args=[pool.pk]), {"limit": "2"})
    assert response.status_code == 302
    cancel = as_admin.get(reverse("pool-row", args=[pool.pk]), **HTMX)
    assert 'class="editing"' not in html(cancel) and ">2</a>" in html(cancel)


def test_deleting_a_pool_asks_first_then_deletes_and_audits(as_admin):
    pool = pools.set_limit("redshift", 1, actor="setup")
    confirm = as_admin.post(reverse("pool-delete", args=[pool.pk]))
    assert confirm.status_code == 200 and Pool.objects.exists()
    as_admin.post(reverse("pool-delete", args=[pool.pk]), {"confirmed": "1"})
    assert not Pool.objects.exists()
    assert AuditEntry.objects.filter(action="pool.delete", actor="admin-user").exists()


def test_the_pools_table_shows_holders_and_frees_a_step_or_a_run(as_admin, submit):
    pools.set_limit("redshift", 1, actor="setup")
    run = held_claim(submit)
    page = html(as_admin.get(PAGE))
    assert reverse("run-detail", args=[run.run_id]) in page and "extract_orders" in page
    as_admin.post(
        reverse("free-slots"),
        {"run_id": run.run_id, "step_key": "extract_orders", "confirmed": "1"},
    )
    assert not PoolClaim.objects.exists()
    entry = AuditEntry.objects.get(action="pool.free_slots")
    assert entry.target == f"{run.run_id}:extract_orders" and entry.old_value == [
        "redshift:extract_orders"
    ]


def test_monitoring_settings_are_saved(as_admin):
    data = {
        "enabled": "on",
        "free_slots_after_run_end_seconds": "30",
        "start_timeout_seconds": "0",
        "cancel_timeout_seconds": "100",
        "max_runtime_seconds": "0",
        "poll_interval_seconds": "10",
    }
    response = as_admin.post(reverse("monitoring-settings"), data, **HTMX)
    assert triggered(response) == {"settings-changed"}
    monitoring = current_config().monitoring
    assert (monitoring.free_slots_after_run_end_seconds, monitoring.poll_interval_seconds) == (
        30,
        10,
    )


def test_history_fragment_and_escaping_of_pool_keys(as_viewer):
    pools.set_limit(XSS, 1, actor=XSS)
    fragment = as_viewer.get(PAGE + "?part=history", **HTMX)
    assert html(fragment).lstrip().startswith('<section id="history"')
    page = html(as_viewer.get(PAGE))
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_under_the_default_coordinator_the_page_shows_no_queue_and_refuses_run_limits(as_admin):
    from queueing.services.config import load_yaml

    load_yaml(
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n",
        actor="setup",
    )
    assert as_admin.get(PAGE).status_code == 200
    shown = {"max_concurrent_runs": "-1", "slot_buffer": "0", "granularity": "op"}

    refused = as_admin.post(
        reverse("queue-settings"), {**shown, "max_concurrent_runs": "3", "default_pool_limit": ""}
    )
    assert refused.status_code == 400
    assert "the run coordinator has no queue" in html(refused)
    assert current_config().queue.max_concurrent_runs == -1

    # The values the page shows save as they are; pools still take a default limit.
    saved = as_admin.post(reverse("queue-settings"), {**shown, "default_pool_limit": "2"})
    assert saved.status_code == 302
    assert current_config().default_pool_limit == 2
    assert current_config().run_coordinator == "default"
