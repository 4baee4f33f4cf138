"""Regenerate docs/screenshots/*.png from a throwaway instance full of demo runs.

    .venv/bin/python docs/take_screenshots.py [--out docs/screenshots] [--keep]

Everything lives in a temporary directory (SQLite database, filesystem broker): the
script starts `runserver`, a Celery worker and beat on it, and drives Debian's Chromium
(`/usr/bin/chromium`, never a downloaded one) through Playwright at 1366x900.

The story it sets up, with the demo code location:
1. Finished runs of every demo job, fast (DEMO_SLEEP_SCALE=0.3), one failing and one
   canceled, while a tag limit `database=redshift: 1` makes a second ETL wait.
2. A worker with slow steps (DEMO_SLEEP_SCALE=40): a Redshift ETL holding the `redshift`
   pool (limit 1), an API ingest filling the `api` pool (limit 2) with a step waiting, and
   a fan-out running four branches. Queued behind them: a second ETL (tag limit), a second
   API ingest (pool `api`).
3. For the Queued tab the beat is stopped, so the next tick's verdicts stay on screen: a
   run that launches at the next tick, and runs over `max_concurrent_runs`.
4. For the Daemons page the instance is run by `manage.py dev`, and its runs worker is
   killed once with SIGKILL: the page shows the restart.
The instance is minutes old, so the overview chart would show two points: the script adds
run-queue tick records for the hour before (queue depth rising and draining twice) so the
picture shows what the chart looks like in use. Takes about two minutes.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1366, "height": 900}
FAST, SLOW = "0.3", "40"

CONFIG = """\
run_queue:
  max_concurrent_runs: 4
  dequeue_interval_seconds: 1
  tag_concurrency_limits:
    - key: database
      value: redshift
      limit: 1
  block_op_concurrency_limited_runs:
    enabled: true
run_monitoring:
  enabled: true
  poll_interval_seconds: 5
"""
POOLS = {"redshift": 1, "api": 2, "snowflake": 2}
BROKEN_RUN_CONFIG = """\
ops:
  load_orders:
    config:
      table: analytics.orders
  transform_orders:
    config: {batch_size: 500
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    var = Path(tempfile.mkdtemp(prefix="cui-screenshots-"))
    os.environ.update(
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}",
        CODE_LOCATIONS="queueing.demo.definitions",
        DEMO_SLEEP_SCALE=FAST,
        DJANGO_SETTINGS_MODULE="concurrency_ui.settings",
        # Playwright's sync API runs an event loop in this thread; the ORM calls are sync.
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
        Story(procs, args.out).run()
    finally:
        procs.stop_all()
        if args.keep:
            print(f"instance kept in {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)


class Story:
    def __init__(self, procs, out: Path) -> None:
        self.procs = procs
        self.out = out
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def run(self) -> None:
        from django.contrib.auth.models import Group, User

        from queueing.services import config, pools

        config.load_yaml(CONFIG, actor="alice")
        for key, limit in POOLS.items():
            pools.set_limit(key, limit, actor="alice")
        user = User.objects.create_user("alice", password="demo-pass-1")
        user.groups.add(Group.objects.get(name="admin"))

        self.procs.start("web", ["manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"])
        self.earlier_ticks()
        self.finished_runs()
        self.runs_in_progress()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                self.shoot(browser, user)
            finally:
                browser.close()

    # --- data ---------------------------------------------------------------------------

    def earlier_ticks(self) -> None:
        """One run-queue tick record a minute for the hour before this instance existed."""
        from datetime import timedelta

        from django.utils import timezone

        from queueing.models import TickRecord

        rng = random.Random(7)
        now = timezone.now()
        records = []
        for minutes_ago in range(60, 3, -1):
            wave = 9 * math.exp(-(((minutes_ago - 44) / 6) ** 2))
            wave += 5 * math.exp(-(((minutes_ago - 17) / 4) ** 2))
            queued = max(0, round(wave + rng.uniform(-0.8, 0.8)))
            active = min(4, queued + 1) if queued else rng.randint(0, 2)
            records.append(
                TickRecord(
                    daemon="run_queue",
                    started_at=now - timedelta(minutes=minutes_ago),
                    duration_ms=rng.uniform(4, 12),
                    launched=rng.randint(0, 2) if queued else 0,
                    queued=queued,
                    active=active,
                )
            )
        TickRecord.objects.bulk_create(records)

    def finished_runs(self) -> None:
        from queueing.models import Run
        from queueing.services import runs
        from tests.support.workers import wait_until

        canceled = runs.submit("quick", actor="alice")
        runs.terminate(canceled.run_id, actor="alice")
        jobs = [
            "redshift_etl",
            "quick",
            "redshift_etl",  # waits for the first one: tag limit database=redshift
            "api_ingest",
            "snowflake_sync",
            "always_fails",
            "parallel_fanout",
            "quick",
            "orders_pipeline",
            "quick",
        ]
        self.history = [runs.submit(job, actor=_actor(i)) for i, job in enumerate(jobs)]
        self.procs.worker("fast")
        self.procs.beat()
        ids = [r.run_id for r in self.history]
        wait_until(
            lambda: not Run.objects.filter(run_id__in=ids, ended_at=None).exists(),
            timeout=400,  # a loaded machine runs the demo slowly
            message="the first runs to finish",
        )
        self.procs.kill("fast", sig=15)

    def runs_in_progress(self) -> None:
        from queueing.models import PoolClaim, Run, Step
        from queueing.services import runs
        from tests.support.workers import wait_until

        os.environ["DEMO_SLEEP_SCALE"] = SLOW
        self.procs.worker("slow")
        self.etl = runs.submit("redshift_etl", actor="alice")
        self.ingest = runs.submit("api_ingest", actor="bob")
        self.fanout = runs.submit("parallel_fanout", tags={"team": "analytics"}, actor="bob")
        wait_until(
            lambda: PoolClaim.objects.filter(claimed_at__isnull=False).count() >= 3,
            timeout=60,
            message="the redshift and api pools to fill",
        )
        wait_until(
            lambda: Step.objects.filter(run=self.fanout, status="RUNNING").count() >= 2,
            timeout=60,
            message="the fan-out branches to run",
        )
        self.held_by_tag = runs.submit(
            "redshift_etl", tags={"dagster/priority": "10", "reason": "backfill"}, actor="carol"
        )
        self.held_by_pool = runs.submit("api_ingest", actor="bob")
        wait_until(
            lambda: (
                Run.objects.filter(run_id__in=[self.held_by_tag.run_id, self.held_by_pool.run_id])
                .exclude(wait_rule="")
                .count()
                == 2
            ),
            timeout=20,
            message="a tick to hold the queued runs",
        )

    # --- screenshots ------------------------------------------------------------------------

    def shoot(self, browser, user) -> None:
        from queueing.models import Run
        from queueing.services import pools, runs

        def logged_in(**options):
            return logged_in_page(browser, self.base, user, **options)

        page = logged_in()
        _wait_for_http(self.base + "/login/")

        self.snap(page, "/", "overview")
        self.snap(page, "/runs/?tab=in_progress", "runs-in-progress")
        self.snap(page, "/runs/?tab=finished", "runs-finished")
        waited = self.history[2]
        page.goto(f"/runs/{waited.run_id}/")
        page.locator("details", has_text="Logs of").first.locator("summary").click()
        self.snap(page, None, "run-detail")
        self.snap(page, f"/runs/{self.held_by_tag.run_id}/", "run-detail-queued")
        self.snap(page, "/deployment/concurrency/", "concurrency")
        self.snap(page, "/deployment/configuration/", "configuration")
        self.snap(page, "/pools/api/", "pool")
        page.goto("/runs/00000000-no-such-run/")
        self.snap(page, None, "not-found")
        # A phone (390 px wide) and the dark colour scheme.
        mobile = logged_in(viewport={"width": 390, "height": 844})
        for url, name in [
            ("/", "overview"),
            ("/runs/?tab=in_progress", "runs-in-progress"),
            ("/runs/?tab=finished", "runs-finished"),
            (f"/runs/{waited.run_id}/", "run-detail"),
            ("/pools/api/", "pool"),
            ("/deployment/concurrency/", "concurrency"),
            ("/deployment/configuration/", "configuration"),
            ("/troubleshooting/", "troubleshooting"),
            ("/launchpad/?job=redshift_etl", "launchpad"),
        ]:
            self.snap(mobile, url, f"mobile-{name}")
        mobile.locator("details.dropdown summary").click()
        self.snap(mobile, None, "mobile-menu")
        dark = logged_in(color_scheme="dark")
        for url, name in [
            ("/", "overview"),
            ("/runs/?tab=in_progress", "runs-in-progress"),
            (f"/runs/{waited.run_id}/", "run-detail"),
            ("/pools/api/", "pool"),
            ("/runs/?tab=finished", "runs-finished"),
            ("/deployment/concurrency/", "concurrency"),
            ("/deployment/configuration/", "configuration"),
            ("/troubleshooting/", "troubleshooting"),
            ("/launchpad/?job=redshift_etl", "launchpad"),
            ("/deployment/daemons/", "daemons"),
        ]:
            self.snap(dark, url, f"dark-{name}")
        page.goto("/launchpad/?job=redshift_etl")
        editor = page.get_by_label("Run config (YAML)", exact=True)
        editor.fill(BROKEN_RUN_CONFIG)
        editor.press("End")
        page.get_by_label("Tag key 1", exact=True).fill("team")
        page.get_by_label("Tag value 1", exact=True).fill("analytics")
        page.locator("#errors-run_config .error").wait_for()
        self.snap(page, None, "launchpad")

        response = page.goto("/troubleshooting/")
        if response is not None and response.ok:
            self.snap(page, None, "troubleshooting")
        else:
            print("no /troubleshooting/ page yet: skipped")

        # Freeze the queue between two ticks: the verdicts of the next tick stay visible.
        self.procs.kill("beat", sig=15)
        # A closed pool: the Queued tab says so.
        pools.set_limit("snowflake", 0, actor="carol")
        runs.submit("snowflake_sync", actor="bob")
        for _ in range(2):
            runs.submit("quick", actor="dave")
        queued = Run.objects.filter(status="QUEUED").count()
        print(f"{queued} runs queued for the Queued tab")
        time.sleep(2)  # ages of a few seconds rather than 0.0s
        self.snap(page, "/runs/?tab=queued", "runs-queued")
        self.snap(page, "/pools/snowflake/", "pool-closed")
        self.snap(dark, "/runs/?tab=queued", "dark-runs-queued")
        self.snap(mobile, "/runs/?tab=queued", "mobile-runs-queued")
        # The simulator's diff against today: one more place, and the closed pool opened.
        page.goto("/troubleshooting/?max_concurrent_runs=5&pool=snowflake&pool_limit=1")
        page.locator("#what-if").scroll_into_view_if_needed()
        page.wait_for_load_state("networkidle")
        path = self.out / "troubleshooting-what-if.png"
        page.locator("#what-if").screenshot(path=str(path))
        print(f"wrote {path}")

        anonymous = browser.new_context(viewport=VIEWPORT, base_url=self.base).new_page()
        self.snap(anonymous, "/login/", "login")
        self.daemons_under_manage_py_dev(page)

    def daemons_under_manage_py_dev(self, page) -> None:
        """The same instance run by `manage.py dev`, whose runs worker is killed once: the
        Daemons page shows the heartbeats, the supervised processes with that restart, and
        the workers."""
        import json
        import signal

        from django.conf import settings

        from tests.support.workers import wait_until

        self.procs.stop_all()
        dev = self.procs.start("dev", ["manage.py", "dev", "--port", str(self.port)])
        state_file = Path(settings.VAR_DIR) / "supervisor.json"

        def process(name):
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                return None
            return next(p for p in state["processes"] if p["name"] == name)

        _wait_for_http(self.base + "/login/", timeout=60)
        wait_until(lambda: (p := process("runs")) and p["running"], timeout=60)
        time.sleep(8)  # the workers are up and the daemons have ticked
        killed = process("runs")["pid"]
        os.kill(killed, signal.SIGKILL)
        wait_until(
            lambda: (p := process("runs")) and p["running"] and p["pid"] != killed,
            timeout=60,
            message="the runs worker to be restarted",
        )
        time.sleep(8)
        # The filesystem broker polls its folder, so the page's short ping sometimes misses
        # a worker that is up; show the page once both answered.
        for _ in range(8):
            page.goto("/deployment/daemons/")
            if page.get_by_text("runs@").count() and page.get_by_text("control@").count():
                break
        self.snap(page, None, "daemons")
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(60)

    def snap(self, page, url: str | None, name: str) -> None:
        snap(page, self.out, url, name)


# --- shared by every take_*_screenshots.py script ------------------------------------------


def logged_in_page(browser, base: str, user, **options):
    """A page of a new browser context (1366x900 unless `options` say otherwise) logged in
    as `user` through a session cookie, as the browser tests do."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=base, **{"viewport": VIEWPORT, **options})
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        ]
    )
    return context.new_page()


def snap(page, out: Path, url: str | None, name: str) -> None:
    """Open `url` (None: the page as it is) and save the whole page as `out/name.png`; an
    error answer stops the script with the page's text."""
    if url is not None:
        response = page.goto(url)
        if response is not None and not response.ok:
            text = page.inner_text("body")[:3000]
            raise RuntimeError(f"{url} answered HTTP {response.status}:\n{text}")
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def _actor(i: int) -> str:
    return ["alice", "bob", "carol"][i % 3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
