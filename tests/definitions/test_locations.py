from __future__ import annotations

import sys

import pytest

from queueing import locations
from queueing.locations import (
    LoadedLocation,
    Workspace,
    default_location_modules,
    get_workspace,
    load_locations,
    reload_workspace,
)

PKG = "tests.definitions.locations"


def load_one(module: str) -> LoadedLocation:
    (location,) = load_locations([module])
    return location


def test_a_valid_location_loads_its_definitions():
    location = load_one(f"{PKG}.valid")

    assert location.ok and location.error is None
    assert location.name == f"{PKG}.valid"
    assert location.defs.job_names() == ["shared_name", "only_in_valid"]


def test_a_module_that_raises_on_import_becomes_an_entry_with_its_traceback():
    location = load_one(f"{PKG}.raises_on_import")

    assert location.defs is None
    assert "Traceback" in location.error
    assert "RuntimeError: this location is broken at import" in location.error


def test_a_module_that_calls_sys_exit_does_not_stop_the_loader():
    location = load_one(f"{PKG}.exits")

    assert location.defs is None
    assert "SystemExit: 3" in location.error


def test_a_missing_module_becomes_an_entry():
    location = load_one(f"{PKG}.does_not_exist")

    assert "ModuleNotFoundError" in location.error


def test_a_module_without_defs_becomes_an_entry_saying_so():
    location = load_one(f"{PKG}.no_defs")

    assert location.defs is None
    assert "has no attribute 'defs'" in location.error


def test_defs_of_the_wrong_type_becomes_an_entry():
    location = load_one(f"{PKG}.wrong_defs_type")

    assert "is a dict, not a Definitions" in location.error


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("asset_cycle", "dependency cycle: first -> second -> third -> first"),
        ("pool_conflict", "op 'two_pools': pool 'redshift' conflicts with the concurrency key tag"),
    ],
)
def test_invalid_definitions_become_entries_with_the_definition_error(module, message):
    location = load_one(f"{PKG}.{module}")

    assert location.defs is None
    assert "DefinitionError" in location.error
    assert message in location.error


def test_module_colon_attribute_reads_another_name():
    assert load_one(f"{PKG}.valid_other").error is not None
    assert load_one(f"{PKG}.valid_other:custom").defs.job_names() == ["shared_name"]


def test_one_broken_location_does_not_hide_the_others():
    loaded = load_locations([f"{PKG}.raises_on_import", f"{PKG}.valid", f"{PKG}.valid"])

    assert [(loc.name, loc.ok) for loc in loaded] == [
        (f"{PKG}.raises_on_import", False),
        (f"{PKG}.valid", True),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ["queueing.demo.definitions"]),
        ("", ["queueing.demo.definitions"]),
        (" , ", ["queueing.demo.definitions"]),
        ("a.b", ["a.b"]),
        (" a.b , c.d:defs ,, a.b ", ["a.b", "c.d:defs"]),
    ],
)
def test_code_locations_env_is_a_comma_separated_module_list(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("CODE_LOCATIONS", raising=False)
    else:
        monkeypatch.setenv("CODE_LOCATIONS", raw)

    assert default_location_modules() == expected


def test_workspace_finds_jobs_and_the_first_location_wins_on_a_shared_name():
    workspace = Workspace.load(
        [f"{PKG}.raises_on_import", f"{PKG}.valid_other:custom", f"{PKG}.valid"]
    )

    location_name, job_def = workspace.find_job("shared_name")

    assert location_name == f"{PKG}.valid_other:custom"
    assert job_def.tags == {"origin": "valid_other"}
    assert workspace.find_job("only_in_valid")[0] == f"{PKG}.valid"
    assert workspace.find_job("nope") is None
    assert [loc.name for loc in workspace.errors()] == [f"{PKG}.raises_on_import"]
    assert [(loc, j.name) for loc, j in workspace.jobs()] == [
        (f"{PKG}.valid_other:custom", "shared_name"),
        (f"{PKG}.valid", "shared_name"),
        (f"{PKG}.valid", "only_in_valid"),
    ]


@pytest.fixture
def fresh_workspace_cache(monkeypatch):
    monkeypatch.setattr(locations, "_workspace", None)


def test_get_workspace_is_cached_and_reload_reads_code_locations_again(
    monkeypatch, fresh_workspace_cache
):
    monkeypatch.setenv("CODE_LOCATIONS", f"{PKG}.valid")

    first = get_workspace()

    assert get_workspace() is first
    assert [loc.name for loc in first.locations] == [f"{PKG}.valid"]

    monkeypatch.setenv("CODE_LOCATIONS", f"{PKG}.valid_other:custom")
    reloaded = reload_workspace()

    assert get_workspace() is reloaded
    assert [loc.name for loc in reloaded.locations] == [f"{PKG}.valid_other:custom"]


def test_the_default_workspace_is_the_demo_location(monkeypatch, fresh_workspace_cache):
    monkeypatch.delenv("CODE_LOCATIONS", raising=False)

    workspace = get_workspace()

    assert [loc.name for loc in workspace.locations] == ["queueing.demo.definitions"]
    assert workspace.find_job("quick") is not None


def test_reload_picks_up_a_changed_location(tmp_path, monkeypatch):
    source = tmp_path / "editable_location.py"
    template = (
        "from queueing.definitions import Definitions, job, op\n"
        "@op\ndef step():\n    return 1\n"
        "@job\ndef {name}():\n    step()\n"
        "defs = Definitions(jobs=[{name}])\n"
    )
    source.write_text(template.format(name="before"))
    monkeypatch.syspath_prepend(str(tmp_path))
    # Registered so teardown removes the module from sys.modules again.
    monkeypatch.setitem(sys.modules, "editable_location", None)
    monkeypatch.delitem(sys.modules, "editable_location")

    assert load_one("editable_location").defs.job_names() == ["before"]

    source.write_text(template.format(name="after_the_edit"))
    (reloaded,) = load_locations(["editable_location"], reload=True)

    assert reloaded.defs.job_names() == ["after_the_edit"]
