"""The supervisor's rules and the doctor's processes check (pure, no database)."""

from __future__ import annotations

import signal

from queueing.engine.config.model import InstanceConfig
from queueing.engine.doctor.facts import DoctorFacts
from queueing.engine.doctor.health import check_processes
from queueing.engine.supervision import (
    SUPERVISOR_STALE_SECONDS,
    ProcessFact,
    SupervisorFact,
    describe_exit,
    restart_delay,
    supervisor_fact,
)

NOW = 10_000.0


def test_restarts_back_off_1_2_4_8_16_then_every_30_seconds():
    assert [restart_delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_exit_codes_read_as_people_say_them():
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"


def _supervisor(*processes: ProcessFact, updated_at: float = NOW - 2, stopped_at=None):
    return SupervisorFact(
        pid=1,
        host="h",
        started_at=NOW - 600,
        updated_at=updated_at,
        stopped_at=stopped_at,
        processes=processes,
    )


def _check(supervisor):
    return check_processes(
        DoctorFacts(now=NOW, config=InstanceConfig(), instance_id="x", supervisor=supervisor)
    )


def test_no_supervisor_or_a_stale_or_stopped_one_is_not_a_finding():
    assert _check(None).status == "ok"
    stale = _supervisor(
        ProcessFact("runs", running=False), updated_at=NOW - SUPERVISOR_STALE_SECONDS - 1
    )
    assert _check(stale).status == "ok"
    assert "stopped" in " ".join(_check(stale).evidence)
    stopped = _supervisor(ProcessFact("runs", running=False), stopped_at=NOW - 5)
    assert _check(stopped).status == "ok"


def test_every_process_up_and_never_restarted_is_ok():
    finding = _check(_supervisor(ProcessFact("web", True, pid=5, started_at=NOW - 60)))
    assert finding.status == "ok"
    assert finding.evidence == ("web: running (pid 5) for 60 s",)


def test_a_restarted_process_is_a_warning_with_count_exit_code_and_time():
    finding = _check(
        _supervisor(
            ProcessFact("web", True, pid=5, started_at=NOW - 600),
            ProcessFact(
                "control",
                True,
                pid=9,
                started_at=NOW - 30,
                restarts=2,
                last_exit_code=-9,
                last_exit_at=NOW - 31,
            ),
        )
    )
    assert finding.status == "warning"
    assert finding.title == "control exited unexpectedly and was restarted"
    assert finding.evidence[1] == (
        "control: running (pid 9) for 30 s; restarted 2 time(s), last exit 31 s ago "
        "(killed by SIGKILL)"
    )


def test_a_process_waiting_for_its_restart_is_a_problem():
    finding = _check(
        _supervisor(
            ProcessFact(
                "runs",
                False,
                pid=9,
                restarts=4,
                last_exit_code=1,
                last_exit_at=NOW - 3,
                next_restart_at=NOW + 13,
            )
        )
    )
    assert finding.status == "problem"
    assert finding.title == "runs exited and is being restarted"
    assert "runs: down, restarting in 13 s; restarted 4 time(s)" in finding.evidence[0]


def test_a_malformed_state_file_is_no_fact():
    assert supervisor_fact(None) is None
    assert supervisor_fact({"pid": 1}) is None
    assert supervisor_fact([1, 2]) is None
    assert supervisor_fact(
        {"pid": 1, "started_at": 1, "updated_at": 2, "processes": [{"name": "web", "running": 1}]}
    ).processes == (ProcessFact("web", True),)
