"""The layout's rules, read from the source with ast (every import, at the top or in a function):
each package imports only from the layers below its own; the pure core never reaches click,
pycaffe, subprocess or a database module, not even through another caffesiam module; and each of
those is imported in its one place only."""

import ast
from pathlib import Path

import pytest
from conftest import REPO

# The layers, lowest first: the top-level modules and packages of caffesiam, each of which may
# import only from the layers below its own (and within itself). Packages that share a layer are
# independent: neither imports the other. A name may be listed before its package exists.
LAYERS = [
    ["__init__"],  # the package itself (its version); importing any caffesiam module runs it
    ["errors"],
    ["limits"],
    ["files"],
    ["schema"],  # the declared shapes of the files caffesiam reads back, and their one reader
    ["caffe"],
    ["data"],
    ["spec"],
    ["net"],
    ["evaluate"],
    ["deploy"],  # an exported tower runs through evaluate's preprocessing and batching
    ["draw", "charts"],
    ["train"],
    ["sweep"],
    ["commands"],
    ["cli"],
    ["__main__"],
]

PURE = [  # a name covers the package's modules, or is one module
    "caffesiam.spec",
    "caffesiam.net",
    "caffesiam.data.pairs",
    "caffesiam.data.mining",
    "caffesiam.data.augment",
    "caffesiam.data.classes",
    "caffesiam.data.datum",
    "caffesiam.data.backends",
    "caffesiam.data.manifest",
    "caffesiam.charts.pca",
    "caffesiam.train.log",
    "caffesiam.train.metrics_csv",
    "caffesiam.train.plan",
    "caffesiam.evaluate.metrics",
    "caffesiam.evaluate.retrieval",
    "caffesiam.draw.structure",
    "caffesiam.draw.labels",
    "caffesiam.draw.graph",
    "caffesiam.sweep.expand",
]
FORBIDDEN_IN_PURE = {"click", "caffe", "subprocess", "plyvel", "lmdb"}
ONLY_IN = {  # external module -> the caffesiam modules (or packages) that may import it directly
    "subprocess": ["caffesiam.caffe.runner"],
    "caffe": ["caffesiam.evaluate.features", "caffesiam.caffe.shapes", "caffesiam.caffe.doctor"],
    "plyvel": ["caffesiam.data.store", "caffesiam.caffe.doctor"],
    "lmdb": ["caffesiam.data.store", "caffesiam.caffe.doctor"],
    "click": ["caffesiam.cli", "caffesiam.commands"],
    "onnxruntime": ["caffesiam.deploy.runtime"],
}


class ImportGraph:
    """Every module of a package and what each imports: other modules of it, and external names."""

    def __init__(self, root: Path):
        self.package = root.name
        self.files = {self._name(p, root): p for p in sorted(root.rglob("*.py"))}
        self.internal: dict[str, set[str]] = {}
        self.external: dict[str, set[str]] = {}
        for name, path in self.files.items():
            self.internal[name], self.external[name] = self._imports(name, path)

    def _name(self, path: Path, root: Path) -> str:
        parts = [self.package, *path.relative_to(root).with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def _imports(self, name: str, path: Path):
        internal, external = set(), set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package up `level - 1` steps
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                # `from pkg import mod` imports the module pkg.mod;
                # `from mod import name` imports mod
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in self.files else base
                    for a in node.names
                ]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == self.package:
                    parts = target.split(".")  # importing a.b.c runs a and a.b first
                    internal |= {
                        ".".join(parts[:k])
                        for k in range(1, len(parts) + 1)
                        if ".".join(parts[:k]) in self.files
                    }
                else:
                    external.add(target.split(".")[0])
        internal.discard(name)
        return internal, external

    def modules_under(self, name: str) -> list[str]:
        return [m for m in self.files if m == name or m.startswith(name + ".")]

    def reach(self, start: str, forbidden: set[str]) -> str | None:
        """The first import chain from `start` to a forbidden external module, or None."""
        chains, seen = [[start]], {start}
        while chains:
            chain = chains.pop(0)
            hit = sorted(self.external[chain[-1]] & forbidden)
            if hit:
                return " -> ".join(chain) + f" imports {hit[0]}"
            for nxt in sorted(self.internal[chain[-1]] - seen):
                seen.add(nxt)
                chains.append(chain + [nxt])
        return None


def part_of(module: str) -> str:
    """The top-level module or package of caffesiam that `module` belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_violations(graph: ImportGraph, layers: list[list[str]]) -> list[str]:
    """Every import that runs sideways or up the layers, and every module that has no layer."""
    level = {part: k for k, parts in enumerate(layers) for part in parts}
    unlisted = sorted(m for m in graph.files if part_of(m) not in level)
    edges = [
        f"{module} imports {target} ({part_of(module)} may not import {part_of(target)})"
        for module in graph.files
        if part_of(module) in level
        for target in sorted(graph.internal[module])
        if part_of(target) != part_of(module)
        and level.get(part_of(target), len(layers)) >= level[part_of(module)]
    ]
    return [f"{module} has no layer" for module in unlisted] + edges


def pure_violations(graph: ImportGraph, pure: list[str], forbidden: set[str]) -> list[str]:
    return [
        why
        for root in pure
        for module in graph.modules_under(root)
        if (why := graph.reach(module, forbidden))
    ]


def placement_violations(graph: ImportGraph, only_in: dict[str, list[str]]) -> list[str]:
    return [
        f"{module} imports {external} (only {', '.join(homes)} may)"
        for external, homes in only_in.items()
        for module, names in graph.external.items()
        if external in names and not any(module == h or module.startswith(h + ".") for h in homes)
    ]


@pytest.fixture(scope="module")
def graph():
    return ImportGraph(REPO / "caffesiam")


def test_every_pure_name_is_a_module_of_the_package(graph):
    assert all(graph.modules_under(name) for name in PURE)
    assert all(graph.modules_under(home) for homes in ONLY_IN.values() for home in homes)


def test_every_layer_imports_only_from_the_layers_below_it(graph):
    assert layer_violations(graph, LAYERS) == []


def test_the_layer_check_catches_imports_up_and_sideways_and_unlisted_packages(tmp_path):
    """The layer check on a small package with one import of each kind."""
    root = tmp_path / "pkg"
    for folder in ("low", "high", "left", "right"):
        (root / folder).mkdir(parents=True)
    files = {
        "__init__.py": "",
        "base.py": "",
        "low/__init__.py": "",
        "low/a.py": "from pkg.low import b\nfrom pkg import base\n",  # within and down: allowed
        "low/b.py": "def late():\n    from pkg.high import c\n",  # up, inside a function
        "high/__init__.py": "",
        "high/c.py": "from pkg.low.a import *\nimport pkg.base\n",  # down: allowed
        "left/__init__.py": "",
        "left/d.py": "from ..right import e\n",  # sideways, relative
        "right/__init__.py": "",
        "right/e.py": "",
        "stray.py": "from pkg import base\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    toy = ImportGraph(root)
    layers = [["__init__"], ["base"], ["low"], ["left", "right", "absent"], ["high"]]
    assert layer_violations(toy, layers) == [
        "pkg.stray has no layer",
        "pkg.left.d imports pkg.right (left may not import right)",
        "pkg.left.d imports pkg.right.e (left may not import right)",
        "pkg.low.b imports pkg.high (low may not import high)",
        "pkg.low.b imports pkg.high.c (low may not import high)",
    ]


def test_the_pure_core_never_reaches_click_pycaffe_subprocess_or_a_database(graph):
    assert pure_violations(graph, PURE, FORBIDDEN_IN_PURE) == []


def test_processes_pycaffe_databases_and_click_are_each_imported_in_their_place(graph):
    assert placement_violations(graph, ONLY_IN) == []


def test_the_checks_catch_direct_nested_and_transitive_imports(tmp_path):
    """The same checks on a small package that breaks every rule once."""
    root = tmp_path / "pkg"
    (root / "caffe").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "caffe/__init__.py": "",
        "caffe/runner.py": "import subprocess\n",
        # the subpackage, not pycaffe
        "clean.py": "from pkg import caffe\nfrom pkg.caffe import runner as r\n",
        "direct.py": "import click\n",
        "nested.py": "def read():\n    import plyvel.db\n    return plyvel\n",
        "helper.py": "from . import nested\n",
        "transitive.py": "from pkg import helper\n",
        "pycaffe_user.py": "from caffe import Net\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    toy = ImportGraph(root)
    pure = ["pkg.clean", "pkg.direct", "pkg.nested", "pkg.transitive", "pkg.pycaffe_user"]
    assert pure_violations(toy, pure, FORBIDDEN_IN_PURE) == [
        "pkg.clean -> pkg.caffe.runner imports subprocess",
        "pkg.direct imports click",
        "pkg.nested imports plyvel",
        "pkg.transitive -> pkg.helper -> pkg.nested imports plyvel",
        "pkg.pycaffe_user imports caffe",
    ]
    assert placement_violations(
        toy, {"subprocess": ["pkg.caffe.runner"], "plyvel": ["pkg.store"]}
    ) == ["pkg.nested imports plyvel (only pkg.store may)"]


def command_modules() -> set[str]:
    """The modules that define a command (caffesiam.commands.COMMANDS), the others being the
    option and output helpers that commands share."""
    from caffesiam.commands import COMMANDS

    return {f"caffesiam.commands.{target.split(':')[0]}" for target in COMMANDS.values()}


def test_no_command_module_imports_another(graph):
    commands = command_modules()
    assert commands <= set(graph.files)
    assert {
        module: sorted(graph.internal[module] & commands - {module}) for module in commands
    } == {module: [] for module in commands}


def test_every_command_module_is_under_150_lines():
    sizes = {
        path.name: len(path.read_text().splitlines())
        for path in (REPO / "caffesiam" / "commands").glob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n >= 150} == {}
