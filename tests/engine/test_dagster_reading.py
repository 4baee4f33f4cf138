"""concurrency-ui reads dagster.yaml files as Dagster 1.13 does, except where the README says.

Dagster's own verdict on each file of `dagster_reading_cases.py` was recorded by starting a
real DagsterInstance from it (bench/dagster_reading.py). Every file Dagster refuses is refused
here too, with the path of the offending key; every file Dagster accepts is accepted, except
the ones listed in `DIFFERENCES`, each with the README sentence that explains why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from queueing.engine.config.reader import parse_instance_yaml
from queueing.engine.inputs import FILE_PATH

from .dagster_reading_cases import CASES, ENV

RECORD = json.loads((Path(__file__).parent / "dagster_reading.json").read_text())
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DIFFERENCES_SECTION = README.split("## Where concurrency-ui differs from Dagster", 1)[1].split(
    "\n## ", 1
)[0]

# File -> the words of the README's "Where concurrency-ui differs from Dagster" that explain
# why concurrency-ui reads it differently (all of them refuse what Dagster accepts, except the
# top-level sections, which Dagster refuses and concurrency-ui keeps).
_NEGATIVE_TAG_LIMIT = "a tag limit below 0"
_NEGATIVE_BUFFER = "a negative buffer"
_LOW_NUMBERS = "intervals below 1 s"
_INT32 = "above 2,147,483,647"
_RUN_GRANULARITY = "`granularity: run` without the queue's pool-aware dequeuing"
_SECTIONS = "Top-level sections"
DIFFERENCES = {
    "default coordinator with pools, run granularity": _RUN_GRANULARITY,
    "run granularity with blocking disabled": _RUN_GRANULARITY,
    "queued tag limit -1": _NEGATIVE_TAG_LIMIT,
    "run_queue tag limit -1": _NEGATIVE_TAG_LIMIT,
    "concurrency tag limit -3": _NEGATIVE_TAG_LIMIT,
    "queued tag limit empty key": "an empty tag key",
    "queued blocking buffer -1": _NEGATIVE_BUFFER,
    "pools buffer -1": _NEGATIVE_BUFFER,
    "concurrency max_concurrent_runs -2": "`max_concurrent_runs` below -1",
    "queued dequeue interval 0": _LOW_NUMBERS,
    "run_queue dequeue interval 0": _LOW_NUMBERS,
    "run_queue dequeue interval -1": _LOW_NUMBERS,
    "run_queue dequeue workers 0": _LOW_NUMBERS,
    "run_queue code failure retries -1": _LOW_NUMBERS,
    "run_queue code failure retry delay -1": _LOW_NUMBERS,
    "run_monitoring poll interval 0": _LOW_NUMBERS,
    "run_monitoring cancellation poll interval 0": _LOW_NUMBERS,
    "run_monitoring max resume attempts -1": _LOW_NUMBERS,
    "run_queue max_concurrent_runs above 32 bits": _INT32,
    "concurrency tag limit above 32 bits": _INT32,
    "run_monitoring start timeout above 32 bits": _INT32,
    "concurrency_ui section": _SECTIONS,
    "concurrency_ui null": _SECTIONS,
    "an unknown top-level section": _SECTIONS,
}


def _ours(text: str):
    result = parse_instance_yaml(text, env=ENV)
    return ("accept" if result.ok else "refuse"), result


def test_every_case_has_dagsters_verdict_recorded():
    assert set(RECORD["cases"]) == set(CASES)
    assert RECORD["dagster"] == "dagster==1.13.28"


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_file_reads_as_dagster_reads_it_or_the_difference_is_documented(name):
    dagster = RECORD["cases"][name]["dagster"]
    ours, result = _ours(CASES[name])

    if name in DIFFERENCES:
        assert ours != dagster, f"{name}: no longer differs; drop it from DIFFERENCES and README"
        assert DIFFERENCES[name] in DIFFERENCES_SECTION, DIFFERENCES[name]
    else:
        assert ours == dagster, (
            f"{name}: Dagster says {RECORD['cases'][name]['says']}; we say "
            f"{[str(e) for e in result.errors]}"
        )


BOTH_REFUSE = sorted(
    n for n in CASES if RECORD["cases"][n]["dagster"] == "refuse" and n not in DIFFERENCES
)


@pytest.mark.parametrize("name", BOTH_REFUSE)
def test_what_dagster_refuses_is_refused_naming_the_key(name):
    _, result = _ours(CASES[name])

    assert result.errors
    sections = {line.split(":")[0] for line in CASES[name].splitlines() if re.match(r"\w", line)}
    for error in result.errors:
        assert error.path != FILE_PATH and error.path.split(".")[0].split("[")[0] in sections
