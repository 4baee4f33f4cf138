"""/api/jobs/ and /api/daemons/: what the dashboard and scripts read."""

from __future__ import annotations

from queueing.services import run_queue


def test_jobs_lists_every_job_of_the_demo_location_with_its_steps(viewer_client):
    body = viewer_client.get("/api/jobs/").json()

    location = next(item for item in body if item["location"] == "queueing.demo.definitions")
    assert location["error"] is None
    jobs = {job["name"]: job for job in location["jobs"]}
    assert {"quick", "redshift_etl", "always_fails", "api_ingest", "parallel_fanout"} <= set(jobs)
    etl = jobs["redshift_etl"]
    assert etl["tags"] == {"database": "redshift"}
    assert etl["default_run_config"] == {
        "ops": {"load_orders": {"config": {"table": "analytics.orders"}}}
    }
    assert etl["steps"][0] == {
        "key": "extract_orders",
        "pool": "redshift",
        "pools": {"redshift": 1},
        "deps": [],
    }
    assert etl["steps"][2]["deps"] == ["transform_orders"]


def test_jobs_shows_a_location_that_fails_to_load(viewer_client, monkeypatch):
    from queueing.locations import Workspace

    workspace = Workspace.load(["queueing.demo.definitions", "no.such.module"])
    monkeypatch.setattr("queueing.services.queries.get_workspace", lambda: workspace)

    body = viewer_client.get("/api/jobs/").json()

    broken = body[1]
    assert broken["location"] == "no.such.module"
    assert "ModuleNotFoundError" in broken["error"]
    assert broken["jobs"] == []


def test_daemons_reports_the_run_queue_healthy_after_a_tick(viewer_client):
    before = {d["daemon"]: d for d in viewer_client.get("/api/daemons/").json()}
    run_queue.tick()
    after = {d["daemon"]: d for d in viewer_client.get("/api/daemons/").json()}

    assert before["run_queue"]["healthy"] is False
    assert before["run_queue"]["last_heartbeat"] is None
    assert after["run_queue"]["healthy"] is True
    assert after["run_queue"]["last_heartbeat"] is not None
    assert after["run_queue"]["errors"] == []
    assert set(after) == {"run_queue", "run_monitoring"}


def test_daemon_processes_report_the_dev_supervisors_restarts(viewer_client, settings, tmp_path):
    import json
    import time

    settings.VAR_DIR = tmp_path
    assert viewer_client.get("/api/daemons/processes/").status_code == 204

    now = time.time()
    control = {
        "name": "control",
        "running": True,
        "pid": 101,
        "started_at": now - 30,
        "restarts": 2,
        "last_exit_code": -9,
        "last_exit_at": now - 31,
        "next_restart_at": None,
    }
    state = {
        "pid": 1,
        "host": "h",
        "started_at": now - 600,
        "updated_at": now,
        "stopped_at": None,
        "processes": [control],
    }
    (tmp_path / "supervisor.json").write_text(json.dumps(state))

    body = viewer_client.get("/api/daemons/processes/").json()
    assert body["alive"] is True
    (process,) = body["processes"]
    assert process["name"] == "control" and process["restarts"] == 2
    assert process["last_exit"] == "killed by SIGKILL"
