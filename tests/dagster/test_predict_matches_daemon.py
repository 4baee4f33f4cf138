"""`predict` against Dagster's own queue daemon, on real Dagster instances.

For each generated deployment: build it into a real instance through Dagster's API, read it
back with concurrency-ui's reader (the same one DAGSTER_HOME uses), predict the next
iteration with the engine's "dagster_1_13" semantics, then run one iteration of Dagster's
QueuedRunCoordinatorDaemon with a launcher that only records. The launched run ids, in
order, must equal the prediction, every time.

Scenario counts: DAGSTER_SCENARIOS (default 300 on SQLite; PostgreSQL runs a fifth of it).
The counts run are printed in the session summary ("Dagster comparison").
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from queueing.dagster_source.queue import decision, predict
from queueing.dagster_source.reader import read_state

from .counts import SCENARIOS
from .harness import (
    POOLS,
    RunSpec,
    Scenario,
    build,
    daemon_launches,
    scenario_instance,
)

SQLITE_FOLDER = tempfile.mkdtemp(prefix="cui-dagster-scenarios-")
atexit.register(shutil.rmtree, SQLITE_FOLDER, True)
QUIRK_NEEDLES = {
    "Q1": "Q1 of",
    "Q2 (25743)": "25743",
    "Q3 (25109/31936)": "no limit row yet",
    "Q3 default 0": "default_limit is 0",
    "Q4": "Q4 of",
    "Q6": "Q6 of",
    "a removed default": "no longer has",
}
SQLITE_EXAMPLES = int(os.environ.get("DAGSTER_SCENARIOS", "300"))
POSTGRES_EXAMPLES = max(20, SQLITE_EXAMPLES // 5)

TAG_VALUES = {"team": ("a", "b"), "db": ("x", "y"), "dagster/backfill": ("b1", "b2")}
PRIORITIES = (None, "-1", "0", "2", "5", "high", " 3", "1.5")


@st.composite
def tag_limit(draw):
    key = draw(st.sampled_from(sorted(TAG_VALUES)))
    limit = draw(st.sampled_from([0, 1, 1, 2, 2, 3]))
    kind = draw(st.sampled_from(["key", "key_value", "per_value", "per_value_false"]))
    item = {"key": key, "limit": limit}
    if kind == "key_value":
        item["value"] = draw(st.sampled_from(TAG_VALUES[key]))
    elif kind == "per_value":
        item["value"] = {"applyLimitPerUniqueValue": True}
    elif kind == "per_value_false":
        item["value"] = {"applyLimitPerUniqueValue": False}
    return item


@st.composite
def run_spec(draw, status: str):
    tags = {}
    for key, values in TAG_VALUES.items():
        if draw(st.booleans()):
            tags[key] = draw(st.sampled_from(values))
    priority = draw(st.sampled_from(PRIORITIES))
    if priority is not None:
        tags["dagster/priority"] = priority
    pools = draw(st.lists(st.sampled_from(POOLS), unique=True, max_size=2))
    roots = {}
    others: tuple[str, ...] = ()
    unconstrained = False
    if pools:
        root_pools = draw(st.lists(st.sampled_from(pools), unique=True, max_size=len(pools)))
        roots = {p: draw(st.integers(1, 2)) for p in root_pools}
        others = tuple(p for p in pools if p not in roots)
        unconstrained = draw(st.booleans()) if roots else True
    return RunSpec(tags, roots, others, unconstrained, status)


@st.composite
def backfill_run(draw, pool: str | None):
    """A run of one of two backfills, bound to `pool` (its only root) or to no pool."""
    tags = {"dagster/backfill": draw(st.sampled_from(["b1", "b2"]))}
    if draw(st.booleans()):
        tags["dagster/priority"] = draw(st.sampled_from(["1", "-1", "x"]))
    if pool is None:
        return RunSpec(tags)
    return RunSpec(tags, {pool: 1})


@st.composite
def scenario(draw, postgres: bool = False):
    """A random deployment; one in four follows the recipe of Q2 (backfills sharing a tag
    limit, some bound to a full pool) and one in four that of Q3 (pools with only a default
    limit), which random draws reach too rarely to show their quirks.

    With `postgres`, rows of an old default come only with no default now: on PostgreSQL,
    Dagster 1.13 fails to re-initialise such a row to a new default and then blocks no run
    on any pool for that page, which the prediction does not model yet
    (`test_a_stale_default_row_on_postgresql_turns_pools_off`)."""
    recipe = draw(st.sampled_from(["random", "random", "q2", "q3"]))
    style = draw(st.sampled_from(["legacy", "concurrency"]))
    lowest = -3 if style == "concurrency" else -1  # Q1: only concurrency.runs takes < -1
    # Mostly room to launch something: 0 and Q1's negatives freeze the queue.
    max_runs = draw(st.sampled_from([lowest, 0, -1, -1, 1, 2, 2, 3, 3, 5, 5]))
    blocking = draw(st.sampled_from([None, True, False]))
    # Dagster refuses a buffer with blocking disabled (when it builds the coordinator).
    buffer = 0 if blocking is False else draw(st.sampled_from([0, 0, 1, -1, 2]))
    granularity = draw(st.sampled_from([None, "op", "run"])) if style == "concurrency" else None
    default_limit = draw(st.sampled_from([None, None, 0, 1, 1, 2]))
    explicit = draw(
        st.dictionaries(st.sampled_from(POOLS), st.sampled_from([0, 1, 1, 2, 3]), max_size=2)
    )
    tag_limits = tuple(draw(st.lists(tag_limit(), max_size=4)))
    queued = tuple(draw(st.lists(run_spec("QUEUED"), min_size=1, max_size=12)))
    if recipe == "q2":
        blocking = draw(st.sampled_from([None, True]))
        max_runs = draw(st.sampled_from([-1, 3, 5]))
        explicit = {"p1": draw(st.sampled_from([0, 1]))}
        tag_limits = (
            {"key": "dagster/backfill", "limit": draw(st.integers(1, 2))},
            *tag_limits[:1],
        )
        queued = tuple(
            draw(
                st.lists(
                    st.sampled_from(["p1", None]).flatmap(lambda pool: backfill_run(pool)),
                    min_size=2,
                    max_size=8,
                )
            )
        )
    elif recipe == "q3":
        blocking = draw(st.sampled_from([None, True]))
        default_limit = draw(st.sampled_from([0, 1, 2]))
        explicit = {}
        queued = tuple(RunSpec(spec.tags, {draw(st.sampled_from(POOLS)): 1}) for spec in queued[:6])
    default_rows: tuple[str, ...] = ()
    unset = [p for p in POOLS if p not in explicit]
    if default_limit is not None and unset and recipe != "q3":
        default_rows = tuple(draw(st.lists(st.sampled_from(unset), unique=True)))
    # Rows an earlier default wrote (dagster.yaml edited since, or the default removed).
    stale_default = draw(st.sampled_from([1, 2, 3]))
    stale_rows: tuple[str, ...] = ()
    unset = [p for p in unset if p not in default_rows]
    stale_allowed = not postgres or default_limit is None
    if (
        stale_allowed
        and stale_default != default_limit
        and unset
        and recipe == "random"
        and draw(st.booleans())
    ):
        stale_rows = tuple(draw(st.lists(st.sampled_from(unset), unique=True, min_size=1)))
    statuses = ["STARTING", "STARTED_RECENT", "STARTED_OLD", "CANCELING", "SUCCESS", "CANCELED"]
    others = tuple(
        draw(st.lists(st.sampled_from(statuses).flatmap(lambda s: run_spec(s)), max_size=4))
    )
    held = []
    for index, spec in enumerate(others):
        for pool in sorted(set(spec.roots) | set(spec.other_pools)):
            if draw(st.booleans()):
                held.append((pool, index, f"step_{pool}_{index}"))
    return Scenario(
        style=style,
        max_concurrent_runs=max_runs,
        tag_limits=tag_limits,
        blocking=blocking,
        buffer=buffer,
        granularity=granularity,
        default_limit=default_limit,
        pool_limits=explicit,
        default_rows=default_rows,
        stale_default=stale_default if stale_rows else None,
        stale_rows=stale_rows,
        queued=queued,
        others=others,
        held=tuple(held),
        page_size=draw(st.sampled_from([100, 100, 3, 5])),
    )


def check_scenario(folder: str, case: Scenario, postgres_url: str | None, counter: str) -> None:
    note(repr(case))
    instance = scenario_instance(folder, case, postgres_url)
    try:
        ids = build(instance, case)
        state = read_state(instance, folder, time.time())
        predicted = predict(state, page_size=case.page_size)
        notes = [
            n
            for v in decision(state, _paged(state, case.page_size)).verdicts.values()
            for n in v.notes
        ]
        launched = daemon_launches(instance, page_size=case.page_size)
    finally:
        instance.dispose()
    short = {run_id: f"q{i}" for i, run_id in enumerate(ids["queued"])}
    note(
        f"predicted {[short[r] for r in predicted]}, Dagster launched {[short[r] for r in launched]}"
    )
    SCENARIOS[counter] += 1
    if any(r in launched for r in ids["queued"]) or predicted:
        SCENARIOS[f"{counter}, with launches"] += 1
    if case.stale_rows:
        SCENARIOS[f"{counter}, with pool rows of an old default"] += 1
    for quirk, needle in QUIRK_NEEDLES.items():
        if any(needle in n for n in notes):
            SCENARIOS[f"{counter}, a verdict decided or shaped by {quirk}"] += 1
    assert list(predicted) == launched


@settings(
    max_examples=SQLITE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(case=scenario())
def test_predict_equals_the_daemons_launches_on_sqlite(case):
    # One folder for every example: Dagster's wipe empties it, and creating SQLite schemas
    # anew took most of an example's time.
    check_scenario(SQLITE_FOLDER, case, None, "scenarios on SQLite")


@pytest.mark.postgres
def test_predict_equals_the_daemons_launches_on_postgresql(dagster_postgres_url):
    @settings(
        max_examples=POSTGRES_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(case=scenario(postgres=True))
    def compare(case):
        with tempfile.TemporaryDirectory() as folder:
            check_scenario(folder, case, dagster_postgres_url, "scenarios on PostgreSQL")

    compare()


def test_every_quirk_shows_up_and_is_explained_on_a_real_instance(tmp_path):
    """The four quirks of the issue, each on a real instance: the daemon does what the
    faithful prediction says, and the verdict names the quirk."""
    cases = {
        "25743": Scenario(
            tag_limits=({"key": "team", "limit": 1},),
            pool_limits={"p1": 0},
            queued=(RunSpec({"team": "a"}, {"p1": 1}), RunSpec({"team": "a"})),
        ),
        "25109": Scenario(
            default_limit=1,
            queued=(RunSpec(roots={"p1": 1}), RunSpec(roots={"p1": 1})),
        ),
        "Q4": Scenario(
            max_concurrent_runs=3,
            tag_limits=({"key": "team", "limit": 1}, {"key": "db", "limit": 1}),
            queued=(
                RunSpec({"team": "a"}),
                RunSpec({"db": "x"}),
                RunSpec(),
                RunSpec(),
                RunSpec({"team": "a", "db": "x", "dagster/priority": "5"}),
            ),
            page_size=4,
        ),
        "no longer has": Scenario(
            stale_default=1,
            stale_rows=("p1",),
            queued=(RunSpec(roots={"p1": 1}),),
        ),
        "Q6": Scenario(
            style="concurrency",
            granularity="run",
            blocking=False,
            pool_limits={"p1": 1},
            others=(RunSpec(roots={"p1": 1}, status="STARTED_OLD"),),
            queued=(RunSpec(roots={"p1": 1}),),
        ),
    }
    for needle, case in cases.items():
        folder = tmp_path / needle
        folder.mkdir()
        instance = scenario_instance(str(folder), case)
        try:
            build(instance, case)
            state = read_state(instance, str(folder), time.time())
            verdicts = decision(state, _paged(state, case.page_size)).verdicts
            predicted = predict(state, page_size=case.page_size)
            assert list(predicted) == daemon_launches(instance, page_size=case.page_size)
        finally:
            instance.dispose()
        notes = [n for v in verdicts.values() for n in v.notes]
        assert any(needle in n for n in notes), (needle, notes)
        SCENARIOS["quirk cases on SQLite"] += 1


def _paged(state, page_size):
    from dataclasses import replace

    return replace(state.settings, run_queue_page_size=page_size)


@pytest.mark.postgres
@pytest.mark.xfail(
    strict=True,
    reason="not modelled yet: on PostgreSQL Dagster 1.13 cannot move a row of an old default "
    "to the new one (its INSERT's IntegrityError aborts the transaction, the fallback UPDATE "
    "then fails), builds no pool counter and blocks no run on any pool in that page",
)
def test_a_stale_default_row_on_postgresql_turns_pools_off(dagster_postgres_url):
    """Found by the PostgreSQL comparison: pool p3's row was written by default_limit 1 and
    dagster.yaml now says 0. On SQLite the daemon moves the row to 0 and launches only the
    run without pools; on PostgreSQL it launches all three, the run on the closed pool p1
    too. Strict: when the prediction learns this, the test says so."""
    case = Scenario(
        default_limit=0,
        pool_limits={"p1": 0},
        stale_default=1,
        stale_rows=("p3",),
        queued=(RunSpec(roots={"p1": 1}), RunSpec(roots={"p3": 1}), RunSpec()),
    )
    with tempfile.TemporaryDirectory() as folder:
        check_scenario(folder, case, dagster_postgres_url, "stale default row on PostgreSQL")
