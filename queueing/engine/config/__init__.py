"""The instance configuration (`dagster.yaml`), SEMANTICS 1.1-1.5: read, validated, edited
setting by setting and written back. One module per concern:

- `model`: the dataclasses (`InstanceConfig`, ...) and their flat form;
- `specs`: what each setting accepts and which YAML key feeds it;
- `values`: one value checked against its spec;
- `reader`: `parse_instance_yaml` / `parse_instance_dict`;
- `lint`: warnings about valid but dangerous values;
- `flat`: edits by setting name (`apply_setting`, `config_to_flat`, ...);
- `export`: `to_instance_dict` / `to_instance_yaml`.

Pure Python: the caller reads the file and passes its text, the limits of the input boundary
(`inputs.Limits`) and, where `{env: VAR}` values may be resolved, the environment to read them
from (the engine never reads the process environment itself; without one such values are
refused).
Validation is eager and complete: every problem is reported with the dotted path of the
offending key, and a file with any error yields no configuration at all.

Three generations of run-queue settings are understood (`run_coordinator.config`, `run_queue`,
`concurrency`); the effective values are merged as in SEMANTICS 1.5 and the block each one came
from is remembered in `ConfigLayout`, so `to_instance_dict` writes the same shape back.
Top-level sections concurrency-ui does not read (storage, compute_logs, ...) are kept verbatim.

What Dagster 1.13 refuses in these blocks is refused too (checked against its own loader):
null blocks (`run_queue:` with nothing under it) and null values, except
`tag_concurrency_limits: null` (empty); a `run_coordinator` without `module` or `class`, with
a dotted class, or naming a class its module does not have. `DefaultRunCoordinator` (and its
`SyncInMemoryRunCoordinator`) is read as Dagster runs it: no queue, so `max_concurrent_runs`,
tag limits and pool-aware dequeuing have no effect (warnings say so), pools still limit steps.

Decisions where SEMANTICS leaves a gap (README, "Where concurrency-ui differs from Dagster"):
- our own `concurrency_ui:` section may be null (empty).
- a negative pool buffer is rejected (the reference accepts it and silently shrinks capacity).
- a run-monitoring timeout <= 0 is stored as 0 ("disabled") without an error.
- only Dagster's own run coordinators are accepted (a custom class's behaviour is unknown).
- an explicit `concurrency.pools.granularity` wins over `block_op_concurrency_limited_runs`.
- `{env: VAR}` is accepted only for the int keys of `run_queue` / `run_coordinator.config`, as in
  the reference; export writes the resolved values. Messages name the variable, never its value.
- the default pool limit range is 0..1000; `DAGSTER_MAX_GLOBAL_OP_CONCURRENCY_LIMIT` is not read.
"""
