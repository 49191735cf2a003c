"""data.classes: class lists parsed, resolved against the classes of a source, split disjointly."""

import pytest

from caffesiam.data.classes import ClassSplit, class_split, parse_class_list, resolve_classes
from caffesiam.errors import BadOption

DIGITS = [str(d) for d in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker"]


def resolve(text, names):
    return resolve_classes(parse_class_list(text), names)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0-5", (0, 1, 2, 3, 4, 5)),
        ("6,7,8,9", (6, 7, 8, 9)),
        ("0-4,7", (0, 1, 2, 3, 4, 7)),
        (" 9 , 2-3 ,2", (2, 3, 9)),  # spaces, order and repeats do not matter
        ("4-4", (4,)),
    ],
)
def test_numbers_and_ranges_of_digits(text, expected):
    assert resolve(text, DIGITS) == expected


def test_names_and_numbers_of_named_classes():
    assert resolve("Sandal,T-shirt/top", FASHION) == (0, 5)  # '-' inside a name is no range
    assert resolve("Sneaker,1-2", FASHION) == (1, 2, 7)  # numbers count the classes from 0


def test_numbers_mean_the_names_where_every_class_is_named_by_a_number():
    folders = ["1", "10", "2", "3"]  # sorted as an image folder's classes are
    assert resolve("2", folders) == (2,)
    assert resolve("1-3", folders) == (0, 2, 3)  # folders 1, 2 and 3, not positions 1-3
    assert resolve("10", folders) == (1,)
    mixed = ["cat", "dog", "7"]
    assert resolve("7", mixed) == (2,)  # a name first
    assert resolve("0-1", mixed) == (0, 1)  # else positions


def test_a_folder_named_like_a_range_is_that_folder():
    assert resolve("0-4", ["0-4", "5-9"]) == (0,)


@pytest.mark.parametrize(
    "text, names, message",
    [
        ("10", DIGITS, "no class named 10 (the classes are 0, 1, 2"),
        ("8-12", DIGITS, "no class named 10"),
        ("8", FASHION, "no class 8: the classes are numbered 0-7 (the classes are T-shirt/top"),
        ("3-99999999999", FASHION, "no class 8: the classes are numbered 0-7"),
        ("Sandle", FASHION, "no class named 'Sandle' (the classes are T-shirt/top, Trouser"),
        ("0-99999999999", DIGITS, "no class named 10"),
    ],
)
def test_classes_not_in_the_data_are_refused_naming_them(text, names, message):
    with pytest.raises(ValueError) as caught:
        resolve(text, names)
    assert str(caught.value).startswith(message)


def test_long_class_lists_are_cut_in_a_refusal():
    names = [f"c{k:03d}" for k in range(200)]
    with pytest.raises(ValueError, match=r"c011, \.\.\. \(200 classes\)\)$"):
        resolve("dog", names)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty class in ''"),
        ("0-3,,5", "empty class in '0-3,,5'"),
        ("1,", "empty class"),
        ("5-3", "range 5-3 runs backwards; write 3-5"),
    ],
)
def test_malformed_lists_are_refused_when_parsed(text, message):
    with pytest.raises(ValueError, match=message):
        parse_class_list(text)


def test_parsing_keeps_the_text_and_its_items():
    parsed = parse_class_list("0-4, Bag")
    assert (parsed.text, parsed.items) == ("0-4, Bag", ("0-4", "Bag"))


def split(train, test, names=DIGITS):
    return class_split(
        train and parse_class_list(train), test and parse_class_list(test), list(names)
    )


def test_a_split_is_what_the_lists_say_and_the_other_list_defaults_to_the_rest():
    assert split(None, None) is None
    assert split("0-5", "6-9") == ClassSplit((0, 1, 2, 3, 4, 5), (6, 7, 8, 9))
    assert split("0-2", "8") == ClassSplit((0, 1, 2), (8,))  # classes in neither are left out
    assert split("0-5", None) == ClassSplit((0, 1, 2, 3, 4, 5), (6, 7, 8, 9))
    assert split(None, "Bag", FASHION + ["Bag"]) == ClassSplit(tuple(range(8)), (8,))


@pytest.mark.parametrize(
    "train, test, option, reason",
    [
        ("0-5", "5-9", "--test-classes", "shares 5 with --train-classes; no test class may be"),
        ("0-9", None, "--train-classes", "leaves no class for the test database"),
        (None, "0-9", "--test-classes", "leaves no class for the train database"),
        ("0-12", "0", "--train-classes", "no class named 10"),
        ("0", "x", "--test-classes", "no class named 'x'"),
    ],
)
def test_overlapping_empty_or_unknown_splits_are_refused_naming_the_option(
    train, test, option, reason
):
    with pytest.raises(BadOption) as caught:
        split(train, test)
    assert caught.value.option == option and caught.value.reason.startswith(reason)
    assert caught.value.exit_code == 2
