"""A step's child process: runs one op with its upstream outputs and stores the result, logs
and traceback. The parent executor treats a child that exits without reporting as a failed
step.

Two ways in, the same code: `python -m queueing.step_process RUN_ID STEP_KEY` (the cold
path: a new interpreter sets up Django and imports the code locations), or a fork of the
worker's zygote (`queueing/zygote.py`), which ran `prepare()` once and calls `run_step`
in each child.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import pickle
import signal
import sys
import traceback
from typing import Any


def _die_with_parent() -> None:
    # A worker killed with SIGKILL must not leave its steps running unobserved.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def prepare() -> None:
    """Set up Django and import what `run_step` needs, code locations included."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    import django

    django.setup()
    import queueing.definitions  # noqa: F401
    import queueing.engine.redaction  # noqa: F401
    import queueing.models  # noqa: F401
    import queueing.services.reconnect  # noqa: F401
    from queueing.locations import get_workspace

    get_workspace()


def main(run_id: str, step_key: str) -> int:
    _die_with_parent()
    prepare()
    return run_step(run_id, step_key)


def run_step(run_id: str, step_key: str) -> int:
    """Run the op and report its outcome; the exit code (0 or 1) to leave with."""
    from django.db import transaction
    from django.utils import timezone

    from queueing.definitions import StepContext
    from queueing.engine.redaction import error_summary
    from queueing.locations import get_workspace
    from queueing.models import RunEvent, Step
    from queueing.services.reconnect import reconnecting as db

    # Every database call survives a dropped connection: a step that ran for an hour must
    # not lose its result because the database restarted meanwhile.
    # One round trip for both rows: on a warm start these queries are most of the time
    # before the op runs.
    step = db(Step.objects.select_related("run").get, run__run_id=run_id, step_key=step_key)
    run = step.run
    buffer = io.StringIO()
    logger = logging.getLogger(f"concurrency_ui.step.{step_key}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)

    def report(status: str, error: str = "", output: bytes | None = None) -> None:
        db(_report, status, error, output)

    def _report(status: str, error: str, output: bytes | None) -> None:
        with transaction.atomic():  # the result and its event: one commit
            _write_report(status, error, output)

    def _write_report(status: str, error: str, output: bytes | None) -> None:
        Step.objects.filter(pk=step.pk).update(
            status=status,
            ended_at=timezone.now(),
            logs=buffer.getvalue()[-200_000:],
            error=error,
            output=output,
        )
        kind = "step_success" if status == Step.Status.SUCCESS else "step_failure"
        # The timeline shows the exception, not the frames (the step keeps the traceback).
        summary = error_summary(error)[:500]
        RunEvent.objects.create(run=run, step_key=step_key, kind=kind, message=summary)

    def on_term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt("terminated")

    signal.signal(signal.SIGTERM, on_term)
    try:
        found = get_workspace().find_job(run.job_name)
        if found is None:
            raise LookupError(f"job {run.job_name!r} is no longer defined in any code location")
        _, job = found
        fn, inputs, takes_context = job.get_step_callable(step_key)
        outputs: list[tuple[str, Any]] = (
            db(
                list,
                Step.objects.filter(run=run, step_key__in=[k for _, k in inputs]).values_list(
                    "step_key", "output"
                ),
            )
            if inputs
            else []
        )
        upstream = {
            key: pickle.loads(bytes(out)) if out is not None else None for key, out in outputs
        }
        kwargs = {name: upstream.get(key) for name, key in inputs}
        args = []
        if takes_context:
            args.append(
                StepContext(
                    run.run_id, run.job_name, step_key, run.run_config, logger, run_tags=run.tags
                )
            )
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            result = fn(*args, **kwargs)
        try:
            output = pickle.dumps(result)
        except Exception:
            output = pickle.dumps(repr(result))
        report(Step.Status.SUCCESS, output=output)
        return 0
    except BaseException:  # user code may raise anything, SystemExit included
        report(Step.Status.FAILURE, error=traceback.format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
