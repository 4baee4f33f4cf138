"""Regenerate docs/screenshots/dagster-*.png: concurrency-ui attached to a Dagster deployment.

    .venv/bin/python docs/take_dagster_screenshots.py [--out docs/screenshots] [--keep]

Needs the `dagster` extra. Builds a throwaway Dagster 1.13 deployment (SQLite) with
Dagster's own API, starts `runserver` with DAGSTER_HOME pointing at it (writes enabled, so
the admin buttons show) and drives Debian's Chromium through Playwright at 1366x900.

The deployment's story (dagster.yaml: max_concurrent_runs 6, `dagster/backfill` limited to
2 runs, `database=redshift` to 2, default pool limit 1; pools redshift 1 and warehouse 2):
- in progress: a Redshift ETL holding the redshift slot, a warehouse backfill (bf-1)
  holding a warehouse slot;
- a canceled backfill run still holding the other warehouse slot (Dagster issue 28456);
- queued: another bf-1 run, blocked by the warehouse pool yet counted against the backfill
  limit (Dagster issue 25743), which holds back a reports backfill (bf-2); two ML runs on
  the brand-new `gpu` pool that the daemon's next iteration treats as unlimited (Dagster
  issues 25109/31936); a second Redshift ETL waiting on its pool; a quick report;
- the queue daemon's last heartbeat is 12 minutes old.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from docs.take_screenshots import (  # noqa: E402 - shared set-up of the screenshot scripts
    CHROMIUM,
    CHROMIUM_ARGS,
    _free_port,
    _wait_for_http,
    logged_in_page,
    snap,
)

DAGSTER_YAML = """\
run_queue:
  max_concurrent_runs: 6
  tag_concurrency_limits:
    - key: dagster/backfill
      limit: 2
    - key: database
      value: redshift
      limit: 2
concurrency:
  default_op_concurrency_limit: 1
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
telemetry:
  enabled: false
storage:
  sqlite:
    base_dir: {home}
"""


def build_deployment(home: Path) -> dict[str, str]:
    """The story above, written through Dagster's API; returns run ids by name."""
    from dagster import DagsterEvent, DagsterEventType, DagsterInstance, job, op
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.run_coordinator import SubmitRunContext
    from dagster._daemon.types import DaemonHeartbeat

    @op(pool="redshift")
    def extract():
        return 1

    @op
    def transform(rows):
        return rows

    @op(pool="redshift")
    def load(rows):
        return rows

    @job(tags={"database": "redshift"})
    def redshift_etl():
        load(transform(extract()))

    @op(pool="warehouse")
    def load_partition():
        return 1

    @job
    def warehouse_backfill():
        load_partition()

    @op
    def render():
        return 1

    @job
    def reports_backfill():
        render()

    @op(pool="gpu")
    def train():
        return 1

    @job
    def ml_features():
        train()

    @job
    def quick_report():
        render()

    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(home=home))
    instance = DagsterInstance.from_config(str(home))
    storage = instance.event_log_storage
    storage.set_concurrency_slots("redshift", 1)
    storage.set_concurrency_slots("warehouse", 2)
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("analytics"), "analytics")

    def submit(job_def, tags=None) -> str:
        run = instance.create_run_for_job(
            job_def, tags=tags or {}, remote_job_origin=RemoteJobOrigin(repository, job_def.name)
        )
        instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))
        return run.run_id

    def event(run_id: str, job_name: str, kind, at: float) -> None:
        instance.report_dagster_event(
            DagsterEvent(event_type_value=kind.value, job_name=job_name),
            run_id=run_id,
            timestamp=at,
        )

    now = time.time()
    ids = {}

    def start(name: str, job_def, tags, pool: str, step: str, minutes: float) -> None:
        ids[name] = submit(job_def, tags)
        event(ids[name], job_def.name, DagsterEventType.PIPELINE_STARTING, now - minutes * 60 - 2)
        event(ids[name], job_def.name, DagsterEventType.RUN_START, now - minutes * 60)
        storage.claim_concurrency_slot(pool, ids[name], step)

    # Runs launched from Dagster's UI carry their job's tags; create_run_for_job does not
    # add them, so they are given here.
    etl = {"database": "redshift"}
    start("etl_running", redshift_etl, etl, "redshift", "extract", 14)
    start(
        "bf1_running",
        warehouse_backfill,
        {"dagster/backfill": "bf-1"},
        "warehouse",
        "load_partition",
        9,
    )
    start(
        "bf1_canceled",
        warehouse_backfill,
        {"dagster/backfill": "bf-1"},
        "warehouse",
        "load_partition",
        40,
    )
    event(ids["bf1_canceled"], "warehouse_backfill", DagsterEventType.RUN_CANCELED, now - 35 * 60)
    ids["bf1_queued"] = submit(
        warehouse_backfill, {"dagster/backfill": "bf-1", "dagster/partition": "2026-11-03"}
    )
    ids["bf2_queued"] = submit(
        reports_backfill, {"dagster/backfill": "bf-2", "dagster/partition": "2026-11-03"}
    )
    ids["ml_urgent"] = submit(ml_features, {"dagster/priority": "5", "team": "ml"})
    ids["ml"] = submit(ml_features, {"team": "ml"})
    ids["etl_queued"] = submit(redshift_etl, etl)
    ids["report"] = submit(quick_report, {"team": "finance"})
    instance.add_daemon_heartbeat(
        DaemonHeartbeat(now - 12 * 60, "QUEUED_RUN_COORDINATOR", "daemon-7f3a", [])
    )
    instance.add_daemon_heartbeat(DaemonHeartbeat(now - 10, "MONITORING", "daemon-7f3a", []))
    instance.dispose()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cui-dagster-shots-"))
    home = work / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "DAGSTER_HOME": str(home),
        "DAGSTER_WRITES_ENABLED": "true",
        "DJANGO_SETTINGS_MODULE": "concurrency_ui.settings",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        env.pop(name, None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    ids = build_deployment(home)
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("alice", password="demo-pass-1")
    user.groups.add(Group.objects.get(name="admin"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
    )
    try:
        _wait_for_http(base + "/login/", timeout=60)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [
                ("/dagster/", "queue"),
                # A short id, as the dashboard shows it: the page redirects to the whole id.
                (f"/dagster/runs/{ids['bf2_queued'][:8]}/", "run"),
                ("/dagster/pools/", "pools"),
                ("/dagster/doctor/", "doctor"),
                ("/dagster/what-if/?pool=warehouse&pool_limit=3", "what-if"),
            ]
            desktop = logged_in_page(browser, base, user)
            mobile = logged_in_page(browser, base, user, viewport={"width": 390, "height": 844})
            dark = logged_in_page(browser, base, user, color_scheme="dark")
            for url, name in pages:
                snap(desktop, args.out, url, f"dagster-{name}")
                snap(mobile, args.out, url, f"mobile-dagster-{name}")
                snap(dark, args.out, url, f"dark-dagster-{name}")
            browser.close()
    finally:
        web.terminate()
        web.wait(timeout=30)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
