"""Screenshots of weighted and multi-pool steps (issue 17): a run page and the Queued tab.

    .venv/bin/python docs/take_weighted_screenshots.py [--out docs/screenshots]

A throwaway SQLite instance with the demo location; no worker executes anything: the
state is made with the services (a `warehouse_rebuild` run holding 3 of the 4 warehouse
slots, a `partner_sync` run whose two-pool step waits, a `partner_sync` run held in the
queue by the warehouse pool), then `runserver` serves it to Playwright's Chromium
(`/usr/bin/chromium`). Writes run-detail-two-pools.png and runs-queued-weighted.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docs.take_screenshots import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    _free_port,
    _wait_for_http,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="cui-weighted-"))
    os.environ.update(
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}",
        CODE_LOCATIONS="queueing.demo.definitions",
        DJANGO_SETTINGS_MODULE="concurrency_ui.settings",
        DJANGO_ALLOW_ASYNC_UNSAFE="true",
        LOG_LEVEL="WARNING",
    )
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
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
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from queueing.engine.types import RunStatus
    from queueing.models import Run, Step
    from queueing.services import pools, run_queue, runs

    # Room for both runs to launch (3 + 2 warehouse slots); then the limit goes down to 4.
    pools.set_limit("warehouse", 6, actor="alice")
    pools.set_limit("partner_api", 1, actor="alice")
    user = User.objects.create_user("alice", password="demo-pass-1")
    user.groups.add(Group.objects.get(name="admin"))

    holder = runs.submit("warehouse_rebuild", actor="alice")
    waiting = runs.submit("partner_sync", actor="alice")
    run_queue.tick()
    for run in (holder, waiting):
        runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
        # Past the start allotment: only its claims count for its pools.
        Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=3))
        run.refresh_from_db()
    assert {holder.status, waiting.status} == {RunStatus.STARTED}
    pools.set_limit("warehouse", 4, actor="alice")
    assert pools.try_claim(holder, "rebuild_marts", {"warehouse": 3}, 0, None).claimed
    Step.objects.filter(run=holder, step_key="rebuild_marts").update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=40)
    )
    # 3 of the 4 warehouse slots are held: the two-pool step (2 + 1) waits for both.
    result = pools.try_claim(waiting, "sync_partner", {"warehouse": 2, "partner_api": 1}, 0, None)
    assert not result.claimed
    Step.objects.filter(run=waiting, step_key="sync_partner").update(
        status="WAITING", wait_reason=result.message
    )
    runs.submit("partner_sync", actor="bob")
    runs.submit("quick", actor="bob")
    run_queue.tick()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    procs.start("web", ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"])
    _wait_for_http(base + "/login/")
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
            for url, name in (
                (f"/runs/{waiting.run_id}/", "run-detail-two-pools"),
                ("/runs/?tab=queued", "runs-queued-weighted"),
            ):
                page.goto(url)
                page.wait_for_load_state("networkidle")
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"wrote {path}")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
