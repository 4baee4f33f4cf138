"""`make dev`'s embedded default under load: scripts/dev_soak.py at reduced size.

`make dev-soak` runs the same script for 30 minutes; here it runs for DEV_SOAK_SECONDS (100)
with DEV_SOAK_RUNS (30) demo runs. SQLite and the embedded broker in a fresh VAR_DIR,
whatever database and broker this test session uses.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.workers import ROOT

pytestmark = [pytest.mark.celery_worker]

SECONDS = os.environ.get("DEV_SOAK_SECONDS", "100")
RUNS = os.environ.get("DEV_SOAK_RUNS", "30")


def test_the_embedded_default_stays_up_while_runs_execute_and_every_page_is_loaded(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "scripts/dev_soak.py",
            "--seconds",
            SECONDS,
            "--runs",
            RUNS,
            "--sleep-scale",
            "0.25",
            "--drain-seconds",
            "240",
            "--var-dir",
            str(tmp_path / "var"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=float(SECONDS) + 600,
    )
    print(done.stdout[-6000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "OK: every run finished as expected" in done.stdout
