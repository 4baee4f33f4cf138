"""`pytest -p tests.support.parallel -n N` (what `make test` runs): each pytest-xdist worker
gets a broker and a VAR_DIR of its own, so the Celery workers one test starts only ever take
that test's messages and read that test's database.

pytest-django already gives each xdist worker its own test database (`test_<name>_gw<i>`).
The broker must be split before Django reads its settings, which pytest-django does before
any conftest is imported: hence a plugin loaded with `-p`, whose import runs first.

- Redis: worker gw<i> uses database <n> + i of CELERY_BROKER_URL (or REDIS_URL), e.g. CI's
  14 and 15 with `-n 2`. Past Redis's 16 databases the run stops with a message.
- The embedded broker lives under VAR_DIR: each worker gets `<VAR_DIR>/xdist-gw<i>`.

Without xdist (plain `pytest`, `-n 0`) nothing changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
REDIS_DATABASES = 16  # Redis's default `databases`


def worker_broker_url(url: str, index: int) -> str:
    """`url` with its Redis database number moved up by `index`; other brokers unchanged."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("redis") or index == 0:
        return url
    path = parts.path.strip("/")
    base = int(path) if path else 0
    number = base + index
    if number >= REDIS_DATABASES:
        raise SystemExit(
            f"pytest-xdist worker {index} would use Redis database {number} of "
            f"CELERY_BROKER_URL={url}: Redis has {REDIS_DATABASES} (0 to "
            f"{REDIS_DATABASES - 1}); choose a lower database number or fewer workers (-n)"
        )
    return urlunsplit(parts._replace(path=f"/{number}"))


def _split_for_this_worker() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    index = int(worker.removeprefix("gw"))
    var = Path(os.environ.get("VAR_DIR") or ROOT / "var") / f"xdist-{worker}"
    os.environ["VAR_DIR"] = str(var)
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        if os.environ.get(name):
            os.environ[name] = worker_broker_url(os.environ[name], index)


_split_for_this_worker()
