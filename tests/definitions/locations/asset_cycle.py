from queueing.definitions import Definitions, asset


@asset
def first(third):
    return 1


@asset
def second(first):
    return 2


@asset
def third(second):
    return 3


defs = Definitions(assets=[first, second, third])
