"""Tag concurrency limits (SEMANTICS 2.5), shared by the run queue and in-run step selection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from .types import DISTINCT_SUFFIX, Gate, TagLimit

# Gate.holders keeps at most this many ids; the rest is a count (Gate.more_holders).
HOLDERS_CAP = 20

_KEY, _KEY_VALUE, _PER_VALUE = "key", "key_value", "per_unique_value"
T = TypeVar("T")

# The kind of a distinct-values limit (TagLimit.kind, Gate.kind).
DISTINCT_VALUES = "distinct_values"
_DISTINCT = DISTINCT_VALUES

# A bucket is one counter: ("key", key, None), ("key_value", key, value) or
# ("per_unique_value", key, value). A distinct-values limit counts in ("distinct_values",
# key, None); `_applicable` names it with the item's value, which decides whether it passes.
Bucket = tuple[str, str, str | None]
# (position of the limit in the config, limit, bucket)
_Rule = tuple[int, int, Bucket]


class TagCounter:
    """Counts items (runs or steps) by their tags against a tuple of `TagLimit`.

    Four kinds of limit apply together: key (any value), key=value (exact string), per
    unique value (each value its own budget) and distinct values (concurrency-ui's own: at
    most `limit` different values in progress, each value uncapped). Of several limits of
    one kind on one key (one key=value pair for the key=value kind) the last listed wins.
    An item is blocked when any applicable counter has `count >= limit`, so 0 and negative
    limits block every matching item; for distinct values the count is the number of
    values in progress, and an item whose value is already in progress passes.

    `check` and `add` cost O(min(tags of the item, limited keys)) dict lookups, never
    O(counted items): holder lists are shared per counter and a gate is rebuilt only
    when its counter changed since the last check.
    """

    def __init__(self, limits: Iterable[TagLimit], unit: str = "run") -> None:
        self._unit = unit
        key_rules: dict[str, _Rule] = {}
        value_rules: dict[str, dict[str, _Rule]] = {}
        per_value_rules: dict[str, tuple[int, int]] = {}
        distinct_rules: dict[str, tuple[int, int]] = {}
        # Later entries overwrite earlier ones: the last listed limit of a kind wins.
        for position, tag_limit in enumerate(limits):
            key, kind = tag_limit.key, tag_limit.kind
            if kind == _DISTINCT:
                distinct_rules[key] = (position, tag_limit.limit)
            elif kind == _PER_VALUE:
                per_value_rules[key] = (position, tag_limit.limit)
            elif kind == _KEY_VALUE:
                assert tag_limit.value is not None
                bucket: Bucket = (_KEY_VALUE, key, tag_limit.value)
                value_rules.setdefault(key, {})[tag_limit.value] = (
                    position,
                    tag_limit.limit,
                    bucket,
                )
            else:
                key_rules[key] = (position, tag_limit.limit, (_KEY, key, None))
        # One lookup per tag of an item: key -> (key rule, key=value rules, per-value rule,
        # distinct-values rule).
        self._by_key: dict[
            str,
            tuple[_Rule | None, dict[str, _Rule], tuple[int, int] | None, tuple[int, int] | None],
        ] = {
            key: (
                key_rules.get(key),
                value_rules.get(key, {}),
                per_value_rules.get(key),
                distinct_rules.get(key),
            )
            for key in [*key_rules, *value_rules, *per_value_rules, *distinct_rules]
        }
        self._holders: dict[Bucket, list[str]] = {}
        # Distinct-values limits: key -> {value in progress: items counted with it}.
        self._distinct: dict[str, dict[str, int]] = {}
        self._distinct_gates: dict[tuple[str, bool], Gate] = {}
        self._gates: dict[Bucket, Gate] = {}

    @property
    def has_limits(self) -> bool:
        return bool(self._by_key)

    def _applicable(self, tags: Mapping[str, str]) -> list[_Rule]:
        """(position, limit, bucket) of every limit that applies to an item with `tags`,
        in the order the limits are listed."""
        by_key = self._by_key
        found: list[_Rule] = []
        if not by_key or not tags:
            return found
        if len(tags) <= len(by_key):
            pairs: Iterable[tuple[str, str]] = tags.items()
        else:
            pairs = ((key, tags[key]) for key in by_key if key in tags)
        for key, value in pairs:
            rules = by_key.get(key)
            if rules is None:
                continue
            key_rule, value_rules, per_value_rule, distinct_rule = rules
            if key_rule is not None:
                found.append(key_rule)
            if value_rules:
                value_rule = value_rules.get(value)
                if value_rule is not None:
                    found.append(value_rule)
            if per_value_rule is not None:
                found.append((per_value_rule[0], per_value_rule[1], (_PER_VALUE, key, value)))
            if distinct_rule is not None:
                found.append((distinct_rule[0], distinct_rule[1], (_DISTINCT, key, value)))
        if len(found) > 1:
            # Positions are unique, so the sort never compares further than the first field.
            found.sort()
        return found

    def applicable(self, tags: Mapping[str, str]) -> list[int]:
        """Positions (in the list of limits given) of the limits that count an item with
        `tags`; a limit overridden by a later one of its kind never counts anything."""
        return [position for position, _, _ in self._applicable(tags)]

    def check(self, tags: Mapping[str, str]) -> list[Gate]:
        """One gate per applicable limit, in the order the limits are listed in the config."""
        rules = self._applicable(tags)
        if not rules:
            return []
        holders, gates = self._holders, self._gates
        found = []
        # Hot path of a 100k-run tick: the cache lookup of `_gate`, inlined.
        for _, limit, bucket in rules:
            if bucket[0] == _DISTINCT:
                found.append(self._distinct_gate(limit, bucket[1], bucket[2]))
                continue
            counted = holders.get(bucket)
            count = len(counted) if counted else 0
            gate = gates.get(bucket)
            if gate is None or gate.count != count:
                gate = self._gate(limit, bucket)
            found.append(gate)
        return found

    def blocking(self, tags: Mapping[str, str]) -> Gate | None:
        """The first applicable limit that is full, or None."""
        for gate in self.check(tags):
            if not gate.passed:
                return gate
        return None

    def add(self, item_id: str, tags: Mapping[str, str]) -> None:
        """Count an item (an active run, an accepted run, a step in flight or selected)."""
        for _, _, bucket in self._applicable(tags):
            if bucket[0] == _DISTINCT:
                kind, key, value = bucket
                assert value is not None
                self._holders.setdefault((kind, key, None), []).append(item_id)
                values = self._distinct.setdefault(key, {})
                values[value] = values.get(value, 0) + 1
                continue
            self._holders.setdefault(bucket, []).append(item_id)

    def remove(self, item_id: str, tags: Mapping[str, str]) -> None:
        """Stop counting an item `add` counted (it ended): the start-estimate replay keeps
        one counter over simulated time instead of recounting every run in progress."""
        for _, _, bucket in self._applicable(tags):
            kind, key, value = bucket
            if kind == _DISTINCT:
                assert value is not None
                self._drop((kind, key, None), item_id)
                values = self._distinct.get(key, {})
                if values.get(value, 0) <= 1:
                    values.pop(value, None)
                else:
                    values[value] -= 1
                self._distinct_gates.pop((key, True), None)
                self._distinct_gates.pop((key, False), None)
                continue
            self._drop(bucket, item_id)
            # Gates are cached while a count is unchanged; a removal then an addition keeps
            # the count but not the holders.
            self._gates.pop(bucket, None)

    def _drop(self, bucket: Bucket, item_id: str) -> None:
        held = self._holders.get(bucket)
        if held is not None and item_id in held:
            held.remove(item_id)

    def gate_ids(self, tags: Mapping[str, str]) -> list[tuple[str, str]]:
        """(kind, subject) of the gate of every limit that counts an item with `tags`: the
        gates whose count falls when such an item ends."""
        return [(bucket[0], _subject(bucket)) for _, _, bucket in self._applicable(tags)]

    def limits_of(self, tags: Mapping[str, str]) -> tuple[tuple[str, str, Bucket, int], ...] | None:
        """(kind, subject, counter, limit) of every limit that counts an item with `tags`, in
        the order `check` gives their gates, for `first_full`; None when a distinct-values
        limit counts it (whether that one is full depends on the item's own value)."""
        found = []
        for _, limit, bucket in self._applicable(tags):
            if bucket[0] == _DISTINCT:
                return None
            found.append((bucket[0], _subject(bucket), bucket, limit))
        return tuple(found)

    def first_full(self, limits: Sequence[tuple[T, Bucket, int]]) -> T | None:
        """The label of the first of `limits` ((label, counter, limit), the counters and
        limits from `limits_of`) whose counter is full: the first gate `check` would fail,
        found without building gates (the start-estimate replay asks this of most runs it
        looks at)."""
        holders = self._holders
        for label, bucket, limit in limits:
            held = holders.get(bucket)
            if held and len(held) >= limit:
                return label
        return None

    def is_full(self, bucket: Bucket, limit: int) -> bool:
        """Whether the counter `bucket` (from `limits_of`) holds `limit` items or more."""
        held = self._holders.get(bucket)
        return (len(held) if held else 0) >= limit

    def count(self, tag_limit: TagLimit, value: str | None = None) -> int:
        """Live count of one limit; `value` picks the budget of a per-unique-value limit."""
        if tag_limit.kind == _DISTINCT:
            return len(self._distinct.get(tag_limit.key, ()))
        if tag_limit.kind == _PER_VALUE:
            bucket: Bucket = (_PER_VALUE, tag_limit.key, value)
        elif tag_limit.kind == _KEY_VALUE:
            bucket = (_KEY_VALUE, tag_limit.key, tag_limit.value)
        else:
            bucket = (_KEY, tag_limit.key, None)
        return len(self._holders.get(bucket, ()))

    def full(self) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
        """What this counter blocks now: (keys whose every carrier is blocked, {key: values
        whose carriers of key=value are blocked}).

        An item carrying one of these tags gets a failing gate from `check`, and counts only
        grow, so it stays blocked while items are added. The run queue leaves such runs
        unread in an unlimited queue (`engine.run_queue.tags_full_now`)."""
        keys: set[str] = set()
        values: dict[str, set[str]] = {}
        holders = self._holders
        for key, (key_rule, value_rules, per_value_rule, distinct_rule) in self._by_key.items():
            if key_rule is not None and len(holders.get(key_rule[2], ())) >= key_rule[1]:
                keys.add(key)
            # A distinct-values cap at its count still admits carriers of the values in
            # progress, so only a cap of 0 blocks every carrier.
            if distinct_rule is not None and distinct_rule[1] <= 0:
                keys.add(key)
            for value, (_, limit, bucket) in value_rules.items():
                if len(holders.get(bucket, ())) >= limit:
                    values.setdefault(key, set()).add(value)
            if per_value_rule is not None:
                limit = per_value_rule[1]
                if limit <= 0:
                    keys.add(key)
                    continue
                for (kind, bucket_key, held_value), held in holders.items():
                    if kind == _PER_VALUE and bucket_key == key and len(held) >= limit:
                        assert held_value is not None
                        values.setdefault(key, set()).add(held_value)
        return frozenset(keys), {key: frozenset(found) for key, found in values.items()}

    def _gate(self, limit: int, bucket: Bucket) -> Gate:
        holders: Sequence[str] = self._holders.get(bucket, ())
        count = len(holders)
        cached = self._gates.get(bucket)
        # Holder lists only grow, so an unchanged length means an unchanged gate.
        if cached is not None and cached.count == count:
            return cached
        kind = bucket[0]
        gate = Gate(
            rule="tag",
            subject=_subject(bucket),
            count=count,
            limit=limit,
            passed=count < limit,
            holders=tuple(holders[:HOLDERS_CAP]),
            kind=kind,
            unit=self._unit,
            more_holders=max(0, count - HOLDERS_CAP),
        )
        self._gates[bucket] = gate
        return gate

    def _distinct_gate(self, limit: int, key: str, value: str | None) -> Gate:
        """The distinct-values gate for an item whose value of `key` is `value`: it passes
        when that value is already in progress or fewer than `limit` values are."""
        values = self._distinct.get(key, {})
        count = len(values)
        member = value in values
        passed = (member and limit > 0) or count < limit
        cached = self._distinct_gates.get((key, passed))
        # Values are only added, so an unchanged count means unchanged values and holders.
        if cached is not None and cached.count == count:
            return cached
        holders: Sequence[str] = self._holders.get((_DISTINCT, key, None), ())
        gate = Gate(
            rule="tag",
            subject=_subject((_DISTINCT, key, None)),
            count=count,
            limit=limit,
            passed=passed,
            holders=tuple(holders[:HOLDERS_CAP]),
            kind=_DISTINCT,
            unit=self._unit,
            more_holders=max(0, len(holders) - HOLDERS_CAP),
            values=tuple(list(values)[:HOLDERS_CAP]),
        )
        self._distinct_gates[(key, passed)] = gate
        return gate


def _subject(bucket: Bucket) -> str:
    """The subject of a counter's gates: `key`, `key=value`, or the key of a distinct-values
    limit with `DISTINCT_SUFFIX`."""
    kind, key, value = bucket
    if kind == _DISTINCT:
        return key + DISTINCT_SUFFIX
    return key if value is None else f"{key}={value}"
