"""The code location Dagster's code server serves in the end-to-end comparison.

The same job as concurrency-ui's demo `quick` with its nap scaled to nothing (what
bench/e2e.py runs): one op that logs one line and returns. Loaded by
`dagster api grpc --python-file bench/dagster_noop.py` in the Dagster virtual environment.
"""

from dagster import Definitions, OpExecutionContext, job, op


@op
def ping(context: OpExecutionContext) -> str:
    context.log.info("pong")
    return "pong"


@job
def quick() -> None:
    """One no-op step."""
    ping()


defs = Definitions(jobs=[quick])
