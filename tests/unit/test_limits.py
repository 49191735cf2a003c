"""The bounds: sizes in words, memory and disk checks, and the bounds each check applies."""

import pytest

from caffesiam import limits
from caffesiam.data.augment import parse_jitter
from caffesiam.errors import BadInput


@pytest.mark.parametrize(
    "n, text",
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (1_500_000_000, "1.5 GB"), (3e18, "3000.0 PB")],
)
def test_size_text(n, text):
    assert limits.size_text(n) == text


def test_memory_and_disk_checks_name_what_needs_how_much(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "available_memory", lambda: 2_000_000)
    limits.require_memory(2_000_000, "the pairs")
    with pytest.raises(BadInput) as e:
        limits.require_memory(3_000_000, "the pairs")
    assert str(e.value) == "the pairs needs 3.0 MB of memory; this machine has 2.0 MB available"
    monkeypatch.setattr(limits, "free_space", lambda path: 5000)
    with pytest.raises(
        BadInput, match=f"the db needs 6.0 KB of disk; 5.0 KB is free where {tmp_path}"
    ):
        limits.require_space(tmp_path, 6000, "the db")


def test_free_space_of_a_path_not_made_yet_is_its_nearest_folders(tmp_path):
    assert limits.free_space(tmp_path / "a" / "b" / "c.db") == limits.free_space(tmp_path) > 0
    assert limits.available_memory() > 0


def test_jitter_stops_at_its_bounds():
    top = limits.JITTER_MAX
    assert parse_jitter(f"rotate={top['rotate']},shift={top['shift']}").rotate == top["rotate"]
    for text in (
        f"rotate={top['rotate'] + 1}",
        f"shift={top['shift'] * 2}",
        f"scale={top['scale']}",
    ):
        with pytest.raises(ValueError, match="must be >= 0 and"):
            parse_jitter(text)


def test_timeouts_are_positive_seconds():
    names = [name for name in dir(limits) if name.endswith("_TIMEOUT_S")]
    assert len(names) >= 5
    assert all(isinstance(getattr(limits, n), int) and getattr(limits, n) > 0 for n in names)
