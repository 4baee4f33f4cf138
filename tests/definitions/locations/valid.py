from queueing.definitions import Definitions, job, op


@op(pool="warehouse")
def step_one():
    return 1


@job(tags={"origin": "valid"})
def shared_name():
    step_one()


@job
def only_in_valid():
    step_one()


defs = Definitions(jobs=[shared_name, only_in_valid])
