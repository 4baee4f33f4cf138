"""The input boundary: every YAML or JSON document a user sends is read here, within limits.

`dagster.yaml` files, run configs, the simulator's YAML, launchpad text, files given to the
command line and API bodies all come through `read_yaml`, `read_json` or, for values that
arrived already built, `check_value`. The limits are checked *while* reading, before any
large or deep structure exists:

- size in bytes, before parsing;
- nesting depth, as each list or mapping opens (PyYAML and `json` would otherwise recurse
  until Python's stack gives out);
- the number of values, as each is read, where an alias counts as every value it repeats
  (a 400-byte "billion laughs" document is refused at its first expansion past the budget);
- only what JSON can hold: mappings with text keys, lists, text, finite numbers within 64
  bits, true/false and null. YAML dates are read as the text written (`2001-12-14`); YAML
  tags for binary data, sets, ordered maps or Python objects are refused; numbers follow
  `grammar.parse_integer` (no `1_000`, `0x1f` or sexagesimal `1:30`); no text holds NUL.

Each refusal is an `InputRefused` naming the path of the offending value and the rule,
with the setting that sets the limit. Pure Python: the caller passes the `Limits`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .grammar import INT64_MAX, INT64_MIN, parse_integer, text_problem
from .types import ConfigError

FILE_PATH = "<file>"

# libyaml's parser is ~20 times faster than PyYAML's pure-Python one on a 1 MB document.
_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limits:
    """Hard limits on one document; each is a process setting (README "Configuration")."""

    max_bytes: int = 1024 * 1024  # INPUT_MAX_BYTES
    max_depth: int = 32  # INPUT_MAX_DEPTH
    max_nodes: int = 100_000  # INPUT_MAX_NODES


DEFAULT_LIMITS = Limits()

JSON_TYPES_RULE = (
    "only what JSON can hold is accepted: mappings, lists, text, numbers, true/false and null"
)


class InputRefused(ValueError):
    """A document broke a limit or a type rule; `error` names where and which."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.error = ConfigError(path, message)


@dataclass(frozen=True)
class YamlDocument:
    value: Any
    # Warnings: a key given twice in one mapping (the last one is used, as PyYAML does).
    duplicates: tuple[ConfigError, ...] = field(default=())


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def size_problem(size: int, limits: Limits) -> str | None:
    if size > limits.max_bytes:
        return (
            f"{size} bytes is larger than the limit of {limits.max_bytes} bytes (INPUT_MAX_BYTES)"
        )
    return None


def _check_size(text: str | bytes, limits: Limits, root: str) -> None:
    # A str longer than the limit in characters is longer in bytes too: no need to encode.
    if isinstance(text, bytes) or len(text) > limits.max_bytes:
        size = len(text)
    else:
        size = len(text.encode("utf-8", "surrogatepass"))
    problem = size_problem(size, limits)
    if problem:
        raise InputRefused(root, problem)


def _depth_message(limits: Limits) -> str:
    return f"nested deeper than {limits.max_depth} levels (INPUT_MAX_DEPTH)"


def _nodes_message(limits: Limits) -> str:
    return (
        f"more than {limits.max_nodes} values (INPUT_MAX_NODES; an alias counts as every "
        "value it repeats)"
    )


# --- YAML ---------------------------------------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_ALLOWED_COLLECTION_TAGS = {None, "!", _TAG + "map", _TAG + "seq"}
# YAML 1.1 floats written in decimal (no `_`, no sexagesimal `1:30.5`), ASCII only.
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _refused_tag(tag: str) -> str:
    return f"the YAML tag {_tag_name(tag)} is not accepted: {JSON_TYPES_RULE}"


class _Frame:
    __slots__ = ("value", "path", "anchor", "start_nodes", "height", "key", "merges", "mark")

    def __init__(self, value: Any, path: str, anchor: str | None, start: int, mark: Any):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.start_nodes = start
        self.height = 0  # of the deepest collection inside
        self.key: Any = None  # mapping: the key read (or _MERGE), waiting for its value
        self.merges: list[tuple[Any, str]] = []  # `<<: *anchor` values, applied at the end
        self.mark = mark


_MERGE = object()  # a `<<` key


class _YamlBuilder:
    """Builds the document from parser events, one value at a time, with no recursion."""

    def __init__(self, loader: Any, limits: Limits, prefix: str, root: str) -> None:
        self.loader = loader
        self.limits = limits
        self.prefix = prefix
        self.root = root
        self.stack: list[_Frame] = []
        self.nodes = 0
        # anchor -> (value, number of values, height); an alias repeats all of them.
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.duplicates: list[ConfigError] = []
        self.result: Any = None
        self.documents = 0

    def raw_path(self) -> str:
        """The path of the next value ("" for the document itself when there is no prefix)."""
        if not self.stack:
            return self.prefix
        top = self.stack[-1]
        if isinstance(top.value, list):
            return f"{top.path}[{len(top.value)}]"
        if top.key is None or top.key is _MERGE:
            return _join(top.path, "<<") if top.key is _MERGE else top.path
        return _join(top.path, top.key)

    def path(self) -> str:
        return self.raw_path() or self.root

    def refuse(self, message: str, mark: Any, path: str | None = None) -> InputRefused:
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return InputRefused(path or self.path(), where + message)

    def count(self, n: int, mark: Any) -> None:
        self.nodes += n
        if self.nodes > self.limits.max_nodes:
            raise self.refuse(_nodes_message(self.limits), mark)

    def awaiting_key(self) -> bool:
        top = self.stack[-1] if self.stack else None
        return top is not None and isinstance(top.value, dict) and top.key is None

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self.scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self.alias(event)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self.open(event)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            self.close(event)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                mark = event.start_mark
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                raise InputRefused(
                    self.root,
                    f"invalid YAML{where}: expected one document, found a second one",
                )

    def scalar(self, event: Any) -> None:
        self.count(1, event.start_mark)
        if self.awaiting_key():
            self.set_key(self.scalar_value(event, key=True), event)
            if event.anchor and isinstance(self.stack[-1].key, str):
                self.anchors[event.anchor] = (self.stack[-1].key, 1, 0)
            return
        self.add(self.scalar_value(event, key=False), 1, 0, event.anchor, event.start_mark)

    def set_key(self, key: Any, event: Any) -> None:
        top = self.stack[-1]
        if key is _MERGE:
            top.key = _MERGE
            return
        if not isinstance(key, str):
            raise self.refuse(
                f"a mapping key must be text, got {_kind(key)} {key!r}: quote it "
                "(JSON objects have text keys)",
                event.start_mark,
            )
        if key in top.value:
            self.duplicates.append(
                ConfigError(
                    FILE_PATH,
                    f"line {event.start_mark.line + 1}: duplicate key {key!r} "
                    "(only the last one is used)",
                )
            )
        top.key = key

    def scalar_value(self, event: Any, key: bool) -> Any:
        explicit = event.tag not in (None, "!")
        tag = (
            event.tag
            if explicit
            else self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        )
        text = event.value
        if tag == _TAG + "str" or (tag == _TAG + "timestamp" and not explicit):
            # JSON has no dates: a date written plainly stays the text written.
            problem = text_problem(text)
            if problem:
                raise self.refuse(f"the text {problem}", event.start_mark)
            return text
        if tag == _TAG + "merge" and key and not explicit:
            return _MERGE
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return yaml.constructor.SafeConstructor.bool_values[text.lower()]
        if tag == _TAG + "int":
            try:
                return parse_integer(text)
            except ValueError as exc:
                raise self.refuse(
                    f"{exc} (or quote it to keep it as text)", event.start_mark
                ) from None
        if tag == _TAG + "float":
            if _FLOAT.fullmatch(text):
                number = float(text)
                if math.isfinite(number):
                    return number
            if text.lower().lstrip("+-") in (".inf", ".nan") or _FLOAT.fullmatch(text):
                raise self.refuse(
                    f"{text} is not a finite number: JSON has no infinity or NaN",
                    event.start_mark,
                )
            raise self.refuse(
                f"{text!r} is not a decimal number: write digits 0-9 with an optional sign, "
                "a decimal point and exponent (or quote it to keep it as text)",
                event.start_mark,
            )
        if tag in (_TAG + "merge", _TAG + "value"):
            return text
        raise self.refuse(_refused_tag(tag), event.start_mark)

    def alias(self, event: Any) -> None:
        name = event.anchor
        if name not in self.anchors:
            inside = any(frame.anchor == name for frame in self.stack)
            problem = (
                f"the alias *{name} refers to a collection it is inside (a cycle)"
                if inside
                else f"the alias *{name} refers to no anchor &{name} before it"
            )
            raise self.refuse(problem, event.start_mark)
        value, size, height = self.anchors[name]
        self.count(size, event.start_mark)
        if len(self.stack) + height > self.limits.max_depth:
            raise self.refuse(_depth_message(self.limits), event.start_mark)
        if self.awaiting_key():
            self.set_key(value, event)
            return
        self.add(value, size, height, None, event.start_mark)

    def open(self, event: Any) -> None:
        if event.tag not in _ALLOWED_COLLECTION_TAGS:
            raise self.refuse(_refused_tag(event.tag), event.start_mark)
        if self.awaiting_key():
            raise self.refuse("a mapping key must be text, not a list or mapping", event.start_mark)
        self.count(1, event.start_mark)
        if len(self.stack) + 1 > self.limits.max_depth:
            raise self.refuse(_depth_message(self.limits), event.start_mark)
        value: Any = [] if isinstance(event, yaml.SequenceStartEvent) else {}
        frame = _Frame(value, self.raw_path(), event.anchor, self.nodes - 1, event.start_mark)
        self.stack.append(frame)

    def close(self, event: Any) -> None:
        frame = self.stack.pop()
        if frame.merges:
            self.merge(frame)
        size = self.nodes - frame.start_nodes
        self.add(frame.value, size, frame.height + 1, frame.anchor, frame.mark)

    def merge(self, frame: _Frame) -> None:
        """`<<: *base` or `<<: [*a, *b]`: keys written in the mapping win, then the first
        merged mapping's (YAML's merge key rule)."""
        for value, path in frame.merges:
            sources = value if isinstance(value, list) else [value]
            for source in sources:
                if not isinstance(source, dict):
                    raise InputRefused(
                        path, "a merge key (<<) takes a mapping or a list of mappings"
                    )
                for key, item in source.items():
                    frame.value.setdefault(key, item)

    def add(self, value: Any, size: int, height: int, anchor: str | None, mark: Any) -> None:
        if anchor:
            self.anchors[anchor] = (value, size, height)
        if not self.stack:
            self.result = value
            return
        top = self.stack[-1]
        top.height = max(top.height, height)
        if isinstance(top.value, list):
            top.value.append(value)
            return
        if top.key is _MERGE:
            top.merges.append((value, _join(top.path, "<<") or self.root))
        else:
            top.value[top.key] = value
        top.key = None


def read_yaml(
    text: str, limits: Limits = DEFAULT_LIMITS, prefix: str = "", root: str = FILE_PATH
) -> YamlDocument:
    """The value of one YAML document (None when empty), within `limits`.

    Paths in errors start with `prefix` (`run_config.ops.x`); problems with the document as
    a whole name `root`. Raises InputRefused.
    """
    _check_size(text, limits, root)
    loader = _YamlLoader(text)
    builder = _YamlBuilder(loader, limits, prefix, root)
    try:
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                break
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem):
            # libyaml's own limit (1,000 levels), met while it scans ahead of our count.
            raise builder.refuse(_depth_message(limits), exc.problem_mark, root) from None
        raise InputRefused(root, _yaml_message(exc)) from None
    except yaml.YAMLError as exc:  # e.g. a reader error from the pure-Python loader
        raise InputRefused(root, "invalid YAML: " + " ".join(str(exc).split())) from None
    finally:
        loader.dispose()
    return YamlDocument(builder.result, tuple(builder.duplicates))


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    if exc.context and exc.problem:
        problem = f"{exc.context}: {exc.problem}"
    problem = " ".join(str(problem).split())
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


# --- JSON ---------------------------------------------------------------------------------

# Strings (skipped whole, so brackets inside them do not count), object keys, and the
# structural characters.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?|[\[\]{},]', re.DOTALL)


class _Unrepresentable:
    """A JSON number Python reads but no column can hold: kept to be refused with its path."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem


def _json_int(text: str) -> Any:
    try:
        return parse_integer(text)
    except ValueError as exc:
        return _Unrepresentable(text, str(exc))


def _json_constant(text: str) -> Any:
    return _Unrepresentable(text, f"{text} is not a finite number: JSON has no infinity or NaN")


def _json_values_problem(text: str, limits: Limits) -> bool:
    """Whether `text` holds more values than allowed, counted without parsing it: every
    value but the first follows a comma or opens a container."""
    upper = text.count(",") + text.count("[") + text.count("{") + 1
    if upper <= limits.max_nodes:
        return False
    count = 1
    for match in _JSON_TOKENS.finditer(text):
        if match.group() in ",[{":
            count += 1
    return count > limits.max_nodes


def _json_depth_path(text: str, limits: Limits, prefix: str, root: str) -> str | None:
    """The path where `text` first nests deeper than allowed, found without parsing it
    (the `json` module recurses once per level and would run out of stack first)."""
    if text.count("[") + text.count("{") <= limits.max_depth:
        return None
    stack: list[list[Any]] = []  # [container kind, key or index]
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            if len(stack) >= limits.max_depth:
                return _json_path(stack, prefix, root)
            stack.append([token, None if token == "{" else 0])
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif match.group(1) and stack:  # an object key
            try:
                stack[-1][1] = json.loads(token[: token.rindex('"') + 1])
            except ValueError:
                stack[-1][1] = "?"
    return None


def _json_path(stack: list[list[Any]], prefix: str, root: str) -> str:
    path = prefix
    for kind, where in stack:
        if kind == "[":
            path = f"{path}[{where}]" if path else f"[{where}]"
        elif where is not None:
            path = _join(path, str(where))
    return path or root


def read_json(
    text: str | bytes, limits: Limits = DEFAULT_LIMITS, prefix: str = "", root: str = "body"
) -> Any:
    """The value of a JSON text, within `limits` and JSON's own types (no NaN, no infinity,
    integers within 64 bits). Raises InputRefused naming the path and the rule."""
    _check_size(text, limits, root)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputRefused(root, f"not UTF-8 text (byte {exc.start})") from None
    deep = _json_depth_path(text, limits, prefix, root)
    if deep is not None:
        raise InputRefused(deep, _depth_message(limits))
    if _json_values_problem(text, limits):
        raise InputRefused(root, _nodes_message(limits))
    try:
        value = json.loads(text, parse_int=_json_int, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise InputRefused(
            root, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:  # cannot happen below the depth limit; kept as a last resort
        raise InputRefused(root, _depth_message(limits)) from None
    check_value(value, limits, prefix, root)
    return value


# --- values already built -----------------------------------------------------------------


def _kind(value: Any) -> str:
    return type(value).__name__


def check_value(
    value: Any, limits: Limits = DEFAULT_LIMITS, prefix: str = "", root: str = "body"
) -> None:
    """Refuse a built value that a document read here could not have produced: too deep,
    too many values, or not JSON's types. Walks with its own stack (no recursion)."""
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(value, prefix, 1)]
    while stack:
        item, path, depth = stack.pop()
        where = path or root
        nodes += 1
        if nodes > limits.max_nodes:
            raise InputRefused(where, _nodes_message(limits))
        if isinstance(item, Mapping):
            if depth > limits.max_depth:
                raise InputRefused(where, _depth_message(limits))
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InputRefused(where, f"a mapping key must be text, got {_kind(key)}")
                problem = text_problem(key)
                if problem:
                    raise InputRefused(_join(path, key), f"the key {problem}")
                stack.append((child, _join(path, key), depth + 1))
        elif isinstance(item, list | tuple):
            if depth > limits.max_depth:
                raise InputRefused(where, _depth_message(limits))
            for index, child in enumerate(item):
                stack.append((child, f"{path}[{index}]", depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise InputRefused(where, f"the text {problem}")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise InputRefused(where, "an integer outside the 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InputRefused(
                    where, f"{item} is not a finite number: JSON has no infinity or NaN"
                )
        elif isinstance(item, _Unrepresentable):
            raise InputRefused(where, item.problem)
        else:
            raise InputRefused(where, f"{_kind(item)} is not accepted: {JSON_TYPES_RULE}")
