"""Reading a deployment (pages, commands, the doctor) changes nothing in it: in particular
no default pool limit is written, which is what makes Q3 visible to the prediction."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from .harness import RunSpec, Scenario
from .test_cli_and_pages import client_for


def dagster_storage(instance) -> dict:
    storage = instance.event_log_storage
    keys = sorted(storage.get_concurrency_keys())
    infos = storage.get_concurrency_infos(["p1", "p2", "fresh", *keys])
    return {
        "runs": sorted((r.run_id, r.status.value) for r in instance.get_runs()),
        "keys": keys,
        "limits": sorted((p.name, p.limit, p.from_default) for p in storage.get_pool_limits()),
        "slots": {
            k: (
                i.slot_count,
                sorted((s.run_id, s.step_key) for s in i.claimed_slots),
                sorted(
                    (p.run_id, p.step_key, p.assigned_timestamp is not None)
                    for p in i.pending_steps
                ),
            )
            for k, i in infos.items()
        },
        "heartbeats": sorted(instance.get_daemon_heartbeats()),
    }


@pytest.mark.django_db
def test_pages_and_commands_only_read(deployment):
    instance, ids = deployment(
        Scenario(
            default_limit=1,
            pool_limits={"p1": 1},
            others=(RunSpec(roots={"p1": 1}, status="SUCCESS"),),
            held=(("p1", 0, "s"),),
            queued=(RunSpec(roots={"fresh": 1}), RunSpec(roots={"p1": 1}), RunSpec()),
        )
    )
    before = dagster_storage(instance)
    assert "fresh" not in before["keys"]
    viewer = client_for("viewer")
    for url in (
        "/dagster/",
        f"/dagster/runs/{ids['queued'][0]}/",
        "/dagster/pools/",
        "/dagster/doctor/",
        "/dagster/what-if/?pool=p1&pool_limit=3&max_concurrent_runs=1",
    ):
        assert viewer.get(url).status_code == 200
    for args in (("runs",), ("predict",), ("pools",), ("explain", ids["queued"][1])):
        call_command("dagster", *args, stdout=io.StringIO())
    with pytest.raises(SystemExit):  # the leaked slot is a problem
        call_command("dagster", "doctor", stdout=io.StringIO())
    assert dagster_storage(instance) == before
