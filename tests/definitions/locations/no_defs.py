from queueing.definitions import job, op


@op
def lonely():
    return 1


@job
def not_exported():
    lonely()
