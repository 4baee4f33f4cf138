"""Tests against real Dagster instances: they need the `dagster` extra.

Without it they are skipped, unless REQUIRE_DAGSTER=1 (CI), where a missing extra fails.
"""

from __future__ import annotations

import importlib.util
import os

import pytest


def _installed() -> bool:
    try:
        return importlib.util.find_spec("dagster") is not None
    except ImportError:
        return False


if not _installed():
    if os.environ.get("REQUIRE_DAGSTER") == "1":
        raise RuntimeError("REQUIRE_DAGSTER=1 but the dagster extra is not installed")
    # Only the test that needs no Dagster runs (it proves nothing of Dagster is imported).
    collect_ignore_glob = ["test_[!w]*.py"]


@pytest.fixture(scope="session")
def dagster_postgres_url():
    """A PostgreSQL database for Dagster's storage, on the server of DATABASE_URL.

    Named by DAGSTER_TEST_DATABASE (default: DATABASE_URL's name and "_dagster"), with the
    xdist worker's suffix ("_gw0") under pytest -n; created if missing; each scenario empties
    Dagster's tables through Dagster's own wipe.
    """
    import dj_database_url
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")
    parts = dj_database_url.parse(url)
    name = os.environ.get("DAGSTER_TEST_DATABASE") or f"{parts['NAME']}_dagster"
    if os.environ.get("PYTEST_XDIST_WORKER"):
        name = f"{name}_{os.environ['PYTEST_XDIST_WORKER']}"
    server = dict(
        host=parts["HOST"] or "127.0.0.1",
        port=parts["PORT"] or 5432,
        user=parts["USER"] or "postgres",
        password=parts["PASSWORD"] or None,
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    auth = server["user"] + (f":{server['password']}" if server["password"] else "")
    return f"postgresql://{auth}@{server['host']}:{server['port']}/{name}"


@pytest.fixture
def deployment(tmp_path, settings):
    """Build a scenario into a real SQLite Dagster instance and attach it (DAGSTER_HOME).

    Returns `attach(scenario) -> (instance, ids)`; the instance stays open for the test to
    change (a daemon heartbeat, a slot) and is disposed at the end.
    """
    from queueing import dagster_source

    from .harness import build, fresh_instance

    opened = []

    def attach(scenario):
        folder = tmp_path / f"dagster_home_{len(opened)}"
        folder.mkdir()
        instance = fresh_instance(str(folder), scenario.document())
        opened.append(instance)
        ids = build(instance, scenario)
        settings.DAGSTER_HOME = str(folder)
        return instance, ids

    yield attach
    dagster_source.forget()
    for instance in opened:
        instance.dispose()
