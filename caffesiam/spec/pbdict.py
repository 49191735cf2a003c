"""Plain dicts (from YAML) into protobuf messages, with errors that name the field and YAML line.

Field names and types come from the message descriptors, so every Caffe layer and field works
without code per layer type. A scalar given for a repeated field (kernel_size: 5) is taken as a
one-element list, as prototxt text allows.

Every value visited counts against a budget (limits.SPEC_VALUES), because YAML aliases let a few
hundred bytes name billions of values.
"""

import math
import reprlib

from google.protobuf.descriptor import FieldDescriptor as FD
from google.protobuf.message import Message

from caffesiam.errors import SpecError
from caffesiam.limits import SPEC_VALUES

# Field type -> (name, lowest, highest): YAML integers have no bounds, Caffe's fields do.
_INT_RANGES = {
    **dict.fromkeys(
        (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), ("int32", -(2**31), 2**31 - 1)
    ),
    **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), ("uint32", 0, 2**32 - 1)),
    **dict.fromkeys(
        (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), ("int64", -(2**63), 2**63 - 1)
    ),
    **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), ("uint64", 0, 2**64 - 1)),
}
_FLOAT_MAX = {FD.TYPE_FLOAT: 3.4028234663852886e38, FD.TYPE_DOUBLE: 1.7976931348623157e308}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_within(low: int, high: int):
    return lambda v: _is_int(v) and low <= v <= high


def _finite_within(top: float):
    """A YAML int or float that is finite (not .inf or .nan) and within the field's range."""
    return lambda v: (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and not (isinstance(v, float) and not math.isfinite(v))
        and abs(v) <= top
    )


def is_utf8_text(text: str) -> bool:
    """True when `text` can be stored in a protobuf string (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # YAML escapes such as "\ud800"
        return False
    return True


# Field type -> (is the YAML value acceptable, how it becomes the field's value, what was expected)
_SCALARS = {
    FD.TYPE_BOOL: (lambda v: isinstance(v, bool), bool, "true or false"),
    FD.TYPE_STRING: (
        lambda v: isinstance(v, str) and is_utf8_text(v),
        str,
        "a string of valid Unicode",
    ),
    FD.TYPE_FLOAT: (
        _finite_within(_FLOAT_MAX[FD.TYPE_FLOAT]),
        float,
        "a finite number within float range",
    ),
    FD.TYPE_DOUBLE: (_finite_within(_FLOAT_MAX[FD.TYPE_DOUBLE]), float, "a finite number"),
    **{
        kind: (_int_within(low, high), int, f"an integer from {low} to {high} ({name})")
        for kind, (name, low, high) in _INT_RANGES.items()
    },
}


class LineDict(dict):
    """A dict that remembers the YAML line of each key (set by spec.yamlload's loader)."""

    lines: dict = {}
    line: int = 0


def line_of(mapping, key=None) -> int:
    """YAML line of `key` in `mapping` (or of the mapping itself); 0 when unknown."""
    if isinstance(mapping, LineDict):
        return mapping.lines.get(key, mapping.line) if key is not None else mapping.line
    return 0


def first_unknown(mapping, allowed):
    """The first key of `mapping` not in `allowed`, or None."""
    return next((key for key in mapping if key not in allowed), None)


def _fail(where: str, line: int, message: str, source: str):
    prefix = f"{source}:{line}: " if line else (f"{source}: " if source else "")
    raise SpecError(f"{prefix}{where}: {message}")


class ValueBudget:
    """How many more values a spec may hold; one budget is shared by every call for one spec."""

    def __init__(self, limit: int = SPEC_VALUES):
        self.left = limit
        self.limit = limit

    def spend(self, where: str, line: int, source: str):
        self.left -= 1
        if self.left < 0:
            _fail(
                where,
                line,
                f"the spec expands to more than {self.limit:,} values (YAML aliases "
                f"used over and over?)",
                source,
            )


def fill_message(
    data, message: Message, where: str, source: str = "", budget: ValueBudget = None
) -> Message:
    """Set the fields of `message` from `data` (a mapping); returns `message`."""
    budget = budget or ValueBudget()
    budget.spend(where, line_of(data), source)
    if not isinstance(data, dict):
        _fail(
            where,
            line_of(data),
            f"expected a mapping of {message.DESCRIPTOR.name} fields, got {type(data).__name__}",
            source,
        )
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        line = line_of(data, key)
        field = fields.get(key)
        if field is None:
            _fail(
                f"{where}.{key}",
                line,
                f"unknown field '{key}' for {message.DESCRIPTOR.name}",
                source,
            )
        path = f"{where}.{key}"
        if field.label == FD.LABEL_REPEATED:
            items = value if isinstance(value, list) else [value]
            target = getattr(message, key)
            for i, item in enumerate(items):
                if field.type == FD.TYPE_MESSAGE:
                    fill_message(item, target.add(), f"{path}[{i}]", source, budget)
                else:
                    budget.spend(path, line, source)
                    target.append(_scalar(field, item, f"{path}[{i}]", line, source))
        elif field.type == FD.TYPE_MESSAGE:
            fill_message(value, getattr(message, key), path, source, budget)
        else:
            budget.spend(path, line, source)
            setattr(message, key, _scalar(field, value, path, line, source))
    return message


def _scalar(field, value, path: str, line: int, source: str):
    kind = field.type
    if kind == FD.TYPE_ENUM:
        names = field.enum_type.values_by_name
        if isinstance(value, str) and value.upper() in names:
            return names[value.upper()].number
        if _is_int(value) and value in field.enum_type.values_by_number:
            return value
        _fail(path, line, f"expected one of {', '.join(names)}, got {short_repr(value)}", source)
    if kind not in _SCALARS:
        _fail(path, line, f"unsupported field type for {short_repr(value)}", source)
    accepts, convert, expected = _SCALARS[kind]
    if not accepts(value):
        _fail(path, line, f"expected {expected}, got {short_repr(value)}", source)
    return convert(value)


def short_repr(value) -> str:
    """A value as the error shows it, bounded however much a YAML alias makes it hold."""
    return reprlib.repr(value)
