"""gen-net: a single-tower spec -> siamese (or triplet) train_test net, or the deploy net."""

from pathlib import Path

import click

from caffesiam.caffe import locate
from caffesiam.caffe.proto import to_text
from caffesiam.commands.option_types import OutputFile, count
from caffesiam.commands.options import table_options
from caffesiam.commands.output import emit
from caffesiam.data.probe import check_existing_sources
from caffesiam.data.recordcheck import check_record_channels
from caffesiam.net.generate import deploy_net, train_net
from caffesiam.net.options import NET_OPTIONS
from caffesiam.spec.load import load_tower


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
@click.option("--train-source", help="Training pair database.")
@click.option("--test-source", help="Test pair database.")
@table_options(NET_OPTIONS)
def gen_net(spec, output, deploy, deploy_batch, train_source, test_source, **settings):
    """Turn a single-tower SPEC (YAML or deploy prototxt) into a siamese train_test net.

    Every layer, top and bottom gets a `_p` twin; each learnable blob gets one shared
    `param { name: ... }`. The pair data's label `sim` is 1 for same-class pairs (Caffe's
    convention). `--loss triplet` adds a third tower (`_n`) and reads triplet databases
    (`build-db ... --triplets`); existing sources are checked to hold the images the net slices.
    The deploy net is one tower for every loss. Nothing is printed unless the whole net was
    generated.
    """
    tower = load_tower(spec, locate.layer_types())
    if deploy:
        net = deploy_net(tower, settings, batch=deploy_batch)
    else:
        net = train_net(tower, settings, train_source, test_source)
        check_existing_sources(net, Path.cwd())
        check_record_channels(net, only_existing=True)
    emit(to_text(net), output)
