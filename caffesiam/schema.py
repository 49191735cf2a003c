"""The declared shape of each file caffesiam writes and later reads back, checked on read.

A `Schema` is a JSON object's `Field`s, each with a `Value`: its kind, bounds and choices, and
what a list or an object holds. `check` holds decoded JSON to a schema (pure); `read_json_file`
reads a file by files.read_file's rules (a regular file, bounded, UTF-8), decodes it and checks
it. Every failure is the schema's BadInput: one line naming the file, the field and what was
expected.
"""

import copy
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from caffesiam.errors import BadInput
from caffesiam.files import read_file
from caffesiam.limits import STATE_BYTES, STATE_DEPTH

_KIND_WORDS = {
    "int": "an integer",
    "number": "a finite number",
    "text": "text",
    "bool": "true or false",
    "list": "a list",
    "object": "an object",
    "any": "any JSON value",
}
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SHOWN = 60  # characters of a bad value that a message quotes


@dataclass(frozen=True)
class Value:
    """What a JSON value may be.

    kind: int, number (finite), text (valid Unicode, no NUL), bool, list, object or any.
    low, high: the bounds of a number, or of a list's length. choices: the values text may take.
    null: null is allowed too. items: what a list holds, or an object's undeclared keys.
    fields: an object's declared fields. pattern: what text must match, `hint` saying it in words.
    rule: a last check of a value of the right kind: why it is wrong, or None.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    null: bool = False
    items: "Value | None" = None
    fields: tuple["Field", ...] = ()
    pattern: re.Pattern | None = None
    hint: str = ""
    rule: Callable[[object], str | None] | None = None

    def __post_init__(self):
        if self.kind not in _KIND_WORDS:
            raise ValueError(f"kind must be one of {', '.join(_KIND_WORDS)}, got {self.kind!r}")

    def describe(self) -> str:
        """What the value must be, in words: 'an integer in [1, 10] or null'."""
        if self.kind == "text" and self.choices:
            said = "one of " + ", ".join(json.dumps(c) for c in self.choices)
        elif self.kind == "text" and self.hint:
            said = f"text ({self.hint})"
        elif self.kind == "list" and self.low:
            said = f"a list of at least {_number_text(self.low)} item(s)"
        elif self.kind in ("int", "number"):
            said = _KIND_WORDS[self.kind] + _range_text(self.low, self.high)
        else:
            said = _KIND_WORDS[self.kind]
        return said + (" or null" if self.null else "")


@dataclass(frozen=True)
class Field:
    """One key of an object: its value, whether it must be there, and what a missing one becomes
    (None: it stays missing)."""

    name: str
    value: Value
    required: bool = True
    default: object = None


@dataclass(frozen=True)
class Schema:
    """A file that holds one JSON object: `what` names such a file in messages, `error` is raised
    for a bad one."""

    what: str
    fields: tuple[Field, ...]
    error: type[BadInput] = BadInput


def integer(low=None, high=None, **more) -> Value:
    return Value("int", low, high, **more)


def number(low=None, high=None, **more) -> Value:
    return Value("number", low, high, **more)


def text(*choices: str, **more) -> Value:
    return Value("text", choices=choices, **more)


def boolean(**more) -> Value:
    return Value("bool", **more)


def list_of(items: Value, low=None, high=None, **more) -> Value:
    return Value("list", low, high, items=items, **more)


def obj(*fields: Field, items: Value | None = None, **more) -> Value:
    return Value("object", fields=fields, items=items, **more)


ANY = Value("any")


def _number_text(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(low, high) -> str:
    if low is not None and high is not None:
        return f" in [{_number_text(low)}, {_number_text(high)}]"
    if low is not None:
        return f" >= {_number_text(low)}"
    if high is not None:
        return f" <= {_number_text(high)}"
    return ""


def _shown(value) -> str:
    """A bad value as a message quotes it: JSON, on one line, at most _SHOWN characters."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    try:
        said = json.dumps(value)
    except ValueError:  # an integer past Python's digit limit for str()
        return "a very long integer"
    return said if len(said) <= _SHOWN else said[: _SHOWN - 3] + "..."


def _json_kind(value) -> str:
    """What a decoded JSON value is, in JSON's words."""
    for kind, name in (
        (bool, "true or false"),
        (dict, "a JSON object"),
        (list, "a JSON list"),
        (str, "a JSON string"),
        (int, "a number"),
        (float, "a number"),
    ):
        if isinstance(value, kind):
            return name
    return "null"


def _is_text(value) -> bool:
    if type(value) is not str or "\0" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"), which JSON can spell
        return False
    return True


_IS_KIND = {
    "int": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or (type(v) is float and math.isfinite(v)),
    "text": _is_text,
    "bool": lambda v: type(v) is bool,
    "list": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
    "any": lambda v: True,
}


def _within(x, low, high) -> bool:
    return (low is None or x >= low) and (high is None or x <= high)


def _key_path(path: str, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_shown(key)}]"


class _Checker:
    """Holds one decoded document to a schema; `fail` raises the schema's error for `source`."""

    def __init__(self, source: str, error: type[BadInput]):
        self.source, self.error = source, error

    def fail(self, path: str, why: str):
        raise self.error(f"{self.source}: {path} {why}")

    def value(self, value, spec: Value, path: str):
        if value is None and spec.null:
            return None
        if not _IS_KIND[spec.kind](value) or not self._fits(value, spec):
            self.fail(path, f"is {_shown(value)}, expected {spec.describe()}")
        if spec.kind == "list" and spec.items is not None:
            value = [self.value(v, spec.items, f"{path}[{k}]") for k, v in enumerate(value)]
        elif spec.kind == "object":
            value = self.object(value, spec, path)
        why = spec.rule(value) if spec.rule else None
        if why:
            self.fail(path, why)
        return value

    @staticmethod
    def _fits(value, spec: Value) -> bool:
        if spec.kind in ("int", "number"):
            return _within(value, spec.low, spec.high)
        if spec.kind == "list":
            return _within(len(value), spec.low, spec.high)
        if spec.kind == "text":
            return (not spec.choices or value in spec.choices) and (
                spec.pattern is None or spec.pattern.fullmatch(value) is not None
            )
        return True

    def object(self, value: dict, spec: Value, path: str) -> dict:
        checked = dict(value)
        for f in spec.fields:
            where = _key_path(path, f.name)
            if f.name in value:
                checked[f.name] = self.value(value[f.name], f.value, where)
            elif f.required:
                self.fail(where, f"is missing (expected {f.value.describe()})")
            elif f.default is not None:
                checked[f.name] = copy.deepcopy(f.default)
        if spec.items is not None:
            declared = {f.name for f in spec.fields}
            for key in value.keys() - declared:
                checked[key] = self.value(value[key], spec.items, _key_path(path, key))
        return checked


def check(document, schema: Schema, source: str, error: type[BadInput] | None = None) -> dict:
    """`document` (decoded JSON) when it has `schema`'s shape, with the defaults of missing
    fields filled in; otherwise `error` (the schema's) naming `source`, the field and what was
    expected."""
    error = error or schema.error
    if type(document) is not dict:
        raise error(f"{source}: is {_json_kind(document)}, expected a JSON object ({schema.what})")
    return _Checker(source, error).object(document, obj(*schema.fields), "")


def _nested_past(value, depth: int) -> bool:
    """Whether lists and objects in `value` nest more than `depth` deep."""
    stack = [(value, 1)]
    while stack:
        value, level = stack.pop()
        if type(value) in (dict, list):
            if level > depth:
                return True
            stack.extend(
                (item, level + 1) for item in (value.values() if type(value) is dict else value)
            )
    return False


def _bracket_depth(text: str) -> int:
    """The deepest nesting of [ and { in `text`, strings left out (for text that is not JSON)."""
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", re.sub(r'"(?:[^"\\]|\\.)*"', "", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def decode_json(text: str, source, error: type[BadInput]):
    """The JSON value `text` holds; `error` naming `source` when it holds none, or one nested
    deeper than STATE_DEPTH."""
    deep = error(f"{source}: JSON nested deeper than {STATE_DEPTH} levels")
    try:
        value = json.loads(text)
    except RecursionError:
        raise deep from None
    except ValueError as e:
        # Python 3.13's parser reads far deeper before it fails: say what is wrong the same way
        if _bracket_depth(text) > STATE_DEPTH:
            raise deep from None
        raise error(f"{source}: not JSON ({e})") from None
    if _nested_past(value, STATE_DEPTH):
        raise deep
    return value


def read_json_file(
    path, schema: Schema, error: type[BadInput] | None = None, optional: bool = False
) -> dict | None:
    """The JSON object in the file at `path`, checked against `schema` (see `check`); with
    `optional`, None when there is no such file. Unreadable bytes, text that is not UTF-8 or not
    JSON, a file that is too large or not a regular file: `error` (the schema's) naming it."""
    error = error or schema.error
    if optional and not os.path.lexists(path):
        return None
    text = read_file(path, error, schema.what, limit=STATE_BYTES)
    return check(decode_json(text, path, error), schema, str(path), error)
