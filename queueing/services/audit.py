"""The audit log: every limit change, slot release, priority change and import."""

from __future__ import annotations

from typing import Any

from ..models import AuditEntry


def record(actor: str, action: str, target: str, old: Any, new: Any) -> AuditEntry:
    """Append one entry; call inside the transaction that makes the change it describes."""
    return AuditEntry.objects.create(
        actor=actor or "system", action=action, target=target, old_value=old, new_value=new
    )


def actor_name(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    return user.get_username()
