"""Screenshots of the pages of issue 16: Backfills, one backfill, Automation, and the
launchpad's partition picker (docs/screenshots/backfills*.png, automation.png,
launchpad-partition.png).

    .venv/bin/python docs/take_automation_screenshots.py [--out docs/screenshots]

Like `take_screenshots.py` (whose helpers it uses): a throwaway SQLite instance with the
filesystem broker, `runserver`, a worker on the control, runs and automation queues and
beat, Debian's Chromium through Playwright. The story: the guide's `dagster/backfill`
limit (here 4, to fit a screen) holds a 20-day backfill of `daily_sales` while a second
small backfill failed and was re-run; the demo's sensor and schedule are started and the
sensor has ticked. Takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from take_screenshots import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Story,
    _free_port,
    _wait_for_http,
)

CONFIG = """\
run_queue:
  max_concurrent_runs: 10
  dequeue_interval_seconds: 1
  tag_concurrency_limits:
    - key: "dagster/backfill"
      value:
        applyLimitPerUniqueValue: true
      limit: 4
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="cui-automation-shots-"))
    os.environ.update(
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}",
        CODE_LOCATIONS="queueing.demo.definitions",
        DEMO_SLEEP_SCALE="20",
        DJANGO_SETTINGS_MODULE="concurrency_ui.settings",
        DJANGO_ALLOW_ASYNC_UNSAFE="true",
        LOG_LEVEL="WARNING",
    )
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.support.workers import Processes

    procs = Processes(var)
    try:
        shoot(procs, args.out)
    finally:
        procs.stop_all()
        shutil.rmtree(var, ignore_errors=True)


def shoot(procs, out: Path) -> None:
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from queueing.models import Run
    from queueing.services import automation, backfills, config, run_queue
    from queueing.services.queries import filter_runs
    from tests.support.workers import wait_until

    config.load_yaml(CONFIG, actor="alice")
    user = User.objects.create_user("alice", password="demo-pass-1")
    user.groups.add(Group.objects.get(name="admin"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    story = Story(procs, out)

    # A small backfill whose runs are marked failed, then re-run as a new backfill.
    small = backfills.launch("regional_export", all_partitions=True, actor="bob")
    filter_runs(tags={"dagster/backfill": small.backfill_id, "dagster/partition": "apac"}).update(
        status="FAILURE", failure_reason="export to apac timed out"
    )
    small.runs.exclude(status="FAILURE").update(status="SUCCESS")
    backfills.rerun_failed(small.backfill_id, actor="bob")
    Run.objects.filter(backfill__parent=small).update(status="SUCCESS")
    big = backfills.launch(
        "daily_sales_job",
        start="2024-03-01",
        end="2024-03-20",
        tags={"team": "sales"},
        actor="alice",
    )
    automation.set_status("sensor", "new_orders_sensor", running=True, actor="alice")
    automation.set_status("schedule", "nightly_sales", running=True, actor="alice")

    procs.start("web", ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"])
    procs.worker("w1", queues="control,runs,automation", concurrency=12)
    procs.beat()
    wait_until(
        lambda: big.runs.filter(status="STARTED").count() >= 4, timeout=120, message="4 runs"
    )
    wait_until(
        lambda: filter_runs(tags={"dagster/sensor_name": "new_orders_sensor"}).exists(),
        timeout=60,
        message="the sensor's first run",
    )
    procs.kill("beat", sig=15)  # the holding reasons stay as the last tick left them
    run_queue.tick(force=False)
    time.sleep(2)

    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(user)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, base_url=base)
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                        "url": base,
                    }
                ]
            )
            page = context.new_page()
            _wait_for_http(base + "/login/")
            story.snap(page, "/backfills/?job=daily_sales_job", "backfills")
            story.snap(page, f"/backfills/{big.backfill_id}/", "backfill-detail")
            story.snap(page, "/automation/", "automation")
            page.goto("/launchpad/?job=daily_sales_job")
            page.locator("#partition").fill("2024-13-01")
            page.locator("#partition").press("End")
            page.locator("#errors-partition .error").wait_for()
            story.snap(page, None, "launchpad-partition")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
