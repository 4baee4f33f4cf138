"""Entry point of a sensor's evaluation: `python -m queueing.sensor_process RESULT_PATH`,
with `{"name", "cursor", "last_tick_time"}` as JSON on standard input.

Runs in a child process so that the sensors daemon can kill an evaluation that does not
return within `concurrency_ui.sensor_timeout_seconds`, and so that user code cannot take
the daemon down. Needs no Django: it loads the code locations (CODE_LOCATIONS, inherited),
evaluates the sensor and writes `{"requests", "skip", "cursor", "error"}` as JSON to
RESULT_PATH (what the function prints goes to the daemon's log, not the result).
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import datetime
from typing import Any


def evaluate(name: str, cursor: str | None, last_tick_time: str | None) -> dict[str, Any]:
    from queueing.engine.automation import MAX_CURSOR_LENGTH, SensorEvaluationContext, SkipReason
    from queueing.locations import get_workspace

    definition = None
    for location in get_workspace().locations:
        if location.defs is not None:
            found = {s.name: s for s in location.defs.sensors}.get(name)
            if found is not None:
                definition = found
                break
    if definition is None:
        return {"error": f"sensor {name!r} is no longer defined in any code location"}
    last = datetime.fromisoformat(last_tick_time) if last_tick_time else None
    context = SensorEvaluationContext(cursor, last)
    result = definition.evaluate(context)
    if context.cursor is not None and len(context.cursor) > MAX_CURSOR_LENGTH:
        return {"error": f"the cursor is longer than {MAX_CURSOR_LENGTH} characters"}
    if isinstance(result, SkipReason):
        return {"skip": result.skip_message, "cursor": context.cursor, "requests": []}
    return {"requests": [r.to_dict() for r in result], "cursor": context.cursor, "skip": None}


def main(result_path: str) -> int:
    try:
        request = json.loads(sys.stdin.read() or "{}")
        answer = evaluate(request["name"], request.get("cursor"), request.get("last_tick_time"))
    except BaseException:  # user code may raise anything, SystemExit included
        answer = {"error": traceback.format_exc()}
    try:
        text = json.dumps(answer)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"error": f"the sensor asked for values that are not JSON: {exc}"})
    with open(result_path, "w") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
