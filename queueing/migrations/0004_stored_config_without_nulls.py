"""Stored configurations lose the YAML nulls Dagster refuses.

Earlier versions accepted (and wrote back) `default_limit: null` and friends as "unset";
the reader now refuses them, as Dagster 1.13 does. A stored document with one would no
longer load, so each such key is dropped (which means the same: unset), a null block
becomes an empty one, `value: null` in a tag limit goes, and a null
`free_slots_after_run_end_seconds` (never) becomes 0 (never).
"""

from django.db import migrations

# block path -> keys of it whose null is dropped
NULL_KEYS = {
    ("concurrency", "pools"): ("default_limit",),
    ("concurrency",): ("default_op_concurrency_limit",),
    ("run_queue",): ("dequeue_num_workers",),
    ("run_coordinator", "config"): ("dequeue_num_workers",),
}
BLOCKS = (
    ("run_queue",),
    ("run_queue", "block_op_concurrency_limited_runs"),
    ("run_coordinator", "config"),
    ("run_coordinator", "config", "block_op_concurrency_limited_runs"),
    ("concurrency",),
    ("concurrency", "runs"),
    ("concurrency", "pools"),
    ("run_monitoring",),
)
TAG_LISTS = (
    ("run_queue", "tag_concurrency_limits"),
    ("run_coordinator", "config", "tag_concurrency_limits"),
    ("concurrency", "runs", "tag_concurrency_limits"),
)


def _node(document, path):
    """The mapping at `path` in `document`, or None."""
    node = document
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def without_nulls(document):
    """`document` with the nulls above replaced; True if anything changed."""
    changed = False
    for path in BLOCKS:
        parent = _node(document, path[:-1])
        if parent is not None and path[-1] in parent and parent[path[-1]] is None:
            parent[path[-1]] = {}
            changed = True
    for path, keys in NULL_KEYS.items():
        block = _node(document, path)
        for key in keys:
            if block is not None and key in block and block[key] is None:
                del block[key]
                changed = True
    monitoring = document.get("run_monitoring")
    if (
        isinstance(monitoring, dict)
        and monitoring.get("free_slots_after_run_end_seconds", 0) is None
    ):
        monitoring["free_slots_after_run_end_seconds"] = 0
        changed = True
    for path in TAG_LISTS:
        parent = _node(document, path[:-1])
        items = parent.get(path[-1]) if parent is not None else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and "value" in item and item["value"] is None:
                del item["value"]
                changed = True
    return changed


def forwards(apps, schema_editor):
    DeploymentSettings = apps.get_model("queueing", "DeploymentSettings")
    for row in DeploymentSettings.objects.all():
        if isinstance(row.document, dict) and without_nulls(row.document):
            row.save(update_fields=["document"])


class Migration(migrations.Migration):
    dependencies = [("queueing", "0003_hash_api_tokens")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
