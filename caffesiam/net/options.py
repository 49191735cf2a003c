"""The settings of the nets and the solver, stated once: each one's name, the values it takes and
the flag that spells it. gen-net and gen-solver make their options from this table; a sweep
takes the same names as its override keys and checks its values here (no I/O)."""

import math
from dataclasses import dataclass

from caffesiam.data.backends import BACKENDS
from caffesiam.limits import INT32_MAX
from caffesiam.net.solver import LR_POLICY_FIELDS, POLICY_DEFAULTS, SOLVER_DEFAULTS
from caffesiam.spec.tower import LOSSES, LossSpec


@dataclass(frozen=True)
class Option:
    """One setting: an int or float within [low, high], a str (one of `choices` when there are
    any), or a bool flag."""

    name: str
    kind: type
    help: str | None = None
    low: int | None = None
    high: int | None = None
    low_open: bool = False  # low itself is refused
    choices: tuple[str, ...] = ()
    repeated: bool = False  # given once per value (--stepvalue 100 --stepvalue 200)
    deploy: bool = False  # shapes the deploy net too; the others only touch the train net

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _count(name: str, help: str | None = None, low: int = 1, **more) -> Option:
    """An integer that fits Caffe's int32 fields."""
    return Option(name, int, help, low=low, high=INT32_MAX, **more)


def _number(name: str, help: str | None = None, low_open: bool = False) -> Option:
    return Option(name, float, help, low=0, low_open=low_open)


def _default(name: str, help: str = "") -> str:
    """`help` then '[default: 0.01]': the siamese example's value of solver setting `name`."""
    value = SOLVER_DEFAULTS[name]
    shown = value if isinstance(value, str) else format(value, "g")
    return f"{help.rstrip('.')} [default: {shown}]".lstrip()


def _policy_default(name: str, help: str = "") -> str:
    """`help` then '[default: 0.0001 for inv, 0.1 for step and multistep]'."""
    policies: dict[float, list[str]] = {}
    for policy, values in POLICY_DEFAULTS.items():
        if name in values:
            policies.setdefault(values[name], []).append(policy)
    shown = ", ".join(f"{value:g} for {' and '.join(p)}" for value, p in policies.items())
    return f"{help.rstrip('.')} [default: {shown}]".lstrip()


NET_OPTIONS = (
    Option("pseudo", bool, "Pseudo-siamese: two towers that share nothing."),
    Option("backend", str, "Database backend.", choices=BACKENDS),
    _count("batch_size", "Training batch size."),
    _count("test_batch_size", "Test batch size."),
    Option(
        "loss",
        str,
        "contrastive (Caffe's ContrastiveLoss), contrastive-legacy, chopra2005 or triplet "
        "(composed from stock layers) [default: the spec's, else contrastive].",
        choices=LOSSES,
    ),
    _number("margin", "Contrastive or triplet margin."),
    _number(
        "q",
        "chopra2005's Q: same-class cost (2/Q)E^2, different-class 2Q exp(-2.77E/Q) "
        f"[default: {LossSpec.q:g}].",
        low_open=True,
    ),
    Option(
        "legacy_loss",
        bool,
        "ContrastiveLoss legacy_version: max(margin - d^2, 0) instead of max(margin - d, 0)^2.",
    ),
    _count(
        "feature_size",
        "Outputs of the tower's last layer: the embedding's dimensions (give the deploy net the "
        "same).",
        deploy=True,
    ),
)
SOLVER_OPTIONS = (
    _count("max_iter", _default("max_iter")),
    _number("base_lr", _default("base_lr"), low_open=True),
    _count("test_iter", _default("test_iter")),
    _count("test_interval", _default("test_interval")),
    _count("display", _default("display"), low=0),
    _count("snapshot", _default("snapshot", "Snapshot every N iterations."), low=0),
    _number("momentum", _default("momentum")),
    _number("weight_decay", _default("weight_decay")),
    Option(
        "lr_policy",
        str,
        _default("lr_policy", "Learning-rate schedule."),
        choices=tuple(LR_POLICY_FIELDS),
    ),
    _number("gamma", _policy_default("gamma"), low_open=True),
    _number("power", _policy_default("power", "inv and poly."), low_open=True),
    _count("stepsize", "step and sigmoid."),
    _count(
        "stepvalue",
        "multistep: the iterations where lr is multiplied by gamma (repeat the option).",
        repeated=True,
    ),
    Option("random_seed", int, low=-(2**63), high=2**63 - 1),
)
NET = {option.name: option for option in NET_OPTIONS}
DEPLOY = {name: option for name, option in NET.items() if option.deploy}
SOLVER = {option.name: option for option in SOLVER_OPTIONS}


def option_value(option: Option, value):
    """`value` (a YAML scalar, or a list for a repeated option) as the option's flag reads it
    from its text; ValueError saying why it cannot be. A repeated option gives a tuple."""
    if option.repeated:
        return tuple(_scalar(option, v) for v in (value if isinstance(value, list) else [value]))
    if isinstance(value, list):
        raise ValueError(f"{value!r} is a list, and {option.flag} takes one value")
    return _scalar(option, value)


def _scalar(option: Option, value):
    if option.kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false ({option.flag} is a flag)")
        return value
    text = str(value)
    if option.kind is str:
        if option.choices and text not in option.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(map(repr, option.choices))}")
        return text
    try:
        number = option.kind(text)
    except ValueError:
        what = "integer" if option.kind is int else "float"
        raise ValueError(f"{text!r} is not a valid {what}") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    too_low = option.low is not None and (
        number <= option.low if option.low_open else number < option.low
    )
    if too_low or (option.high is not None and number > option.high):
        raise ValueError(f"{number} is not in the range {_range(option)}")
    return number


def _range(option: Option) -> str:
    low = "<" if option.low_open else "<="
    if option.high is None:
        return f"x{'>' if option.low_open else '>='}{option.low}"
    return f"{option.low}{low}x<={option.high}"


def option_argv(options: dict[str, Option], settings: dict) -> list[str]:
    """`settings` (values as option_value gives them) as flags: a true flag bare, a false one
    left out, a repeated option once per value."""
    argv = []
    for name, value in settings.items():
        flag = options[name].flag
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, tuple):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv
