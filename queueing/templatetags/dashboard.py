"""Filters the dashboard templates use to format durations, settings and audit values.

They return plain strings, which the templates escape like any other value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from queueing.engine.config.specs import MAX_UNIQUE
from queueing.engine.pool_words import limit_words as _limit_words
from queueing.engine.redaction import error_summary as _error_summary

register = template.Library()


@register.filter
def duration(value: timedelta | float | int | None) -> str:
    """`1h 02m`, `4m 05s`, `12s`, `0.4s`; an empty string for None."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{max(seconds, 0):.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def elapsed(start: datetime | None, end: datetime | None = None) -> str:
    """The time from `start` to `end` (or to now while `end` is None)."""
    if start is None:
        return ""
    return duration((end or timezone.now()) - start)


@register.filter
def tag_limit(item: Mapping[str, Any]) -> str:
    """A `tag_concurrency_limits` item as one line: `database=redshift: 2`; a
    `max_queued_seconds_by_tag` item as `team=growth: 600 s`."""
    value = item.get("value")
    if isinstance(value, Mapping) and MAX_UNIQUE in value:
        return f"{item['key']} (distinct values): {value[MAX_UNIQUE]}"
    if isinstance(value, Mapping):
        subject = f"{item['key']} (each value)"
    elif value is not None:
        subject = f"{item['key']}={value}"
    else:
        subject = f"{item['key']} (any value)"
    if "seconds" in item:
        return f"{subject}: {item['seconds']} s"
    return f"{subject}: {item.get('limit')}"


@register.filter
def setting_value(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        if all(isinstance(v, Mapping) and "key" in v for v in value):
            return "; ".join(tag_limit(v) for v in value) or "none"
        return json.dumps(value, default=str)
    return str(value)


@register.filter
def audit_value(value: Any) -> str:
    """An audit entry's old or new value, compactly (`—` for nothing)."""
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {setting_value(v)}" for k, v in value.items())
    return setting_value(value)


@register.filter
def iso_datetime(value: str) -> datetime | str:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value


@register.filter
def milliseconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


@register.filter
def error_summary(text: str) -> str:
    """A traceback cut to its exception type and message (what viewers see)."""
    return _error_summary(text or "")


@register.simple_tag
def pool_link(key: str) -> str:
    """`<a href="/pools/KEY/"><code>KEY</code></a>`: every pool name shown links to its page."""
    if not key:
        return ""
    return format_html('<a href="{}"><code>{}</code></a>', reverse("pool", args=[key]), key)


@register.simple_tag
def run_link(run_id: str) -> str:
    """`<a href="/runs/ID/"><code>ID[:8]</code></a>`: every run id shown links to its run;
    the page accepts the short id too, the link carries the whole one."""
    if not run_id:
        return ""
    return format_html(
        '<a href="{}" title="run {}"><code>{}</code></a>',
        reverse("run-detail", args=[run_id]),
        run_id,
        run_id[:8],
    )


@register.filter
def pool_limit_words(limit: int | None, from_default: bool = False) -> str:
    """ "closed (limit 0)", "limit 3 (default)", "no limit" (`engine.pool_words`)."""
    return _limit_words(limit, from_default)


@register.filter
def percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.0f}%"


_RUN_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@register.filter
def run_ids_in(args: Any) -> list[str]:
    """The run ids among a Celery task's arguments (a list, or its repr from older workers),
    so that the Daemons page links them."""
    return list(dict.fromkeys(_RUN_ID.findall(str(args))))


@register.simple_tag
def gate_message(gate: Any, url_name: str = "run-detail") -> str:
    """A gate's sentence with each run it names (by its short id) linked to that run's
    page (`url_name`: "dagster-run" on the attached-Dagster pages). `gate` is a Gate or
    its `to_dict()` (with holders); a dict without a unit counts runs."""
    if isinstance(gate, Mapping):
        message, unit, holders = gate["message"], gate.get("unit", "run"), gate.get("holders", ())
    else:
        message, unit, holders = gate.message, gate.unit, gate.holders
    text: str = conditional_escape(message)
    if unit != "run":
        return mark_safe(text)  # noqa: S308 - escaped above
    for holder in dict.fromkeys(holders):
        if len(holder) == 36:
            short = holder[:8]
            link = format_html(
                '<a href="{}"><code>{}</code></a>', reverse(url_name, args=[holder]), short
            )
            text = re.sub(rf"\b{re.escape(short)}\b", link, text)
    return mark_safe(text)  # noqa: S308 - built from escaped parts


# The run ids a stored reason names (`Gate._held_by`: short ids after "held by " or
# "runs counted: ", comma-separated).
_HELD_BY = re.compile(r"(held by |runs counted: )([0-9a-f]{8}(?:, [0-9a-f]{8})*)(?![-0-9a-f])")
# The run ids a doctor's evidence line or a Dagster quirk note names: short ids after
# "run ", "runs ", "run(s) " (a colon allowed), or after the stored reasons' words above.
_NAMED_RUNS = re.compile(
    r"(\brun(?:s|\(s\))?:? |held by |runs counted: )([0-9a-f]{8}(?:, [0-9a-f]{8})*)(?![-0-9a-f])"
)


def _link_run_ids(pattern: re.Pattern[str], html: str, url_name: str) -> str:
    """`html` (escaped) with each short run id `pattern` finds linked to `url_name`'s page,
    which takes a unique prefix and redirects to the run."""

    def link(match: re.Match[str]) -> str:
        ids = match.group(2).split(", ")
        return match.group(1) + ", ".join(
            format_html('<a href="{}"><code>{}</code></a>', reverse(url_name, args=[i]), i)
            for i in ids
        )

    return mark_safe(pattern.sub(link, html))  # noqa: S308 - the caller escaped it


@register.filter
def held_by_links(message: str) -> str:
    """A stored wait reason (wait history) with each run it names by its short id linked to
    that run."""
    return _link_run_ids(_HELD_BY, str(conditional_escape(message or "")), "run-detail")


@register.filter
def run_links(text: str, url_name: str = "run-detail") -> str:
    """A doctor's evidence line or a Dagster quirk note (plain or already-safe HTML, such as
    `inline_code`'s) with each run it names by its short id linked to that run's page
    (`url_name`: "dagster-run" on the attached-Dagster pages)."""
    return _link_run_ids(_NAMED_RUNS, str(conditional_escape(text or "")), url_name)


_BACKTICKED = re.compile(r"`([^`]+)`")


@register.filter
def inline_code(text: str) -> str:
    """Text whose `backticked` parts (commands, settings in the doctor's fixes) are code."""
    escaped = str(conditional_escape(text or ""))
    return mark_safe(_BACKTICKED.sub(r"<code>\1</code>", escaped))  # noqa: S308 - escaped first
