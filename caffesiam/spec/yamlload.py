"""YAML loading that keeps line numbers, so spec errors can point at the line.

Nesting is bounded while the document is composed (PyYAML's composer and constructor recurse,
so 60,000 brackets would end in a RecursionError).
"""

import yaml

from caffesiam.errors import SpecError
from caffesiam.limits import YAML_DEPTH
from caffesiam.spec.pbdict import LineDict


class _LineLoader(yaml.SafeLoader):
    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {YAML_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        mapping = LineDict(super().construct_mapping(node, deep=deep))
        mapping.line = node.start_mark.line + 1
        mapping.lines = {
            k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
        }
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node, deep=True),
)


def load_yaml(text: str, source: str):
    """Parse YAML text; a syntax error becomes a SpecError with the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(f"{where}: invalid YAML: {problem}") from e
    except ValueError as e:  # a value YAML's own types reject: 2020-02-31, an int of 5,000 digits
        raise SpecError(f"{source}: invalid YAML value: {e}") from e
