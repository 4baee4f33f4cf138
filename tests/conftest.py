"""Test-wide fixtures: real Celery workers on the test database, and the services rule.

Under REQUIRE_SERVICES=1 (CI) a test that needs PostgreSQL or Redis fails instead of
skipping, and any skip fails the run, so CI cannot go green without its real services.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# "gw0", "gw1", ... in a pytest-xdist worker (pytest -n).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
# Before anything loads the workspace, in this process and in the workers tests start.
os.environ["CODE_LOCATIONS"] = "queueing.demo.definitions,tests.support.jobs"


def _broker_is_redis() -> bool:
    from django.conf import settings

    return settings.CELERY_BROKER_URL.startswith("redis")


def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and not config.pluginmanager.has_plugin(
        "tests.support.parallel"
    ):
        raise pytest.UsageError(
            "pytest -n needs -p tests.support.parallel (a broker and VAR_DIR per xdist worker): "
            "python -m pytest -p tests.support.parallel -n 2, as `make test` runs it"
        )
    # pytest-django recreates the SQLite test file but not its WAL side files; stale ones
    # from an earlier session make every new connection fail with "disk I/O error".
    try:
        from django.conf import settings

        settings.DATABASES  # noqa: B018
    except Exception:  # run with -p no:django for the pure tests
        return
    test_name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if test_name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        # pytest-django appends "_gw<i>" to an xdist worker's test database.
        if XDIST_WORKER and not test_name.endswith(f"_{XDIST_WORKER}"):
            test_name = f"{test_name}_{XDIST_WORKER}"
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(f"{test_name}{suffix}")
            except FileNotFoundError:
                pass


def pytest_collection_modifyitems(config, items):
    """The modules that start Celery workers first, each in its own order: they are the
    long ones, so under `pytest -n` they start early instead of making a tail at the end
    while the other worker idles. (Stable sort: every other module keeps its place.)"""
    slow = {item.path for item in items if item.get_closest_marker("celery_worker")}
    items.sort(key=lambda item: item.path not in slow)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            message = "needs PostgreSQL: set DATABASE_URL=postgres://…"
            pytest.fail(message) if REQUIRE_SERVICES else pytest.skip(message)
    if item.get_closest_marker("redis") and not _broker_is_redis():
        message = "needs Redis: set CELERY_BROKER_URL=redis://…"
        pytest.fail(message) if REQUIRE_SERVICES else pytest.skip(message)


def pytest_sessionfinish(session, exitstatus):
    pytest_configure(session.config)  # the per-session SQLite test file goes too
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand the counts over
        from .dagster.counts import SCENARIOS

        session.config.workeroutput["dagster_scenarios"] = dict(SCENARIOS)
    if REQUIRE_SERVICES and session.config.pluginmanager.get_plugin("terminalreporter"):
        skipped = session.config.pluginmanager.get_plugin("terminalreporter").stats.get(
            "skipped", []
        )
        if skipped and exitstatus == 0:
            print(f"\nREQUIRE_SERVICES=1 but {len(skipped)} test(s) were skipped")
            session.exitstatus = 1


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: add up the Dagster comparison counts of each worker."""
    from .dagster.counts import SCENARIOS

    SCENARIOS.update(getattr(node, "workeroutput", {}).get("dagster_scenarios", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # Here rather than in tests/dagster/conftest.py: under xdist the controller, which
    # prints the summary, never imports that conftest.
    from .dagster.counts import SCENARIOS

    if SCENARIOS:
        terminalreporter.section("Dagster comparison")
        for name, count in sorted(SCENARIOS.items()):
            terminalreporter.write_line(f"{name}: {count}")


@pytest.fixture(autouse=True)
def _fresh_submit_counts():
    """The per-user submit rate (SUBMIT_RATE) counts in the local-memory cache, and user ids
    repeat from test to test; each test starts with no submit counted."""
    try:
        from django.core.cache import cache

        cache.clear()
    except Exception:  # run with -p no:django for the pure tests
        pass


@pytest.fixture(autouse=True)
def _fast_demo(monkeypatch):
    monkeypatch.setenv("DEMO_SLEEP_SCALE", os.environ.get("DEMO_SLEEP_SCALE", "0.05"))


@pytest.fixture
def processes(tmp_path, transactional_db):
    """Real worker/beat processes sharing the (committed) test database and the broker."""
    from concurrency_ui.celery import app

    from .support.workers import Processes

    try:
        app.control.purge()
    except Exception:
        pass
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()
