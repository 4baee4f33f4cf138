from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from queueing.definitions import (
    DefinitionError,
    Definitions,
    StepContext,
    asset,
    define_asset_job,
    job,
    op,
)
from queueing.engine.plan import plan_from_dict, plan_to_dict, pool_summary

ROOT = Path(__file__).resolve().parents[2]


def context_for(job_name: str, step_key: str, run_config: dict | None = None) -> StepContext:
    return StepContext("run-1", job_name, step_key, run_config or {}, logging.getLogger("test"))


def run_job(job_def, run_config: dict | None = None) -> dict:
    """Every step in plan order, each fed its upstream outputs, as an executor would."""
    config = job_def.resolve_run_config(run_config)
    outputs: dict = {}
    for step in job_def.plan().steps:
        context = context_for(job_def.name, step.key, config)
        outputs[step.key] = job_def.run_step(step.key, context, outputs)
    return outputs


# --- ops and composition -----------------------------------------------------------------


@op
def numbers():
    return [1, 2, 3]


@op
def double(values):
    return [v * 2 for v in values]


@op
def total(context, left, right):
    context.log.info("adding up")
    return sum(left) + sum(right)


def test_job_body_records_fan_out_and_fan_in_dependencies():
    @job
    def diamond():
        base = numbers()
        total(double(base), right=base)

    plan = diamond.plan()

    assert plan.step_keys() == ("numbers", "double", "total")
    assert plan.step("double").deps == ("numbers",)
    assert plan.step("total").deps == ("double", "numbers")
    assert [s.key for s in plan.roots()] == ["numbers"]


def test_calling_an_op_twice_aliases_the_steps_like_dagster():
    @job
    def twice():
        base = numbers()
        double(double(base))
        double(base)

    plan = twice.plan()

    assert plan.step_keys() == ("numbers", "double", "double_2", "double_3")
    assert plan.step("double_2").deps == ("double",)
    assert {plan.step(k).op_name for k in ("double", "double_2", "double_3")} == {"double"}


def test_step_callables_run_the_graph_with_upstream_outputs_by_name():
    @job
    def diamond():
        base = numbers()
        total(double(base), base)

    fn, inputs, takes_context = diamond.get_step_callable("total")

    assert inputs == [("left", "double"), ("right", "numbers")]
    assert takes_context is True
    assert run_job(diamond)["total"] == 12 + 6


def test_an_op_input_must_come_from_another_op():
    with pytest.raises(DefinitionError, match="op 'double': input 'values' must be the output"):

        @job
        def constant():
            double([1, 2])


def test_a_missing_op_input_is_a_definition_error():
    with pytest.raises(DefinitionError, match="job 'missing': op 'double'"):

        @job
        def missing():
            double()


def test_op_name_and_description_can_be_overridden():
    @op(name="renamed", description="Does things.")
    def original():
        return 1

    @job
    def uses_renamed():
        original()

    assert uses_renamed.plan().step_keys() == ("renamed",)
    assert original.description == "Does things."


def test_an_op_called_outside_a_job_body_just_runs():
    assert double([1, 2]) == [2, 4]


def test_a_job_without_steps_is_refused():
    with pytest.raises(DefinitionError, match="job 'empty' has no steps"):

        @job
        def empty():
            pass


# --- pools and priorities ----------------------------------------------------------------


def test_pool_comes_from_pool_argument_or_the_legacy_concurrency_key_tag():
    @op(pool="redshift")
    def modern():
        return 1

    @op(tags={"dagster/concurrency_key": "snowflake"})
    def legacy():
        return 1

    @op(pool="api", tags={"dagster/concurrency_key": "api"})
    def both_agree():
        return 1

    @job
    def pools():
        modern()
        legacy()
        both_agree()

    plan = pools.plan()

    assert [plan.step(k).pools for k in ("modern", "legacy", "both_agree")] == [
        {"redshift": 1},
        {"snowflake": 1},
        {"api": 1},
    ]


def test_weights_and_several_pools_reach_the_plan_and_its_stored_copy():
    @op(pool="warehouse", pool_slots=3)
    def big_query():
        return 1

    @op(pools={"warehouse": 2, "partner_api": 1})
    def sync(rows):
        return rows

    @asset(pool="warehouse", pool_slots=2)
    def heavy_asset():
        return 1

    @job
    def weighted():
        sync(big_query())

    plan = weighted.plan()

    assert plan.step("big_query").pools == {"warehouse": 3}
    assert plan.step("sync").pools == {"partner_api": 1, "warehouse": 2}
    assert heavy_asset.pools == {"warehouse": 2}
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(plan)))) == plan
    summary = pool_summary(plan)
    assert summary is not None
    assert summary.root_pool_counts == {"warehouse": 3}
    assert summary.max_slots == {"partner_api": 1, "warehouse": 3}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool": "w", "pools": {"w": 1}}, "pool='w' and pools= are mutually exclusive"),
        (
            {"tags": {"dagster/concurrency_key": "w"}, "pools": {"w": 1}},
            "the legacy concurrency-key tag counts as pool=",
        ),
        ({"pool": "w", "pool_slots": 0}, "pool_slots: 0 is out of range"),
        ({"pool": "w", "pool_slots": 1001}, "pool_slots: 1001 is out of range"),
        ({"pool": "w", "pool_slots": True}, "pool_slots: expected an integer, got True"),
        ({"pool": "w", "pool_slots": "3"}, "pool_slots: expected an integer, got '3'"),
        ({"pool_slots": 2}, "pool_slots=2 needs a pool"),
        ({"pools": {"w": 1}, "pool_slots": 2}, "pool_slots= goes with pool="),
        ({"pools": {}}, "pools must be a non-empty mapping"),
        ({"pools": ["w"]}, "pools must be a non-empty mapping"),
        ({"pools": {"w": 0}}, "pools['w']: 0 is out of range"),
        ({"pools": {"": 1}}, "pools: a pool key must be a non-empty string"),
    ],
)
def test_bad_weights_and_pools_are_definition_errors_that_name_the_argument(kwargs, message):
    with pytest.raises(DefinitionError, match="^op 'x': ") as caught:

        @op(**kwargs)
        def x():
            return 1

    assert message in str(caught.value)
    assert "1 to 1000 slots" in str(caught.value) or "pool key" in str(caught.value)


def test_an_asset_refuses_pool_and_pools_together():
    with pytest.raises(DefinitionError, match="asset 'a': pool='w' and pools= are mutually"):

        @asset(pool="w", pools={"v": 1})
        def a():
            return 1


def test_pool_conflicting_with_the_concurrency_key_tag_is_a_definition_error():
    with pytest.raises(DefinitionError) as caught:

        @op(pool="a", tags={"dagster/concurrency_key": "b"})
        def x():
            return 1

    assert str(caught.value) == "op 'x': pool 'a' conflicts with the concurrency key tag 'b'"


def test_op_priority_tag_sets_the_step_priority():
    @op(tags={"dagster/priority": "5"})
    def urgent():
        return 1

    @job
    def prioritised():
        urgent()
        numbers()

    plan = prioritised.plan()

    assert plan.step("urgent").priority == 5
    assert plan.step("numbers").priority == 0


@pytest.mark.parametrize("value", ["high", "2147483648", "1.5"])
def test_a_bad_op_priority_tag_is_a_definition_error_naming_the_op(value):
    with pytest.raises(DefinitionError, match=r"op 'sloppy': tag 'dagster/priority'"):

        @op(tags={"dagster/priority": value})
        def sloppy():
            return 1


def test_a_bad_job_priority_tag_is_a_definition_error_naming_the_job():
    with pytest.raises(DefinitionError, match=r"job 'sloppy_job': tag 'dagster/priority'"):

        @job(tags={"dagster/priority": "soon"})
        def sloppy_job():
            numbers()


def test_tag_values_must_be_strings():
    with pytest.raises(DefinitionError, match="op 'typed': tag 'retries' must have a string value"):

        @op(tags={"retries": 3})
        def typed():
            return 1


# --- job tags and config -----------------------------------------------------------------


def test_job_tags_and_default_config_are_exposed_and_merged_under_run_config():
    @op
    def configured(context):
        return context.op_config

    @job(
        tags={"database": "redshift"},
        config={"ops": {"configured": {"config": {"table": "t", "rows": 10}}}},
        description="Configured.",
    )
    def with_config():
        configured()

    merged = with_config.resolve_run_config({"ops": {"configured": {"config": {"rows": 99}}}})

    assert with_config.tags == {"database": "redshift"}
    assert with_config.description == "Configured."
    assert merged == {"ops": {"configured": {"config": {"table": "t", "rows": 99}}}}
    assert run_job(with_config)["configured"] == {"table": "t", "rows": 10}
    # Callers get copies: editing them cannot change the definition.
    with_config.default_run_config["ops"].clear()
    assert with_config.default_run_config["ops"]


def test_run_config_errors_name_unknown_steps():
    @job
    def small():
        numbers()

    assert small.run_config_errors({"ops": {"numbers": {}}}) == []
    assert small.run_config_errors({"ops": {"nope": {}}}) == [
        "ops.nope: job 'small' has no step 'nope'"
    ]


def test_default_config_for_an_unknown_step_is_a_definition_error():
    with pytest.raises(DefinitionError, match="has no step 'typo'"):

        @job(config={"ops": {"typo": {"config": {}}}})
        def mistyped():
            numbers()


def test_step_context_exposes_run_details_and_op_config():
    context = StepContext(
        "r1", "etl", "load_2", {"ops": {"load_2": {"config": {"x": 1}}}}, logging.getLogger("t")
    )

    assert (context.run_id, context.job_name, context.step_key) == ("r1", "etl", "load_2")
    assert context.op_config == {"x": 1}
    assert StepContext("r1", "etl", "other", context.run_config).op_config is None


# --- assets -------------------------------------------------------------------------------


@asset(pool="redshift", tags={"domain": "sales"}, op_tags={"team": "data"})
def raw(context):
    context.log.info("raw")
    return [1, 2, 3]


@asset
def cleaned(raw):
    return [r for r in raw if r > 1]


@asset(op_tags={"dagster/concurrency_key": "snowflake", "dagster/priority": "3"})
def summary(context, cleaned, raw):
    return {"cleaned": len(cleaned), "raw": len(raw)}


@asset
def lookup():
    return {"a": 1}


@asset(deps=[summary, "lookup"])
def report():
    return "done"


ALL_ASSETS = [raw, cleaned, summary, lookup, report]


def test_asset_parameters_named_like_assets_are_data_dependencies():
    defs = Definitions(assets=ALL_ASSETS, jobs=[define_asset_job("everything", "*")])
    plan = defs.get_job("everything").plan()

    assert plan.step_keys() == ("raw", "cleaned", "summary", "lookup", "report")
    assert plan.step("cleaned").deps == ("raw",)
    assert plan.step("summary").deps == ("cleaned", "raw")
    assert plan.step("report").deps == ("summary", "lookup")
    assert [s.key for s in plan.roots()] == ["raw", "lookup"]


def test_asset_job_runs_functions_with_context_without_args_and_with_upstream_values():
    defs = Definitions(assets=ALL_ASSETS, jobs=[define_asset_job("everything", "*")])

    outputs = run_job(defs.get_job("everything"))

    assert outputs == {
        "raw": [1, 2, 3],
        "cleaned": [2, 3],
        "summary": {"cleaned": 2, "raw": 3},
        "lookup": {"a": 1},
        "report": "done",
    }


def test_asset_tags_do_not_reach_the_step_but_op_tags_and_pool_do():
    defs = Definitions(assets=ALL_ASSETS, jobs=[define_asset_job("everything", "*")])
    plan = defs.get_job("everything").plan()

    assert plan.step("raw").tags == {"team": "data"}
    assert plan.step("raw").pools == {"redshift": 1}
    assert plan.step("summary").pools == {"snowflake": 1}
    assert plan.step("summary").priority == 3


def test_asset_pool_conflicting_with_its_op_tag_is_a_definition_error():
    with pytest.raises(DefinitionError, match="asset 'bad': pool 'a' conflicts with"):

        @asset(pool="a", op_tags={"dagster/concurrency_key": "b"})
        def bad():
            return 1


def test_asset_job_ignores_dependencies_outside_its_selection():
    defs = Definitions(assets=ALL_ASSETS, jobs=[define_asset_job("tail", [summary, "report"])])
    job_def = defs.get_job("tail")
    plan = job_def.plan()

    assert plan.step_keys() == ("summary", "report")
    assert plan.step("summary").deps == ()
    assert plan.step("report").deps == ("summary",)
    # Unselected data inputs are passed None: there is no stored materialization to load.
    fn, inputs, _ = job_def.get_step_callable("summary")
    assert inputs == []
    with pytest.raises(TypeError):
        fn(context_for("tail", "summary"))  # summary calls len(None)


def test_asset_job_keeps_job_tags_as_run_tags():
    asset_job = define_asset_job("tagged", [raw], tags={"database": "redshift"})
    defs = Definitions(assets=ALL_ASSETS, jobs=[asset_job])

    assert defs.get_job("tagged").tags == {"database": "redshift"}


def test_pool_summary_of_an_asset_job_sees_roots_and_all_pools():
    defs = Definitions(assets=ALL_ASSETS, jobs=[define_asset_job("everything", "*")])

    summary = pool_summary(defs.get_job("everything").plan())

    assert summary.root_pool_counts == {"redshift": 1}
    assert summary.all_pools == {"redshift", "snowflake"}
    assert summary.has_unconstrained_root is True  # lookup


def test_a_job_plan_survives_the_json_round_trip_it_takes_into_storage():
    defs = Definitions(assets=ALL_ASSETS, jobs=[define_asset_job("everything", "*")])
    plan = defs.get_job("everything").plan()

    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(plan)))) == plan


# --- Definitions validation --------------------------------------------------------------


def test_definitions_refuse_an_asset_cycle_naming_its_steps():
    @asset
    def a(c):
        return 1

    @asset
    def b(a):
        return 1

    @asset
    def c(b):
        return 1

    with pytest.raises(DefinitionError) as caught:
        Definitions(assets=[a, b, c])

    assert caught.value.errors == ["assets: dependency cycle: a -> b -> c -> a"]


def test_definitions_refuse_duplicate_job_and_asset_names():
    @job(name="same")
    def first():
        numbers()

    @job(name="same")
    def second():
        numbers()

    @asset(name="raw")
    def another_raw():
        return 1

    with pytest.raises(DefinitionError) as caught:
        Definitions(assets=[raw, another_raw], jobs=[first, second])

    assert caught.value.errors == ["duplicate asset name 'raw'", "duplicate job name 'same'"]


def test_definitions_refuse_unknown_assets_in_a_selection_and_as_dependencies():
    with pytest.raises(DefinitionError, match="selection names unknown asset\\(s\\) 'ghost'"):
        Definitions(assets=[raw], jobs=[define_asset_job("j", [raw, "ghost"])])
    with pytest.raises(DefinitionError, match="asset 'cleaned' depends on unknown asset 'raw'"):
        Definitions(assets=[cleaned])


def test_definitions_list_and_find_jobs():
    @job
    def alpha():
        numbers()

    defs = Definitions(assets=[raw], jobs=[alpha, define_asset_job("beta", [raw])])

    assert defs.job_names() == ["alpha", "beta"]
    assert defs.get_job("alpha") is alpha
    with pytest.raises(KeyError, match="no job named 'gamma'"):
        defs.get_job("gamma")


def test_definitions_module_imports_without_django():
    code = (
        "import sys, queueing.definitions, queueing.locations, queueing.engine.plan; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- the demo code location --------------------------------------------------------------


@pytest.fixture
def demo_defs(monkeypatch):
    monkeypatch.setenv("DEMO_SLEEP_SCALE", "0.01")
    from queueing.demo.definitions import defs

    return defs


def test_demo_location_has_the_promised_jobs(demo_defs):
    assert set(demo_defs.job_names()) >= {
        "redshift_etl",
        "snowflake_sync",
        "api_ingest",
        "parallel_fanout",
        "always_fails",
        "quick",
        "orders_pipeline",
        "orders_reporting",
    }
    pools = {key for j in demo_defs.jobs for s in j.plan().steps for key in s.pools}
    assert {"redshift", "snowflake", "api"} <= pools
    assert demo_defs.get_job("redshift_etl").tags == {"database": "redshift"}
    assert demo_defs.get_job("snowflake_sync").tags == {"database": "snowflake"}
    assert any(s.priority == 5 for j in demo_defs.jobs for s in j.plan().steps)
    fanout = demo_defs.get_job("parallel_fanout").plan()
    assert max(len(fanout.dependents(s.key)) for s in fanout.steps) == 4


@pytest.mark.parametrize(
    "job_name",
    [
        "redshift_etl",
        "snowflake_sync",
        "api_ingest",
        "parallel_fanout",
        "quick",
        "orders_pipeline",
        "orders_reporting",
    ],
)
def test_every_demo_job_runs_each_step(demo_defs, job_name, caplog):
    job_def = demo_defs.get_job(job_name)
    plan = job_def.plan()
    plan_from_dict(json.loads(json.dumps(plan_to_dict(plan))))

    with caplog.at_level(logging.INFO, logger="test"):
        outputs = run_job(job_def)

    assert set(outputs) == set(plan.step_keys())
    assert caplog.records, "demo steps log through context.log"
    # Outputs travel between processes, so they must be JSON-safe.
    json.dumps(outputs)


def test_demo_always_fails_raises_value_error(demo_defs):
    with pytest.raises(ValueError, match="on purpose"):
        run_job(demo_defs.get_job("always_fails"))


# --- partitions (issue 16) -------------------------------------------------------------


def test_partitions_reach_jobs_from_the_job_or_from_its_assets():
    from queueing.definitions import (
        DailyPartitionsDefinition,
        Definitions,
        StaticPartitionsDefinition,
        StepContext,
        asset,
        define_asset_job,
        job,
        op,
    )

    daily = DailyPartitionsDefinition(start_date="2024-01-01")

    @asset(partitions_def=daily)
    def sales(context):
        return context.partition_key

    @asset
    def plain():
        return 1

    @op
    def one(context):
        return context.partition_key

    @job(partitions_def=StaticPartitionsDefinition(["a", "b"]))
    def static_job():
        one()

    defs = Definitions(
        assets=[sales, plain],
        jobs=[define_asset_job("sales_job", [sales, plain]), static_job],
    )
    assert defs.get_job("sales_job").partitions_def == daily
    assert defs.get_job("static_job").partitions_def.partition_keys(None) == ["a", "b"]
    context = StepContext("r", "sales_job", "sales", run_tags={"dagster/partition": "2024-01-02"})
    assert context.has_partition_key and context.partition_key == "2024-01-02"


def test_mixed_partitions_and_non_partitions_are_definition_errors():
    import pytest

    from queueing.definitions import (
        DailyPartitionsDefinition,
        DefinitionError,
        Definitions,
        StaticPartitionsDefinition,
        StepContext,
        asset,
        define_asset_job,
        job,
        op,
    )

    @asset(partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"))
    def a():
        return 1

    @asset(partitions_def=StaticPartitionsDefinition(["x"]))
    def b():
        return 2

    with pytest.raises(DefinitionError, match="different partitions"):
        Definitions(assets=[a, b], jobs=[define_asset_job("both", [a, b])])
    with pytest.raises(DefinitionError, match="partitions_def must be a PartitionsDefinition"):

        @op
        def x():
            return 1

        @job(partitions_def=["a", "b"])
        def bad():
            x()

    with pytest.raises(DefinitionError, match="not partitioned"):
        StepContext("r", "j", "s").partition_key  # noqa: B018
