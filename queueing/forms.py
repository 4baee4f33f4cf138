"""Forms of the dashboard: they turn request data into typed values for the services.

Rules about values (ranges, which keys exist, what a priority may be) live in the engine
and the services; a form only parses types and shapes, and shows the service's errors
next to the field they name (see `views._common.add_service_errors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from . import inputs
from .definitions import JobDefinition
from .engine.config.specs import MAX_UNIQUE, PER_UNIQUE
from .engine.grammar import parse_integer
from .engine.holds import HOLDS
from .engine.partitions import PARTITION_TAG
from .engine.submission import parse_tag_pair
from .engine.types import (
    FINISHED_STATUSES,
    IN_PROGRESS_STATUSES,
    PRIORITY_TAG,
    ConfigError,
    RunStatus,
)
from .errors import InvalidInput
from .services.runs import prepare


class WholeNumberField(forms.CharField):
    """An integer typed as text, read by the one number grammar (`grammar.parse_integer`):
    Django's IntegerField would take `1_0`, `٣` and `1.0` as 10, 3 and 1."""

    widget = forms.NumberInput

    def __init__(
        self, *, min_value: int | None = None, max_value: int | None = None, **kwargs: Any
    ) -> None:
        self.min_value, self.max_value = min_value, max_value
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            number = parse_integer(str(text))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if self.min_value is not None and number < self.min_value:
            raise forms.ValidationError(f"must be at least {self.min_value}")
        if self.max_value is not None and number > self.max_value:
            raise forms.ValidationError(f"must be at most {self.max_value}")
        return number


# --- runs list ----------------------------------------------------------------------------

TAB_STATUSES: dict[str, tuple[RunStatus, ...]] = {
    "queued": (RunStatus.QUEUED,),
    "in_progress": tuple(s for s in RunStatus if s in IN_PROGRESS_STATUSES),
    "finished": tuple(s for s in RunStatus if s in FINISHED_STATUSES),
}
TAB_LABELS = {"queued": "Queued", "in_progress": "In progress", "finished": "Finished"}


class RunFilterForm(forms.Form):
    tab = forms.ChoiceField(choices=list(TAB_LABELS.items()), required=False)
    job = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=500, help_text="KEY=VALUE")
    status = forms.ChoiceField(
        choices=[("", "any")] + [(s.value, s.value) for s in RunStatus], required=False
    )
    page = WholeNumberField(min_value=1, max_value=1_000_000, required=False)
    # Queued tab only: what holds the runs back (engine.holds), and fair share's value.
    held_by = forms.ChoiceField(choices=[("", "anything")] + list(HOLDS.items()), required=False)
    share = forms.CharField(required=False, max_length=500)

    def clean_tag(self) -> tuple[str, str] | None:
        text = self.cleaned_data["tag"].strip()
        if not text:
            return None
        try:
            key, value = parse_tag_pair(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return key, value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        status = data.get("status")
        if status and status not in TAB_STATUSES[self.current_tab()]:
            self.add_error("status", f"{status} runs are not shown on this tab")
        if self.current_tab() != "queued":
            for name in ("held_by", "share"):
                if data.get(name):
                    self.add_error(name, "only queued runs are held back: use the Queued tab")
        return data

    def value(self, name: str, default: Any = None) -> Any:
        """The cleaned value, or `default` when missing or invalid (the filter is dropped)."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value

    def current_tab(self) -> str:
        tab = self.data.get("tab", "")
        return tab if tab in TAB_STATUSES else "queued"

    def statuses(self) -> list[str]:
        status = self.value("status")
        return [status] if status else [s.value for s in TAB_STATUSES[self.current_tab()]]

    def tags(self, share_key: str | None = None) -> dict[str, str]:
        """The tag filter, and `share_key`=<the fair-share value asked for> (fair share on)."""
        pair = self.value("tag")
        tags = {} if pair is None else {pair[0]: pair[1]}
        share = self.value("share")
        if share_key is not None and share is not None:
            tags[share_key] = share
        return tags

    def status_choices(self) -> list[str]:
        return [s.value for s in TAB_STATUSES[self.current_tab()]]


# --- launchpad ----------------------------------------------------------------------------

EXTRA_TAG_ROWS = 2
MAX_TAG_ROWS = 200


def field_of_launch_error(path: str) -> str:
    """Which launch field a service error path belongs to."""
    if path == "priority" or PRIORITY_TAG in path:
        return "priority"
    if PARTITION_TAG in path:
        return "partition"
    if path.startswith("run_config"):
        return "run_config"
    if path.startswith("tags"):
        return "tags"
    return "job" if path == "job" else ""


class LaunchForm(forms.Form):
    """A job, a YAML run config and tag rows (`tag_key` / `tag_value` lists) with a priority.

    `errors_by_field()` places problems under job, run_config, tags or priority, the places
    the launchpad shows them. Valid data gives `job_def`, `run_config` (mapping) and `tags`.
    """

    job = forms.CharField(max_length=200)
    # Not stripped: YAML error positions must match the lines of the textarea.
    run_config = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 16})
    )
    priority = forms.CharField(required=False, max_length=20)
    # A partitioned job's partition (the `dagster/partition` tag).
    partition = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, jobs: Mapping[str, JobDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = jobs
        self.tag_errors: list[str] = []
        self.job_def: JobDefinition | None = None
        self.tags: dict[str, str] = {}

    def tag_rows(self) -> list[tuple[str, str]]:
        """The tag rows to show: the submitted ones, then empty rows to fill."""
        if not self.is_bound:
            rows: list[tuple[str, str]] = []
        else:
            keys = self.data.getlist("tag_key")[:MAX_TAG_ROWS]  # type: ignore[attr-defined]
            values = self.data.getlist("tag_value")[:MAX_TAG_ROWS]  # type: ignore[attr-defined]
            rows = [(k, v) for k, v in zip(keys, values, strict=False) if k.strip() or v.strip()]
        extra = EXTRA_TAG_ROWS + (1 if self.is_bound and "add_row" in self.data else 0)
        return rows + [("", "")] * extra

    def clean_job(self) -> str:
        name = self.cleaned_data["job"]
        self.job_def = self.jobs.get(name)
        if self.job_def is None:
            raise forms.ValidationError(f"unknown job {name!r}: pick one of the list")
        return name

    def clean_run_config(self) -> dict[str, Any]:
        text = self.cleaned_data["run_config"]
        try:
            parsed = inputs.read_yaml(text, prefix="run_config", root="run_config")
        except InvalidInput as exc:
            raise forms.ValidationError(
                [e.message if e.path == "run_config" else str(e) for e in exc.errors]
            ) from None
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise forms.ValidationError(
                f"the run config must be a mapping (execution:, ops:, ...), got {type(parsed).__name__}"
            )
        return parsed

    def clean(self) -> dict[str, Any]:
        """The submit's own checks (`services.runs.prepare`), placed next to each field."""
        data = super().clean() or {}
        self._collect_tags(data.get("priority", ""), data.get("partition", ""))
        if self.job_def is not None:
            # With unreadable YAML the tags and the priority are still checked.
            config_read = "run_config" in data
            try:
                prepare(data["job"], self.tags, data.get("run_config") or {})
            except InvalidInput as exc:
                for error in exc.errors:
                    if config_read or not error.path.startswith("run_config"):
                        self.add_service_error(error)
        return data

    def _collect_tags(self, priority: str, partition: str = "") -> None:
        raw: dict[str, str] = {}
        for key, value in self.tag_rows():
            if not key.strip() and not value.strip():
                continue
            if key in raw:
                self.tag_errors.append(f"tag {key!r} is given twice")
            raw[key] = value
        if priority.strip():
            raw[PRIORITY_TAG] = priority.strip()
        if partition:
            raw[PARTITION_TAG] = partition
        self.tags = raw

    def add_service_error(self, error: ConfigError) -> None:
        """Show a service error under its field; deeper paths (`run_config.ops.x`) keep
        their path in the message."""
        field = field_of_launch_error(error.path)
        if field == "tags":
            self.tag_errors.append(f"{error.path}: {error.message}")
        elif field and error.path in (field, f"tags.{PRIORITY_TAG}", f"tags.{PARTITION_TAG}"):
            self.add_error(field, error.message)
        else:
            self.add_error(field or None, f"{error.path}: {error.message}")

    def is_ready(self) -> bool:
        return self.is_valid() and not self.tag_errors

    def errors_by_field(self) -> dict[str, Sequence[Any]]:
        self.is_valid()
        return {
            "job": self.errors.get("job", []),
            "run_config": self.errors.get("run_config", []),
            "tags": self.tag_errors,
            "priority": self.errors.get("priority", []),
            "partition": self.errors.get("partition", []),
            "form": self.non_field_errors(),
        }


# --- concurrency settings -----------------------------------------------------------------


class SettingsForm(forms.Form):
    """A form whose fields are named after settings (`SETTING_PREFIX` + field name)."""

    SETTING_PREFIX = ""

    @classmethod
    def from_settings(cls, flat: Mapping[str, Any]) -> SettingsForm:
        initial = {name: flat[cls.SETTING_PREFIX + name] for name in cls.base_fields}
        return cls(initial=initial)

    def changes(self) -> dict[str, Any]:
        return {self.SETTING_PREFIX + name: value for name, value in self.cleaned_data.items()}


class QueueSettingsForm(SettingsForm):
    max_concurrent_runs = WholeNumberField(help_text="-1 for no limit, 0 launches nothing")
    block_op_concurrency_limited_runs = forms.BooleanField(
        required=False, label="Pool-aware dequeuing (block_op_concurrency_limited_runs)"
    )
    slot_buffer = WholeNumberField(
        label="Slot buffer (op_concurrency_slot_buffer)",
        help_text="extra runs allowed past pool capacity",
    )
    granularity = forms.ChoiceField(choices=[("op", "op"), ("run", "run")])
    default_pool_limit = WholeNumberField(
        required=False, help_text="limit of pools without one; empty: unlimited"
    )


class MonitoringForm(SettingsForm):
    SETTING_PREFIX = "monitoring."

    enabled = forms.BooleanField(required=False, label="Run monitoring enabled")
    free_slots_after_run_end_seconds = WholeNumberField(
        help_text="release slots still held this long after a run ended; 0: never"
    )
    start_timeout_seconds = WholeNumberField(help_text="0: disabled")
    cancel_timeout_seconds = WholeNumberField(help_text="0: disabled")
    max_runtime_seconds = WholeNumberField(help_text="0: no limit")
    poll_interval_seconds = WholeNumberField()


# Short enough to show whole in the form's narrowest select (14rem, and 390 px phones), in
# the words of the tag-limit table; the help text says what the last one means.
TAG_LIMIT_KINDS = [
    ("key", "any value, together"),
    ("key_value", "one value"),
    ("per_unique_value", "each value separately"),
    ("distinct_values", "distinct values"),
]


class TagLimitForm(forms.Form):
    prefix = "tag"  # shares the page with the pool form

    # Not stripped: the key grammar refuses outer spaces instead of silently trimming them.
    key = forms.CharField(max_length=255, strip=False)
    kind = forms.ChoiceField(
        choices=TAG_LIMIT_KINDS,
        initial="key",
        help_text="distinct values: at most N different values at once (concurrency-ui only)",
    )
    value = forms.CharField(required=False, max_length=4096)
    limit = WholeNumberField()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == "key_value" and not data.get("value"):
            self.add_error("value", "a key = value limit needs the value")
        return data

    def item(self) -> dict[str, Any]:
        """The `tag_concurrency_limits` item, as `dagster.yaml` writes it."""
        data = self.cleaned_data
        item: dict[str, Any] = {"key": data["key"], "limit": data["limit"]}
        if data["kind"] == "key_value":
            item["value"] = data["value"]
        elif data["kind"] == "per_unique_value":
            item["value"] = {PER_UNIQUE: True}
        elif data["kind"] == "distinct_values":
            # The limit is the number of values; each value runs uncapped.
            return {"key": data["key"], "value": {MAX_UNIQUE: data["limit"]}}
        return item


class PoolForm(forms.Form):
    prefix = "pool"

    key = forms.CharField(max_length=200, strip=False)
    limit = WholeNumberField()


class PoolLimitForm(forms.Form):
    limit = WholeNumberField()


# --- configuration --------------------------------------------------------------------------


class ConfigImportForm(forms.Form):
    text = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 14}), label="dagster.yaml"
    )
    file = forms.FileField(required=False, label="or upload a file")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload: UploadedFile | None = data.get("file")
        if upload is not None:
            content = inputs.read_bounded(upload)
            if content is None:
                raise forms.ValidationError(
                    f"the file is larger than {settings.INPUT_MAX_BYTES} bytes "
                    f"({upload.size} bytes; INPUT_MAX_BYTES)"
                )
            try:
                data["text"] = content.decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("the file is not UTF-8 text") from None
        if not data.get("text", "").strip():
            raise forms.ValidationError("paste a dagster.yaml or choose a file")
        return data


# --- backfills ----------------------------------------------------------------------------


class BackfillForm(forms.Form):
    """A backfill of a partitioned job: a list of partitions (comma-separated), a range
    (from, to) or all, and tags as KEY=VALUE lines; the service checks the selection."""

    job = forms.CharField(max_length=200)
    partitions = forms.CharField(required=False, max_length=100_000, label="Partitions")
    start = forms.CharField(required=False, max_length=200, label="From")
    end = forms.CharField(required=False, max_length=200, label="To")
    all = forms.BooleanField(required=False, label="Every partition")
    tags = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="KEY=VALUE, one a line",
    )

    def clean_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["tags"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                key, value = parse_tag_pair(line.strip())
            except ValueError as exc:
                raise forms.ValidationError(f"line {number}: {exc}") from None
            tags[key] = value
        return tags

    def selection(self) -> dict[str, Any]:
        """The keyword arguments of `services.backfills.launch` choosing the partitions."""
        data = self.cleaned_data
        keys = [k.strip() for k in data["partitions"].split(",") if k.strip()]
        return {
            "partitions": keys or None,
            "start": data["start"].strip() or None,
            "end": data["end"].strip() or None,
            "all_partitions": data["all"],
        }


def field_of_backfill_error(path: str) -> str | None:
    """Which backfill field a service error path belongs to."""
    if path.startswith("tags"):
        return "tags"
    return {"from": "start", "to": "end"}.get(path, path)
