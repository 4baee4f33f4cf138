"""`{% dagster_attached as x %}`: whether a Dagster deployment is attached (nav link)."""

from __future__ import annotations

from django import template

from .. import dagster_source

register = template.Library()


@register.simple_tag
def dagster_attached() -> bool:
    return dagster_source.attached()
