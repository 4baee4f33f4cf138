"""What the comparison tests ran; conftest prints it in the session summary (CI shows it)."""

from __future__ import annotations

from collections import Counter

SCENARIOS: Counter[str] = Counter()
