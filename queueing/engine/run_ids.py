"""Short run ids: a run may be named by a unique prefix of its id of at least
`MIN_PREFIX` characters (the 8 the dashboard shows), from every command, API path and page.

Pure: the service asks the database for the ids starting with the prefix; these rules say
what a prefix may be and what to answer when it names several runs.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_PREFIX = 8
# Matches listed in the ambiguity error (one more is read to know there are more).
LISTED_MATCHES = 10


def prefix_problem(text: str) -> str | None:
    """Why `text` cannot be looked up as a prefix, or None."""
    if len(text) < MIN_PREFIX:
        return f"a run id or a prefix of at least {MIN_PREFIX} characters is needed"
    return None


def ambiguous_message(prefix: str, matches: Sequence[str]) -> str:
    """The error for a prefix that names several runs, listing them."""
    shown = ", ".join(matches[:LISTED_MATCHES])
    more = " and more" if len(matches) > LISTED_MATCHES else ""
    return f"{prefix!r} is the start of several run ids ({shown}{more}): give more characters"
