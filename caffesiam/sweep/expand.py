"""A sweep file's contents -> its points, each with its run directory's name and commands (pure).

A sweep file names a base tower spec, the databases, settings shared by every point, a `grid`
(every combination of its values) and/or a list of `points`, and how runs are evaluated:

    spec: templates/lenet_relu.yaml
    databases: {plain: {train: a_train_lmdb, test: a_test_lmdb}}
    settings: {backend: lmdb, max_iter: 5000, weight_decay: 0.0005}
    grid: {feature_size: [2, 16], loss: [contrastive, chopra2005], random_seed: [1, 2]}
    points: [{feature_size: 64, max_iter: 8000}]
    evaluate: {db: a_test_lmdb, seed: 0}

Override keys are the net and solver settings of net.options (gen-net's and gen-solver's
options in snake case), plus `spec` (another tower spec) and `database` (a name from
`databases`). Each point gets a Recipe, what makes its nets and solver, and its commands: the
same as `caffesiam` argv run in the point's directory, then its train and evaluate commands.
Paths are taken relative to the sweep file's directory, after ~ and $VARIABLES are expanded.
"""

import itertools
import math
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from caffesiam.errors import BadInput, SweepError
from caffesiam.files import plain_name, safe_name
from caffesiam.limits import SWEEP_POINTS
from caffesiam.net.options import DEPLOY, NET, SOLVER, Option, option_argv, option_value
from caffesiam.net.solver import SOLVER_DEFAULTS
from caffesiam.spec.pbdict import first_unknown, line_of
from caffesiam.sweep.layout import (
    DEPLOY_PROTOTXT,
    EVAL_JSON,
    NET_PROTOTXT,
    ROC_PNG,
    SNAPSHOT_PREFIX,
    SOLVER_PROTOTXT,
    TRAIN_DIR,
)

SPECIAL_KEYS = ("spec", "database")
OVERRIDE_KEYS = frozenset(NET) | frozenset(SOLVER) | frozenset(SPECIAL_KEYS)
_TOP_KEYS = ("name", "spec", "databases", "settings", "grid", "points", "evaluate")
_EVALUATE_KEYS = ("db", "seed")
_EVALUATE_SEED = Option("seed", int, low=0)  # as evaluate --seed takes it
GENERATE = ("gen-net", "gen-net --deploy", "gen-solver")  # the commands that make a point's files


@dataclass(frozen=True)
class Database:
    train: str
    test: str


@dataclass
class Point:
    """One run: its settings, the ones that tell it apart from the others, and its commands."""

    index: int
    name: str
    overrides: dict[str, object]  # the point's own grid or list values
    settings: dict[str, object]  # everything: shared settings with the overrides on top
    varying: dict[str, object]  # its overrides of keys whose values differ between points (labels)
    commands: dict[str, list[str]] = field(default_factory=dict)  # argv after `caffesiam`

    @property
    def max_iter(self) -> int:
        return int(self.settings.get("max_iter", SOLVER_DEFAULTS["max_iter"]))

    @property
    def final_weights(self) -> str:
        return f"{SNAPSHOT_PREFIX}_iter_{self.max_iter}.caffemodel"


@dataclass(frozen=True)
class Recipe:
    """What makes a point's files: its tower spec, pair databases, and net, deploy net and solver
    settings as net.generate takes them (checked values)."""

    spec: str
    train_source: str
    test_source: str
    net: dict[str, object]
    deploy: dict[str, object]
    solver: dict[str, object]


@dataclass
class Sweep:
    name: str
    source: str
    points: list[Point]
    keys: list[str]  # override keys in order of appearance (results.csv's columns)
    recipes: list[Recipe] = field(default_factory=list)  # by point index

    @property
    def database_paths(self) -> list[str]:
        """Every pair database its points read."""
        return databases_read(self.points)


def expand(doc, source: str, base_dir: str, train_options: Sequence[str] = ()) -> Sweep:
    """Every point of the sweep file `doc` (parsed YAML), named, with its recipe and commands.

    `train_options` are appended to every `train` command (what the engine decides: BLAS
    threads, docker, GPU). SweepError for anything a person must fix: unknown keys, a value an
    option does not take, an empty grid, a missing database.
    """
    if not isinstance(doc, dict):
        raise SweepError(
            f"{source}: a sweep file is a YAML mapping with spec, databases and a grid or points"
        )
    _no_unknown(doc, _TOP_KEYS, "unknown top-level key", source)
    name = _name(doc, source)
    spec = _path(_required(doc, "spec", str, source), base_dir, f"{source}: spec")
    databases = _databases(doc, source, base_dir)
    settings = dict(_mapping(doc, "settings", source))
    _no_unknown(settings, OVERRIDE_KEYS, "settings: unknown override key", source)
    _check_values(settings, "settings", source)
    overrides = _overrides(doc, OVERRIDE_KEYS, source)
    eval_db, eval_seed = _evaluate(doc, source, base_dir)

    order = list(dict.fromkeys(k for o in overrides for k in o))
    varying = [k for k in order if len({_label(o.get(k, settings.get(k))) for o in overrides}) > 1]
    width = len(str(len(overrides) - 1))
    points, recipes, seen = [], [], {}
    for index, own in enumerate(overrides):
        merged = {**settings, **own}
        max_iter = merged.get("max_iter", SOLVER_DEFAULTS["max_iter"])
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise SweepError(
                f"{source}: point {index} ({describe(own)}): max_iter must be a positive "
                f"integer, got {max_iter!r}"
            )
        if len(databases) == 1:
            merged.setdefault("database", next(iter(databases)))
        where = f"{source}: point {index} ({describe(own)})"
        if merged.get("database") not in databases:
            names = ", ".join(sorted(databases))
            raise SweepError(
                f"{where}: database must be one of {names}, got {merged.get('database')!r}"
                if "database" in merged
                else f"{where}: set database: (one of {names})"
            )
        identity = repr(sorted(merged.items()))
        if identity in seen:
            raise SweepError(f"{where}: the same settings as point {seen[identity]}")
        seen[identity] = index
        tell = {k: v for k, v in own.items() if k in varying}
        label = f"{index:0{width}d}" + "".join(f"_{k}-{_label(v)}" for k, v in tell.items())
        point = Point(index, plain_name(label), own, merged, tell)
        db = databases[merged["database"]]
        recipe = Recipe(
            _path(merged["spec"], base_dir, f"{where}: spec") if "spec" in merged else spec,
            db.train,
            db.test,
            _checked(merged, NET, where),
            _checked(merged, DEPLOY, where),
            _checked(merged, SOLVER, where),
        )
        point.commands = _commands(point, recipe, eval_db or db.test, eval_seed, train_options)
        points.append(point)
        recipes.append(recipe)
    return Sweep(name, source, points, order, recipes)


def databases_read(points: Sequence[Point]) -> list[str]:
    """The pair databases the points read (training, test and evaluation), as their commands
    name them."""
    read = set()
    for point in points:
        gen_net = point.commands["gen-net"]
        read |= {_after(gen_net, "--train-source"), _after(gen_net, "--test-source")}
        read.add(evaluate_db(point))
    return sorted(read)


def evaluate_db(point: Point) -> str:
    """The pair database the point is evaluated on."""
    return _after(point.commands["evaluate"], "--db")


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def train_command(train_options: Sequence[str]) -> list[str]:
    """A point's train command (run in its directory); the engine's options at the end."""
    return ["train", SOLVER_PROTOTXT, "--out", TRAIN_DIR, *train_options]


def plan_lines(sweep: Sweep, out) -> list[str]:
    """What `sweep run --dry-run` shows: each point's commands, as a person would type them."""
    lines = [f"sweep {sweep.name}: {len(sweep.points)} points into {out}"]
    for point in sweep.points:
        lines += ["", f"{point.name}:"]
        lines += [f"  {shlex.join(['caffesiam', *argv])}" for argv in point.commands.values()]
    return lines


def _checked(settings: dict, options: dict[str, Option], where: str) -> dict[str, object]:
    """The settings that `options` name, each as its flag would read it; SweepError otherwise."""
    checked = {}
    for key, value in settings.items():
        if key in options:
            try:
                checked[key] = option_value(options[key], value)
            except ValueError as e:
                raise SweepError(f"{where}: Invalid value for '{options[key].flag}': {e}") from e
    return checked


def _commands(
    point: Point, recipe: Recipe, eval_db: str, eval_seed: int, train_options
) -> dict[str, list[str]]:
    """The point's commands as `caffesiam` argv: the ones that make what `recipe` makes, then
    train and evaluate."""
    return {
        "gen-net": [
            "gen-net",
            recipe.spec,
            *option_argv(NET, recipe.net),
            "--train-source",
            recipe.train_source,
            "--test-source",
            recipe.test_source,
            "-o",
            NET_PROTOTXT,
        ],
        "gen-net --deploy": [
            "gen-net",
            recipe.spec,
            "--deploy",
            *option_argv(NET, recipe.deploy),
            "-o",
            DEPLOY_PROTOTXT,
        ],
        "gen-solver": [
            "gen-solver",
            NET_PROTOTXT,
            "--snapshot-prefix",
            SNAPSHOT_PREFIX,
            *option_argv(SOLVER, recipe.solver),
            "-o",
            SOLVER_PROTOTXT,
        ],
        "train": train_command(train_options),
        "evaluate": [
            "evaluate",
            "--model",
            DEPLOY_PROTOTXT,
            "--weights",
            point.final_weights,
            "--train-net",
            NET_PROTOTXT,
            "--db",
            eval_db,
            "--seed",
            str(eval_seed),
            "--json",
            EVAL_JSON,
            "--roc",
            ROC_PNG,
        ],
    }


def _overrides(doc, keys, source) -> list[dict]:
    """The grid's combinations, then the listed points; their number is checked before any
    combination is made."""
    if "grid" not in doc and "points" not in doc:
        raise SweepError(f"{source}: the sweep has no grid and no points")
    grid = _mapping(doc, "grid", source)
    if "grid" in doc:
        if not grid:
            raise SweepError(f"{source}:{line_of(doc, 'grid')}: the grid is empty")
        _no_unknown(grid, keys, "grid: unknown override key", source)
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SweepError(
                    f"{source}:{line_of(grid, key)}: grid key '{key}' needs a non-empty list "
                    f"of values, got {values!r}"
                )
    listed = doc.get("points", [])
    if not isinstance(listed, list) or ("points" in doc and not listed):
        raise SweepError(
            f"{source}:{line_of(doc, 'points')}: points must be a non-empty list of mappings"
        )
    _check_count([len(values) for values in grid.values()], len(listed), source)
    for key, values in grid.items():
        for value in values:
            _check_values({key: value}, "grid", source, line_of(grid, key))
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values()) if grid]
    for i, item in enumerate(listed):
        if not isinstance(item, dict):
            raise SweepError(
                f"{source}:{line_of(doc, 'points')}: points[{i}] must be a mapping of "
                f"override keys, got {item!r}"
            )
        _no_unknown(item, keys, f"points[{i}]: unknown override key", source)
        _check_values(item, f"points[{i}]", source)
        combos.append(dict(item))
    return combos


def _check_count(grid_sizes: list[int], listed: int, source):
    """SweepError for more than SWEEP_POINTS points: counted from the grid's value counts."""
    count = (math.prod(grid_sizes) if grid_sizes else 0) + listed
    if count > SWEEP_POINTS:
        parts = [" x ".join(map(str, grid_sizes)) + " in the grid"] if grid_sizes else []
        parts += [f"{listed} listed"] if listed else []
        raise SweepError(
            f"{source}: the sweep has {count:,} points ({' + '.join(parts)}); a sweep may have "
            f"at most {SWEEP_POINTS:,}"
        )


def _name(doc, source) -> str:
    """The sweep's name: `name:`, else the sweep file's name less its extension; a plain name."""
    if "name" in doc:
        name = doc["name"]
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise SweepError(f"{source}:{line_of(doc, 'name')}: name must be a string")
        try:
            return safe_name(str(name), "sweep name")
        except BadInput as e:
            raise SweepError(f"{source}:{line_of(doc, 'name')}: {e}") from e
    name = os.path.splitext(os.path.basename(source))[0]
    try:
        return safe_name(name, "sweep name")
    except BadInput as e:
        raise SweepError(f"{source}: {e}; set name: in the sweep file") from e


def _evaluate(doc, source, base_dir) -> tuple[str | None, int]:
    """The evaluate block's database (None: each point's test database) and seed, checked as
    evaluate's --db and --seed would read them."""
    evaluate = dict(_mapping(doc, "evaluate", source))
    _no_unknown(evaluate, _EVALUATE_KEYS, "unknown evaluate key", source)
    where = f"{source}:{line_of(doc, 'evaluate')}: evaluate"
    db = evaluate.get("db")
    if db is not None and not isinstance(db, str):
        raise SweepError(f"{where}: db must be a pair database path, got {db!r}")
    try:
        seed = option_value(_EVALUATE_SEED, evaluate.get("seed", 0))
    except ValueError as e:
        raise SweepError(f"{where}: seed: {e}") from e
    return (None if db is None else _path(db, base_dir, f"{where}: db")), seed


def _databases(doc, source, base_dir) -> dict[str, Database]:
    dbs = _required(doc, "databases", dict, source)
    if not dbs:
        raise SweepError(f"{source}:{line_of(doc, 'databases')}: databases is empty")
    out = {}
    for name, entry in dbs.items():
        where = f"{source}:{line_of(dbs, name)}"
        try:
            safe_name(str(name), "database name")
        except BadInput as e:
            raise SweepError(f"{where}: {e}") from e
        if not isinstance(entry, dict) or set(entry) != {"train", "test"}:
            raise SweepError(
                f"{where}: database '{name}' needs exactly train: and test: (pair database paths)"
            )
        train, test = (
            _path(entry[s], base_dir, f"{where}: {name}: {s}") for s in ("train", "test")
        )
        out[str(name)] = Database(train, test)
    return out


def _no_unknown(mapping, allowed, what, source):
    """SweepError naming the first key of `mapping` that is not `allowed`, and its line."""
    key = first_unknown(mapping, allowed)
    if key is not None:
        known = ", ".join(sorted(allowed))
        raise SweepError(f"{source}:{line_of(mapping, key)}: {what} '{key}' (known: {known})")


def _check_values(mapping, what, source, line=None):
    """SweepError unless every value is one an option takes: a string, number or true/false, or a
    list of those (the option repeated, as --stepvalue is)."""
    for key, value in mapping.items():
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, (str, int, float, bool)) for v in items):
            raise SweepError(
                f"{source}:{line or line_of(mapping, key)}: {what}: '{key}': {value!r} is not "
                f"an option's value (a string, a number, true/false, or a list of them)"
            )


def _required(doc, key, kind, source):
    if key not in doc:
        raise SweepError(f"{source}: missing '{key}'")
    if not isinstance(doc[key], kind):
        raise SweepError(f"{source}:{line_of(doc, key)}: '{key}' must be a {kind.__name__}")
    return doc[key]


def _mapping(doc, key, source) -> dict:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise SweepError(f"{source}:{line_of(doc, key)}: '{key}' must be a mapping")
    return value


def _path(path, base_dir: str, where: str) -> str:
    """`path` with ~ and $VARIABLES expanded, from `base_dir`; SweepError (naming `where`) for
    an empty path or one no file system takes (a NUL byte)."""
    if not str(path):
        raise SweepError(f"{where}: the path is empty")
    if "\0" in str(path):
        raise SweepError(f"{where}: a path cannot hold a NUL byte: {path!r}")
    return os.path.normpath(
        os.path.join(base_dir, os.path.expanduser(os.path.expandvars(str(path))))
    )


def _label(value) -> str:
    """A value as it appears in names and plot labels."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return "+".join(map(_label, value))
    if isinstance(value, str) and ("/" in value or value.endswith((".yaml", ".yml", ".prototxt"))):
        return os.path.splitext(os.path.basename(value))[0]
    return "default" if value is None else str(value)


def describe(values: dict) -> str:
    """`key=value` pairs, for labels and messages."""
    return " ".join(f"{k}={_label(v)}" for k, v in values.items())
