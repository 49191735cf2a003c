"""Class lists ("0-5", "6,7,8,9", "0-4,7", "Sandal,Bag"): parsed, then resolved to class numbers.

Pure. An item that is a class's name means that class. Any other number or range a-b counts
class numbers, the labels the databases hold (an image folder's classes are numbered in sorted
order from 0), except where every class is named by a number: then it means those names.
"""

import re
from dataclasses import dataclass

from caffesiam.errors import BadOption

_NUMBERS = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_SHOWN = 12  # class names listed in a refusal


@dataclass(frozen=True)
class ClassList:
    """A class list as given: its text and its items (names, numbers or ranges a-b)."""

    text: str
    items: tuple[str, ...]


def parse_class_list(text: str) -> ClassList:
    """'0-4, 7' -> ClassList('0-4, 7', ('0-4', '7')); ValueError for an empty item or a range
    that runs backwards."""
    items = tuple(item.strip() for item in text.split(","))
    for item in items:
        if not item:
            raise ValueError(f"empty class in {text!r}; expected a list such as 0-4,7")
        numbers = _NUMBERS.fullmatch(item)
        if numbers and numbers[2] is not None and int(numbers[2]) < int(numbers[1]):
            raise ValueError(f"range {item} runs backwards; write {numbers[2]}-{numbers[1]}")
    return ClassList(text, items)


def resolve_classes(classes: ClassList, class_names: list[str]) -> tuple[int, ...]:
    """The sorted class numbers (indices into `class_names`) that `classes` names; ValueError
    naming a class that is not in the data."""
    by_name = {name: number for number, name in enumerate(class_names)}
    numeric = {int(name): k for k, name in enumerate(class_names) if re.fullmatch("[0-9]+", name)}
    named_by_numbers = len(numeric) == len(class_names)  # (and no two names of one number)
    found = set()
    for item in classes.items:
        numbers = _NUMBERS.fullmatch(item)
        if item in by_name:
            found.add(by_name[item])
        elif numbers is None:
            raise ValueError(f"no class named {item!r} ({_known(class_names)})")
        else:
            low = int(numbers[1])
            high = low if numbers[2] is None else int(numbers[2])
            found.update(_numbered(range(low, high + 1), numeric, named_by_numbers, class_names))
    return tuple(sorted(found))


def _numbered(numbers: range, numeric: dict, named_by_numbers: bool, class_names) -> list[int]:
    """The classes `numbers` mean: by name where every class is named by a number, else by
    position; ValueError at the first that is not in the data."""
    if named_by_numbers:
        missing = next((n for n in numbers if n not in numeric), None)  # stops at the first
        if missing is not None:
            raise ValueError(f"no class named {missing} ({_known(class_names)})")
        return [numeric[n] for n in numbers]
    if numbers[-1] >= len(class_names):
        raise ValueError(
            f"no class {max(numbers.start, len(class_names))}: the classes are numbered "
            f"0-{len(class_names) - 1} ({_known(class_names)})"
        )
    return list(numbers)


@dataclass(frozen=True)
class ClassSplit:
    """The class numbers of the train and of the test database: disjoint."""

    train: tuple[int, ...]
    test: tuple[int, ...]


def class_split(
    train: ClassList | None, test: ClassList | None, class_names: list[str]
) -> ClassSplit | None:
    """The split that --train-classes and --test-classes ask for (None when neither is given);
    a list not given is every other class. BadOption for an unknown class, or for lists that
    share a class or leave one database without a class."""
    if train is None and test is None:
        return None
    chosen = {}
    for option, given in (("--train-classes", train), ("--test-classes", test)):
        if given is not None:
            try:
                chosen[option] = resolve_classes(given, class_names)
            except ValueError as e:
                raise BadOption(option, str(e)) from None
    everything = range(len(class_names))
    train_ids = chosen.get("--train-classes")
    test_ids = chosen.get("--test-classes")
    if train_ids is None:
        train_ids = tuple(k for k in everything if k not in test_ids)
    if test_ids is None:
        test_ids = tuple(k for k in everything if k not in train_ids)
    shared = sorted(set(train_ids) & set(test_ids))
    if shared:
        names = ", ".join(class_names[k] for k in shared[:_SHOWN])
        raise BadOption(
            "--test-classes",
            f"shares {names} with --train-classes; no test class may be a train class",
        )
    for option, ids, other in (
        ("--test-classes", train_ids, "train"),
        ("--train-classes", test_ids, "test"),
    ):
        if not ids:
            raise BadOption(option, f"leaves no class for the {other} database")
    return ClassSplit(train_ids, test_ids)


def _known(class_names: list[str]) -> str:
    shown = ", ".join(class_names[:_SHOWN])
    more = f", ... ({len(class_names)} classes)" if len(class_names) > _SHOWN else ""
    return f"the classes are {shown}{more}"
