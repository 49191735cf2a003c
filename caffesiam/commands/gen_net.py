"""gen-net: a single-tower spec -> siamese (or triplet) train_test net, or the deploy net."""

import dataclasses

import click

from caffesiam.caffe import locate
from caffesiam.caffe.proto import to_text
from caffesiam.commands.option_types import OutputFile, count, number
from caffesiam.commands.output import emit
from caffesiam.data.backends import BACKENDS
from caffesiam.data.recordcheck import check_record_channels
from caffesiam.net.siamese import build_deploy, build_siamese, with_feature_size
from caffesiam.spec.load import load_tower
from caffesiam.spec.tower import LOSSES, resolve_loss


def _with_backend(tower, backend):
    """Switch backend; default-named sources follow (x_leveldb -> x_lmdb)."""
    data = tower.data
    if backend is None or backend == data.backend:
        return tower
    rename = lambda s: s[: -len(data.backend)] + backend if s.endswith(data.backend) else s  # noqa: E731
    tower.data = dataclasses.replace(
        data,
        backend=backend,
        train_source=rename(data.train_source),
        test_source=rename(data.test_source),
    )
    return tower


@click.command("gen-net")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=OutputFile(allow_dash=True), help="Write here instead of stdout."
)
@click.option(
    "--deploy", is_flag=True, help="One tower behind an Input layer, for feature extraction."
)
@click.option(
    "--deploy-batch",
    type=count(),
    default=1,
    show_default=True,
    help="Batch size of the deploy net's Input layer.",
)
@click.option("--pseudo", is_flag=True, help="Pseudo-siamese: two towers that share nothing.")
@click.option("--train-source", help="Training pair database.")
@click.option("--test-source", help="Test pair database.")
@click.option("--backend", type=click.Choice(BACKENDS), help="Database backend.")
@click.option("--batch-size", type=count(), help="Training batch size.")
@click.option("--test-batch-size", type=count(), help="Test batch size.")
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    help="contrastive (Caffe's ContrastiveLoss), contrastive-legacy, chopra2005 or triplet "
    "(composed from stock layers) [default: the spec's, else contrastive].",
)
@click.option("--margin", type=number(min=0), help="Contrastive or triplet margin.")
@click.option(
    "--q",
    type=number(min=0, min_open=True),
    help="chopra2005's Q: same-class cost (2/Q)E^2, different-class 2Q exp(-2.77E/Q) [default: 5].",
)
@click.option(
    "--legacy-loss",
    is_flag=True,
    default=None,
    help="ContrastiveLoss legacy_version: max(margin - d^2, 0) instead of max(margin - d, 0)^2.",
)
@click.option(
    "--feature-size",
    type=count(),
    help="Outputs of the tower's last layer: the embedding's dimensions "
    "(give the deploy net the same).",
)
def gen_net(
    spec,
    output,
    deploy,
    deploy_batch,
    pseudo,
    train_source,
    test_source,
    backend,
    batch_size,
    test_batch_size,
    loss,
    margin,
    q,
    legacy_loss,
    feature_size,
):
    """Turn a single-tower SPEC (YAML or deploy prototxt) into a siamese train_test net.

    Every layer, top and bottom gets a `_p` twin; each learnable blob gets one shared
    `param { name: ... }`. The pair data's label `sim` is 1 for same-class pairs (Caffe's
    convention). `--loss triplet` adds a third tower (`_n`) and reads triplet databases
    (`build-db ... --triplets`); existing sources are checked to hold the images the net slices.
    The deploy net is one tower for every loss. Nothing is printed unless the whole net was
    generated.
    """
    if legacy_loss and loss not in (None, "contrastive-legacy"):
        raise click.BadParameter(
            f"--legacy-loss applies to contrastive losses, not {loss}", param_hint="--legacy-loss"
        )
    tower = _with_backend(load_tower(spec, locate.layer_types()), backend)
    if feature_size is not None:
        tower = with_feature_size(tower, feature_size)
    tower.loss = resolve_loss(tower.loss, loss, margin, q, legacy_loss)
    if q is not None and tower.loss.kind != "chopra2005":
        raise click.BadParameter(
            f"--q applies to --loss chopra2005, not {tower.loss.kind}", param_hint="--q"
        )
    if deploy:
        net = build_deploy(tower, batch=deploy_batch)
    else:
        net = build_siamese(
            tower,
            pseudo=pseudo,
            train_source=train_source,
            test_source=test_source,
            batch_size=batch_size,
            test_batch_size=test_batch_size,
        )
        check_record_channels(net, only_existing=True)
    emit(to_text(net), output)
