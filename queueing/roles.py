"""The three roles: viewer (read), operator (launch/terminate/prioritise), admin (limits too)."""

from __future__ import annotations

from typing import Any

LAUNCH = "queueing.launch_run"
CHANGE_LIMITS = "queueing.change_limits"

ROLE_PERMISSIONS = {
    "viewer": [],
    "operator": ["launch_run"],
    "admin": ["launch_run", "change_limits"],
}


def ensure_roles(**kwargs: Any) -> None:
    """Create the role groups with their permissions (runs after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = list(
            Permission.objects.filter(content_type__app_label="queueing", codename__in=codenames)
        )
        group.permissions.set(perms)


def can_launch(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(LAUNCH))


def can_change_limits(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(CHANGE_LIMITS))


def can_see_secrets(user: Any) -> bool:
    """Admins read kept-verbatim sections and run configs unmasked (engine.redaction)."""
    return can_change_limits(user)


def can_see_tracebacks(user: Any) -> bool:
    """Operators and admins read whole tracebacks; viewers the exception type and message."""
    return can_launch(user)
