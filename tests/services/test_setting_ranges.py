"""Every configurable number has a range the code can handle (issue 12).

`concurrency_ui.wait_history_retention_days: 1000000` was accepted and then made every
monitoring tick fail with `OverflowError: date value out of range`. Here Hypothesis draws
configurations from the ranges the engine accepts (`int_setting_range`, both ends
included), saves each through the import path, and runs one tick of each daemon plus the
readers of the settings (daemon health, the doctor) on a database holding runs in every
state the daemons act on.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing.engine.config.export import to_instance_yaml
from queueing.engine.config.flat import apply_setting, check_config
from queueing.engine.config.model import InstanceConfig
from queueing.engine.config.specs import SETTING_NAMES, int_setting_range
from queueing.engine.doctor.facts import WorkerFacts
from queueing.engine.types import RunStatus
from queueing.models import PoolClaim, Run, RunWait
from queueing.services import config as config_service
from queueing.services import doctor, monitoring, run_queue, runs
from queueing.services.daemons import daemon_status

pytestmark = pytest.mark.django_db


def _int_values(name: str) -> st.SearchStrategy[int | None]:
    accepted = int_setting_range(name)
    low = -5 if accepted.minimum is None else accepted.minimum  # <= 0 means "off" there
    ends = st.sampled_from([low, accepted.maximum])
    values = st.one_of(ends, ends, st.integers(low, accepted.maximum))
    return st.one_of(st.none(), values) if accepted.nullable else values


def _value(name: str) -> st.SearchStrategy:
    if int_setting_range(name) is not None:
        return _int_values(name)
    if name == "granularity":
        return st.sampled_from(["op", "run"])
    if name == "tag_limits":
        limits = st.fixed_dictionaries(
            {"key": st.sampled_from(["database", "team"]), "limit": _int_values("slot_buffer")}
        )
        return st.lists(limits, max_size=2)
    if name == "extra.max_queued_seconds_by_tag":
        bound = st.integers(1, 2**31 - 1)
        bounds = st.fixed_dictionaries(
            {
                "key": st.sampled_from(["database", "team"]),
                "seconds": st.sampled_from([1, 2**31 - 1]) | bound,
            }
        )
        return st.lists(bounds, max_size=2)
    if name == "extra.fair_share":
        weights = st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from([1, 1000]))
        return st.none() | st.fixed_dictionaries({"key": st.just("team"), "weights": weights})
    return st.booleans()


@st.composite
def accepted_configurations(draw) -> InstanceConfig:
    config = InstanceConfig()
    for name in SETTING_NAMES:
        config = apply_setting(config, name, draw(_value(name)))
    if check_config(config):
        # Granularity `run` and a buffer need pool-aware dequeuing (Q6).
        config = apply_setting(config, "block_op_concurrency_limited_runs", True)
    assert check_config(config) == ()
    return config


def _runs_in_every_state() -> None:
    """Queued, starting, started (with a stale heartbeat), canceling and finished runs, a
    finished run still holding a pool slot, and an old wait: work for every daemon rule."""
    long_ago = timezone.now() - timedelta(days=400)
    made = [runs.submit("quick", tags={"database": "redshift"}, actor="test") for _ in range(6)]
    for run, status in zip(
        made[1:],
        [RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING, RunStatus.SUCCESS],
        strict=False,
    ):
        Run.objects.filter(pk=run.pk).update(
            status=status,
            launched_at=long_ago,
            started_at=long_ago,
            canceling_at=long_ago,
            heartbeat_at=long_ago,
            ended_at=long_ago if status == RunStatus.SUCCESS else None,
        )
    PoolClaim.objects.create(
        pool_key="redshift",
        run=made[4],
        step_key="only",
        enqueued_at=long_ago,
        claimed_at=long_ago,
    )
    RunWait.objects.create(
        run=made[5], rule="max_concurrent_runs", message="x", started_at=long_ago, ended_at=long_ago
    )


@pytest.fixture
def no_workers(monkeypatch):
    monkeypatch.setattr(doctor, "celery_queues", lambda app=None, timeout=1.0: WorkerFacts({}))
    monkeypatch.setattr("queueing.services.run_queue.send_launches", lambda ids: None)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(config=accepted_configurations())
def test_every_accepted_configuration_runs_a_tick_of_every_daemon(no_workers, config):
    with transaction.atomic():
        # Runs first: a drawn `max_queued_runs` may refuse every submit.
        _runs_in_every_state()
        config_service.load_yaml(to_instance_yaml(config), actor="test")
        assert config_service.current_config() == config
        now = timezone.now()

        run_queue.tick(force=True, now=now)
        run_queue.tick(force=False, now=now + timedelta(seconds=1))
        monitoring.tick(force=True, now=now)
        monitoring.tick(force=False, now=now + timedelta(seconds=1))
        daemon_status(now)
        assert [f.check for f in doctor.diagnose(now)]
        transaction.set_rollback(True)


def test_the_issues_retention_of_a_million_days_is_refused_not_stored(db):
    # The attack: accepted, then every monitoring tick failed with OverflowError.
    text = yaml.safe_dump({"concurrency_ui": {"wait_history_retention_days": 1_000_000}})

    result = config_service.check_yaml(text)

    assert [str(e) for e in result.errors] == [
        "concurrency_ui.wait_history_retention_days: 1000000 is too large: the maximum is 36500"
    ]
