from queueing.definitions import Definitions, job, op


@op
def other_step():
    return 2


@job(tags={"origin": "valid_other"})
def shared_name():
    other_step()


custom = Definitions(jobs=[shared_name])
