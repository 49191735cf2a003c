"""mine: offline hard-negative mining: the dataset's images embedded with the current weights, then
a train pair database whose negatives are drawn among each image's nearest of other classes."""

import resource
import time

import click

from caffesiam.commands.build_db_options import name_option, output_options
from caffesiam.commands.image_source import load_images, one_source, source_options
from caffesiam.commands.mine_options import mining_options
from caffesiam.commands.model_options import describe, load_tower, model_options
from caffesiam.commands.progress import progress_bar
from caffesiam.data.builder.gather import check_outputs
from caffesiam.data.builder.plan import BuildRequest, derived_name, plan_mined, plan_sets
from caffesiam.data.builder.run import check_room, write_databases
from caffesiam.data.mining import check_mining, mine_pairs
from caffesiam.errors import BadOption
from caffesiam.files import sha256_of


@click.command()
@model_options
@source_options
@mining_options
@output_options
@name_option("the dataset's name, then _mined")
def mine(
    model,
    weights,
    blob,
    train_net,
    scale,
    batch_size,
    split,
    classes,
    neighbours,
    hard_ratio,
    pairs,
    positive_ratio,
    seed,
    augment,
    jitter,
    out,
    backend,
    force,
    name,
    **sources,
):
    """Offline hard-negative mining: embed the dataset's images with the current weights and
    write a train pair database, OUT/<name>_siamese_train_<backend>, whose negatives are drawn
    among each anchor's nearest images of other classes.

    Labels follow Caffe: sim=1 means the two images show the same class. Positives stay
    build-db's random same-class pairs (--positive-ratio, default balanced); the same inputs and
    --seed give byte-identical records. Continue training on it from the last snapshot with
    `caffesiam train SOLVER --resume SNAPSHOT.solverstate` (docs/metric-learning.md).
    """
    dataset = one_source(sources, required=True)
    if dataset == "images":
        split = "all"  # a folder is read whole
        name = name or derived_name(sources["images"].resolve().name + "_mined", "ROOT's name")
    request = BuildRequest(
        name or f"{dataset}_mined",
        out,
        ("train",),
        backend,
        force,
        pairs=pairs,
        positive_ratio=positive_ratio,
        seed=seed,
        augment=augment,
        jitter=jitter,
    )
    check_outputs(request)
    net, prep = load_tower(model, weights, blob, None, train_net, scale)
    images = load_images(sources, split, classes, net.input_shape)
    net.check_images(images.images.shape[1:], images.source)
    try:
        check_mining(images.labels, neighbours)
    except BadOption as e:
        raise click.BadParameter(e.reason, param_hint=e.option) from None
    plan = plan_sets(request, {"train": images})
    check_room(plan)
    (db,) = plan.databases
    start = time.process_time()
    with progress_bar(len(images.labels), "features") as advance:
        features = net.features(images.images, prep, batch_size, advance)
    embedded = time.process_time()
    mined = mine_pairs(
        features, images.labels, db.records, positive_ratio, hard_ratio, neighbours, db.seed
    )
    chosen = time.process_time()
    mining = {
        "model": str(model),
        "weights": str(weights),
        "weights_sha256": sha256_of(weights),
        "blob": net.blob,
        "input_scale": prep.scale,
        "input_mean": list(prep.mean),
        "dataset_split": split,
        "neighbours": neighbours,
        "hard_ratio": hard_ratio,
        "hard_negatives": len(mined.hard_rows),
    }
    for target, record in write_databases(plan_mined(plan, mined.rows, mining), progress_bar):
        shape = "x".join(map(str, record["image_shape"]))
        click.echo(
            f"wrote {target}: {record['records']} pairs, {record['positives']} positive (sim=1, "
            f"same class), {record['negatives']} negative, {len(mined.hard_rows)} of them hard "
            f"(among the {neighbours} nearest of other classes), images {shape}"
        )
    click.echo(
        f"mining CPU time: {_cpu_seconds():.1f} s in all (user+sys of caffesiam and its "
        f"children), of which {embedded - start:.1f} s the forward passes of "
        f"{len(images.labels):,} images and {chosen - embedded:.1f} s choosing the negatives"
    )
    click.echo(describe(prep), err=True)


def _cpu_seconds() -> float:
    """User+sys CPU time of this process and of the child processes it waited for."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
