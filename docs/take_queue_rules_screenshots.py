"""Screenshots of issue 18's queue rules: the Queued tab with start estimates, fair share's
turns and queue-age bounds, the tab filtered by what holds runs and by a fair-share value,
and a queued run's page (docs/screenshots/queue-rules-*.png).

    .venv/bin/python docs/take_queue_rules_screenshots.py

A throwaway SQLite instance in a temporary directory: a history of finished demo runs, fair
share on `team`, a distinct-values cap on `dagster/backfill`, tag limits per team, a
queue-age bound (two runs queued close to it), a backfill of eight runs ahead of two runs
of another team; one tick launches the first ones (no worker runs them, so they stay in
progress), then `runserver` and Debian's Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CONFIG = """\
concurrency:
  runs:
    max_concurrent_runs: -1
    tag_concurrency_limits:
      - {key: dagster/backfill, value: {maxUniqueValues: 2}}
      - {key: team, value: data, limit: 3}
      - {key: team, value: growth, limit: 1}
concurrency_ui:
  max_queued_seconds: 7200
  fair_share: {key: team, weights: {growth: 2}}
"""


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cui-shots-"))
    os.environ.update(
        VAR_DIR=str(tmp),
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="concurrency_ui.settings",
        SUBMIT_RATE="off",
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from queueing.models import Run
    from queueing.services import config, run_queue, runs

    call_command("migrate", verbosity=0)
    call_command("bootstrap", verbosity=0)
    User.objects.filter(username="admin").delete()
    User.objects.create_superuser("shots", password="shots-password-1")
    config.load_yaml(CONFIG, actor="shots")
    end = timezone.now() - timedelta(hours=2)
    for job, seconds in [("redshift_etl", 240), ("quick", 45), ("api_ingest", 150)] * 3:
        run = runs.submit(job, actor="shots")
        Run.objects.filter(pk=run.pk).update(
            status="SUCCESS", started_at=end - timedelta(seconds=seconds), ended_at=end
        )
    for n in range(8):
        runs.submit("quick", tags={"team": "data", "dagster/backfill": f"b{n % 3}"}, actor="x")
    for _ in range(2):
        runs.submit("redshift_etl", tags={"team": "growth"}, actor="shots")
    run_queue.send_launches = lambda ids: None
    run_queue.tick()
    # Two of the waiting backfill runs have been queued for nearly the two-hour bound.
    close = Run.objects.queued().filter(tags__team="data").order_by("id")[:2]
    Run.objects.filter(pk__in=[r.pk for r in close]).update(
        enqueued_at=timezone.now() - timedelta(minutes=108)
    )
    waiting = Run.objects.queued().order_by("id").first()
    assert waiting is not None

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(base + "/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(base + "/login/")
            page.fill("input[name=username]", "shots")
            page.fill("input[name=password]", "shots-password-1")
            page.click("button[type=submit]")
            page.goto(base + "/runs/?tab=queued")
            page.screenshot(path=str(OUT / "queue-rules-queued.png"), full_page=True)
            page.select_option("select[name=held_by]", "distinct_values")
            page.select_option("select[name=share]", "data")
            page.click("button:has-text('Filter')")
            page.wait_for_load_state()
            page.screenshot(path=str(OUT / "queue-rules-queued-filtered.png"), full_page=True)
            page.goto(base + f"/runs/{waiting.run_id}/")
            page.screenshot(path=str(OUT / "queue-rules-run.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
