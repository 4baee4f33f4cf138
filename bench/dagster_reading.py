"""How Dagster 1.13.28 itself reads each dagster.yaml of tests/engine/dagster_reading_cases.py.

    python bench/dagster_reading.py           # print where the recorded verdicts disagree
    python bench/dagster_reading.py --write   # record Dagster's verdicts (tests/engine/dagster_reading.json)

Not part of CI: it installs Dagster into var/dagster-venv (as bench/compare_dagster.py does)
and starts a DagsterInstance from every file, as `dagster dev` or the daemon would: a file is
"accept"ed when the instance, its run coordinator and its concurrency and run-monitoring
settings load. tests/engine/test_dagster_reading.py then checks concurrency-ui against the
recorded verdicts, and every disagreement against the README's list of differences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from compare_dagster import DAGSTER, PYTHON, install  # noqa: E402

from tests.engine.dagster_reading_cases import CASES, ENV  # noqa: E402

RECORD = ROOT / "tests" / "engine" / "dagster_reading.json"

DRIVER = """
import json, os, sys, tempfile, warnings
warnings.filterwarnings("ignore")
from dagster import DagsterInstance
cases = json.load(open(sys.argv[1]))
out = {}
for name, text in cases.items():
    home = tempfile.mkdtemp()
    with open(os.path.join(home, "dagster.yaml"), "w") as f:
        f.write(text)
    try:
        instance = DagsterInstance.from_config(home)
        instance.run_coordinator
        instance.get_concurrency_config()
        instance.run_monitoring_settings
        out[name] = {"dagster": "accept", "says": type(instance.run_coordinator).__name__}
    except Exception as exc:
        lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
        out[name] = {"dagster": "refuse", "says": (type(exc).__name__ + ": " + " ".join(lines[:2]))[:300]}
print(json.dumps(out))
"""


def dagster_verdicts() -> dict[str, dict[str, str]]:
    install()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(CASES, fh)
    result = subprocess.run(
        [str(PYTHON), "-c", DRIVER, fh.name],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **ENV},
        cwd=tempfile.gettempdir(),
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the verdicts")
    args = parser.parse_args()
    verdicts = dagster_verdicts()
    if args.write:
        RECORD.write_text(
            json.dumps({"dagster": DAGSTER, "cases": verdicts}, indent=1, sort_keys=True) + "\n"
        )
        print(f"{len(verdicts)} verdicts of {DAGSTER} written to {RECORD.relative_to(ROOT)}")
        return 0
    recorded = json.loads(RECORD.read_text())["cases"]
    changed = [n for n in CASES if recorded.get(n, {}).get("dagster") != verdicts[n]["dagster"]]
    for name in changed:
        print(
            f"{name}: recorded {recorded.get(name, {}).get('dagster')}, Dagster now {verdicts[name]}"
        )
    print(f"{len(CASES) - len(changed)} of {len(CASES)} verdicts unchanged")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
