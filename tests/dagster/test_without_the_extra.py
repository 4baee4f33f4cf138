"""Without the `dagster` extra nothing of Dagster is imported, and the Dagster section says
how to install it instead of failing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import importlib, io, os, pkgutil, sys

    class NoDagster:
        # As if the extra were not installed: every dagster* import fails.
        def find_spec(self, name, path=None, target=None):
            if name == "dagster" or name.startswith(("dagster.", "dagster_")):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoDagster())
    os.environ["DJANGO_SETTINGS_MODULE"] = "concurrency_ui.settings"
    import django
    django.setup()
    import queueing
    for module in pkgutil.walk_packages(queueing.__path__, "queueing."):
        if module.name.endswith(".reader"):
            continue  # the one module that is Dagster's API
        importlib.import_module(module.name)
    importlib.import_module("concurrency_ui.urls")

    from django.contrib.auth.models import AnonymousUser, User
    from django.core.management import call_command
    from django.test import RequestFactory
    from queueing.views import dagster as views

    err = io.StringIO()
    try:
        call_command("dagster", "predict", stderr=err)
    except SystemExit as exc:
        assert exc.code == 1, exc.code
    assert "Dagster is not installed" in err.getvalue(), err.getvalue()

    request = RequestFactory().get("/dagster/")
    request.user = User(username="viewer")
    page = views.queue(request).content.decode()
    assert "pip install -e &#x27;.[dagster]&#x27;" in page, page

    loaded = sorted(m for m in sys.modules if m == "dagster" or m.startswith(("dagster.", "dagster_")))
    assert not loaded, loaded
    print("no dagster module imported")
    """
)


def test_nothing_of_dagster_is_imported_without_the_extra(tmp_path):
    (tmp_path / "dagster.yaml").write_text("{}\\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "DAGSTER_HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no dagster module imported" in done.stdout
