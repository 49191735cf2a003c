"""spec.yamlload: YAML with the line of every key, and every failure a SpecError with its line."""

import pytest

from caffesiam.errors import SpecError
from caffesiam.limits import YAML_DEPTH
from caffesiam.spec.pbdict import LineDict
from caffesiam.spec.yamlload import load_yaml

TEXT = """\
name: lenet
# a comment
data:
  batch_size: 64

  channels: 1
tower:
  - {name: conv1, type: Convolution}
"""


def test_mappings_remember_their_own_line_and_each_keys():
    doc = load_yaml(TEXT, "spec.yaml")
    assert doc == {
        "name": "lenet",
        "data": {"batch_size": 64, "channels": 1},
        "tower": [{"name": "conv1", "type": "Convolution"}],
    }
    assert isinstance(doc, LineDict) and isinstance(doc["tower"][0], LineDict)
    assert (doc.line, doc.lines) == (1, {"name": 1, "data": 3, "tower": 7})
    assert (doc["data"].line, doc["data"].lines) == (4, {"batch_size": 4, "channels": 6})
    assert doc["tower"][0].lines == {"name": 8, "type": 8}


def test_a_syntax_error_names_the_line():
    with pytest.raises(SpecError, match=r"^spec\.yaml:3: invalid YAML: "):
        load_yaml("a: 1\nb: [2\nc: 3\n", "spec.yaml")


def test_nesting_deeper_than_the_limit_is_refused_before_python_recurses():
    assert load_yaml("[" * YAML_DEPTH + "]" * YAML_DEPTH, "ok.yaml") is not None
    deep = "[" * (YAML_DEPTH + 1) + "]" * (YAML_DEPTH + 1)
    with pytest.raises(SpecError, match=f"nested more than {YAML_DEPTH} levels deep"):
        load_yaml(deep, "deep.yaml")
    with pytest.raises(SpecError, match="nested more than"):
        load_yaml("[" * 60_000, "deeper.yaml")


def test_a_value_yaml_itself_rejects_is_a_spec_error():
    with pytest.raises(SpecError, match=r"^dates\.yaml: invalid YAML value: "):
        load_yaml("when: 2020-02-31\n", "dates.yaml")
