"""`manage.py submit JOB [--tag KEY=VALUE]... [--config PATH]`."""

from __future__ import annotations

import pytest

from queueing.engine.grammar import INTEGER_RULE, KEY_RULE
from queueing.engine.types import RunStatus
from queueing.models import Run

from .conftest import cli, failed, ok


def test_submit_prints_the_new_runs_id_and_queues_it(db):
    result = ok("submit", "redshift_etl", "--tag", "team=data", "--tag", "note=a=b")

    run = Run.objects.get()
    assert result.out.strip() == run.run_id
    assert run.status == RunStatus.QUEUED
    # Only the first `=` separates key and value.
    assert run.tags == {
        "database": "redshift",
        "team": "data",
        "note": "a=b",
        "dagster/code_location": "queueing.demo.definitions",
    }


def test_submit_with_json_prints_id_and_status(db):
    data = ok("submit", "quick", "--json").json

    assert data == {"run_id": Run.objects.get().run_id, "status": "QUEUED"}


def test_submit_takes_priority_from_the_tag(db):
    ok("submit", "quick", "--tag", "dagster/priority=12")

    assert Run.objects.get().priority == 12


def test_submit_reads_run_config_from_a_yaml_file(db, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("execution:\n  config:\n    multiprocess:\n      max_concurrent: 2\n")

    ok("submit", "parallel_fanout", "--config", str(path))

    assert Run.objects.get().run_config == {
        "execution": {"config": {"multiprocess": {"max_concurrent": 2}}}
    }


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["no_such_job"], "job: unknown job 'no_such_job': see /api/jobs/ for the jobs defined"),
        (["quick", "--tag", "novalue"], "--tag: 'novalue' is not KEY=VALUE"),
        (
            ["quick", "--tag", "=x"],
            f"--tag: '=x' is not KEY=VALUE with a valid key: the key is empty: {KEY_RULE}",
        ),
        (
            ["quick", "--tag", " =x"],
            f"--tag: ' =x' is not KEY=VALUE with a valid key: ' ' has spaces at one end: {KEY_RULE}",
        ),
        (
            ["quick", "--tag", "dagster/priority=high"],
            f"tags.dagster/priority: priority: 'high' is not a whole number: {INTEGER_RULE}",
        ),
        (
            ["quick", "--tag", "dagster/priority=1_0"],
            f"tags.dagster/priority: priority: '1_0' is not a whole number: {INTEGER_RULE}",
        ),
        (
            ["quick", "--tag", "dagster/priority=4294967296"],
            "tags.dagster/priority: 4294967296 is out of range: priority must be between "
            "-2147483648 and 2147483647",
        ),
    ],
)
def test_submit_refuses_bad_input_with_one_line_naming_the_field(unchanged, args, line):
    result = failed("submit", *args)

    assert result.error_lines == [line]
    unchanged()


def test_submit_refuses_ten_thousand_tags(unchanged):
    args = [arg for i in range(10_000) for arg in ("--tag", f"k{i}=v")]

    result = failed("submit", "quick", *args)

    assert result.error_lines == ["tags: 10000 tags is too many: at most 200"]
    unchanged()


def test_submit_reports_every_bad_tag_at_once(unchanged):
    result = failed("submit", "quick", "--tag", "a", "--tag", "b=1", "--tag", "=c")

    assert result.error_lines == [
        "--tag: 'a' is not KEY=VALUE",
        "--tag: '=c' is not KEY=VALUE with a valid key: the key is empty: " + KEY_RULE,
    ]
    unchanged()


@pytest.mark.parametrize(
    ("text", "line_start"),
    [
        (
            "execution:\n  config:\n    multiprocess:\n      max_concurrent: -1\n",
            "run_config.execution.config.multiprocess.max_concurrent: -1 is invalid",
        ),
        ("execution: [\n", "--config: invalid YAML at line 2, column 1:"),
        ("- 1\n- 2\n", "run_config: expected a mapping, got list"),
        ("bogus: 1\n", "run_config.bogus: unknown key"),
        ("ops:\n  nope: {}\n", "run_config.ops.nope: no step with this key in the job"),
    ],
)
def test_submit_refuses_a_bad_run_config_file(unchanged, tmp_path, text, line_start):
    path = tmp_path / "run.yaml"
    path.write_text(text)

    result = failed("submit", "quick", "--config", str(path))

    assert len(result.error_lines) == 1, result.err
    assert result.error_lines[0].startswith(line_start)
    unchanged()


def test_submit_refuses_a_run_config_file_that_cannot_be_read(unchanged, tmp_path):
    missing = tmp_path / "missing.yaml"
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (1024 * 1024))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")

    assert failed("submit", "quick", "--config", str(missing)).error_lines == [
        f"--config: cannot read {missing}: No such file or directory"
    ]
    assert failed("submit", "quick", "--config", str(big)).error_lines == [
        f"--config: {big} is larger than 1048576 bytes (INPUT_MAX_BYTES)"
    ]
    assert failed("submit", "quick", "--config", str(binary)).error_lines == [
        f"--config: {binary} is not a UTF-8 text file"
    ]
    unchanged()


def test_submit_without_a_job_is_a_usage_error(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        cli("submit")
