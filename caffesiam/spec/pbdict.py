"""Plain dicts (from YAML) into protobuf messages, with errors that name the field and YAML line.

Field names and types come from the message descriptors, so every Caffe layer and field works
without code per layer type. A scalar given for a repeated field (kernel_size: 5) is taken as a
one-element list, as prototxt text allows.
"""

from google.protobuf.descriptor import FieldDescriptor as FD
from google.protobuf.message import Message

from caffesiam.errors import SpecError

_INTS = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64,
         FD.TYPE_SINT32, FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64,
         FD.TYPE_SFIXED32, FD.TYPE_SFIXED64}
_UNSIGNED = {FD.TYPE_UINT32, FD.TYPE_UINT64}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Field type -> (is the YAML value acceptable, how it becomes the field's value, what was expected)
_SCALARS = {
    FD.TYPE_BOOL: (lambda v: isinstance(v, bool), bool, "true or false"),
    FD.TYPE_STRING: (lambda v: isinstance(v, str), str, "a string"),
    FD.TYPE_FLOAT: (_is_number, float, "a number"),
    FD.TYPE_DOUBLE: (_is_number, float, "a number"),
    **{kind: (_is_int, int, "an integer") for kind in _INTS},
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


def _fail(where: str, line: int, message: str, source: str):
    prefix = f"{source}:{line}: " if line else (f"{source}: " if source else "")
    raise SpecError(f"{prefix}{where}: {message}")


def fill_message(data, message: Message, where: str, source: str = "") -> Message:
    """Set the fields of `message` from `data` (a mapping); returns `message`."""
    if not isinstance(data, dict):
        _fail(where, line_of(data), f"expected a mapping of {message.DESCRIPTOR.name} fields, "
              f"got {type(data).__name__}", source)
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        line = line_of(data, key)
        field = fields.get(key)
        if field is None:
            _fail(f"{where}.{key}", line,
                  f"unknown field '{key}' for {message.DESCRIPTOR.name}", source)
        path = f"{where}.{key}"
        if field.label == FD.LABEL_REPEATED:
            items = value if isinstance(value, list) else [value]
            target = getattr(message, key)
            for i, item in enumerate(items):
                if field.type == FD.TYPE_MESSAGE:
                    fill_message(item, target.add(), f"{path}[{i}]", source)
                else:
                    target.append(_scalar(field, item, f"{path}[{i}]", line, source))
        elif field.type == FD.TYPE_MESSAGE:
            fill_message(value, getattr(message, key), path, source)
        else:
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
        _fail(path, line, f"expected one of {', '.join(names)}, got {value!r}", source)
    if kind not in _SCALARS:
        _fail(path, line, f"unsupported field type for {value!r}", source)
    accepts, convert, expected = _SCALARS[kind]
    if not accepts(value):
        _fail(path, line, f"expected {expected}, got {value!r}", source)
    if kind in _UNSIGNED and value < 0:
        _fail(path, line, f"must not be negative, got {value}", source)
    return convert(value)
