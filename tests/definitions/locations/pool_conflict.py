from queueing.definitions import Definitions, job, op


@op(pool="redshift", tags={"dagster/concurrency_key": "snowflake"})
def two_pools():
    return 1


@job
def uses_two_pools():
    two_pools()


defs = Definitions(jobs=[uses_two_pools])
