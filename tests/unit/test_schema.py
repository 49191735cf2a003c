"""caffesiam.schema: declared shapes held to decoded JSON, and the one reader of the files
caffesiam wrote, in process."""

import re

import pytest

from caffesiam.errors import BadInput, SweepError
from caffesiam.schema import (
    ANY,
    Field,
    Schema,
    Value,
    check,
    integer,
    list_of,
    number,
    obj,
    read_json_file,
    text,
)

RECORD = Schema(
    "test record",
    (
        Field("name", text()),
        Field("count", integer(1, 10)),
        Field("ratio", number(0, 1, null=True), required=False),
        Field("mode", text("fast", "slow"), required=False, default="fast"),
        Field("ids", list_of(integer(0), low=1), required=False),
        Field("job", obj(Field("id", text(pattern=re.compile("[0-9]+"), hint="digits"))), False),
        Field("extra", obj(items=list_of(text())), required=False),
        Field("any", ANY, required=False),
    ),
    SweepError,
)


def test_a_sound_record_comes_back_with_its_defaults():
    record = {"name": "a", "count": 3, "ids": [0, 4], "job": {"id": "12"}, "other": [1]}
    assert check(record, RECORD, "r.json") == {**record, "mode": "fast"}
    assert record.get("mode") is None  # the record given is left as it was


@pytest.mark.parametrize(
    "record, message",
    [
        ([1], "r.json: is a JSON list, expected a JSON object (test record)"),
        ("x", "r.json: is a JSON string, expected a JSON object (test record)"),
        ({"count": 1}, "r.json: name is missing (expected text)"),
        ({"name": 1, "count": 1}, "r.json: name is 1, expected text"),
        ({"name": "a\0", "count": 1}, 'r.json: name is "a\\u0000", expected text'),
        ({"name": "\ud800", "count": 1}, 'r.json: name is "\\ud800", expected text'),
        ({"name": "a", "count": True}, "r.json: count is true, expected an integer in [1, 10]"),
        ({"name": "a", "count": 2.0}, "r.json: count is 2.0, expected an integer in [1, 10]"),
        ({"name": "a", "count": 11}, "r.json: count is 11, expected an integer in [1, 10]"),
        ({"name": "a", "count": 1, "ratio": float("nan")}, "ratio is NaN, expected a finite"),
        ({"name": "a", "count": 1, "ratio": 2}, "in [0, 1] or null"),
        ({"name": "a", "count": 1, "mode": "slowly"}, 'expected one of "fast", "slow"'),
        ({"name": "a", "count": 1, "ids": []}, "ids is a list, expected a list of at least 1"),
        ({"name": "a", "count": 1, "ids": [0, -1]}, "ids[1] is -1, expected an integer >= 0"),
        ({"name": "a", "count": 1, "job": {"id": "1a"}}, 'job.id is "1a", expected text (digits)'),
        ({"name": "a", "count": 1, "job": {}}, "job.id is missing (expected text (digits))"),
        ({"name": "a", "count": 1, "extra": {"k k": [2]}}, 'extra["k k"][0] is 2, expected'),
        ({"name": "a" * 100, "count": 0}, "count is 0"),
        ({"name": "a", "count": 10**400}, "count is 1000000000000000000000000000000000000000000"),
    ],
)
def test_a_bad_record_is_one_line_naming_the_field_and_what_was_expected(record, message):
    with pytest.raises(SweepError) as caught:
        check(record, RECORD, "r.json")
    said = str(caught.value)
    assert message in said and "\n" not in said and len(said) < 200


def test_a_rule_says_why_a_value_of_the_right_kind_is_wrong():
    even = Schema("even", (Field("n", integer(rule=lambda n: "is odd" if n % 2 else None)),))
    assert check({"n": 2}, even, "e.json") == {"n": 2}
    with pytest.raises(BadInput, match=r"^e\.json: n is odd$"):
        check({"n": 3}, even, "e.json")


def test_an_unknown_kind_is_a_mistake_in_the_schema():
    with pytest.raises(ValueError, match="kind must be one of"):
        Value("float")


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x89PNG\r\n\x1a\n\0\0", ":3: a NUL byte"),
        (b'{"name": "caf\xe9"}', ":1: byte 0xe9 is not UTF-8"),
        (b"{", "not JSON (Expecting property name"),
        (b"[" * 100_000, "JSON nested deeper than 64 levels"),
        (b'{"any": ' + b"[" * 64 + b"{}" + b"]" * 64 + b"}", "JSON nested deeper than 64 levels"),
        (b'{"name": "a", "count": 1' + b"9" * 5000 + b"}", "not JSON (Exceeds the limit"),
        (b"", "not JSON"),
    ],
)
def test_read_json_file_refuses_what_is_not_json(tmp_path, data, words):
    path = tmp_path / "r.json"
    path.write_bytes(data)
    with pytest.raises(SweepError) as caught:
        read_json_file(path, RECORD)
    assert str(caught.value).startswith(str(path)) and words in str(caught.value)


def test_json_nested_as_deep_as_allowed_is_read(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"name": "a", "count": 1, "any": ' + "[" * 63 + "]" * 63 + "}")
    assert read_json_file(path, RECORD)["name"] == "a"


def test_read_json_file_reads_only_a_small_regular_file(tmp_path, monkeypatch):
    import caffesiam.schema

    assert read_json_file(tmp_path / "none.json", RECORD, optional=True) is None
    with pytest.raises(SweepError, match="no such test record"):
        read_json_file(tmp_path / "none.json", RECORD)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(SweepError, match="is a directory, not a test record"):
        read_json_file(tmp_path / "dir.json", RECORD, optional=True)
    monkeypatch.setattr(caffesiam.schema, "STATE_BYTES", 10)
    (tmp_path / "big.json").write_text('{"name": "a", "count": 1}')
    with pytest.raises(BadInput, match="larger than 10 B"):
        read_json_file(tmp_path / "big.json", RECORD, BadInput)
