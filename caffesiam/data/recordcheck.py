"""Does a net's Slice fit its databases? Read from the first record, before Caffe starts.

A pair net handed a triplet database (or the reverse) would otherwise fail deep inside Caffe
with a shape check on a shared param.
"""

from collections.abc import Callable
from pathlib import Path

from caffesiam.data.read import peek_record
from caffesiam.errors import DatabaseError


def sliced_sources(net) -> list[tuple[str, str, int, int]]:
    """(Data layer source, Slice layer name, images per record, channels per image) per source.

    Only Slices on channels with evenly spaced points (C, 2C, ...), as gen-net writes them.
    """
    slices = {}
    for layer in net.layer:
        p = layer.slice_param
        axis = p.slice_dim if p.HasField("slice_dim") else p.axis
        points = list(p.slice_point)
        if (
            layer.type == "Slice"
            and axis == 1
            and points
            and len(points) == len(layer.top) - 1
            and points == [points[0] * (k + 1) for k in range(len(points))]
        ):
            slices[layer.bottom[0]] = (layer.name, len(layer.top), points[0])
    return [
        (layer.data_param.source, *slices[layer.top[0]])
        for layer in net.layer
        if layer.type == "Data" and layer.top and layer.top[0] in slices
    ]


def check_record_channels(net, resolve: Callable[[str], Path] = Path, only_existing: bool = False):
    """DatabaseError when a source's first record holds another number of images than the net
    slices.

    `only_existing`: skip sources that are missing or cannot be opened (gen-net's advisory check).
    """
    for source, slice_name, images, channels in sliced_sources(net):
        path = resolve(source)
        if only_existing and not path.exists():
            continue
        try:
            found = peek_record(path).channels
        except DatabaseError:
            if only_existing:  # advisory (gen-net): a database in use by a training is locked
                continue
            raise
        if (
            found == images * channels or found % channels
        ):  # other misfits: Caffe's own check says it
            continue
        hint = ""
        if images == 3 and found == 2 * channels:
            hint = (
                "; this is a pair database: build triplets with `caffesiam build-db ... --triplets`"
            )
        elif images == 2 and found == 3 * channels:
            hint = "; this is a triplet database: use it with a `gen-net --loss triplet` net"
        raise DatabaseError(
            f"{path}: records have {found} channels, but Slice '{slice_name}' cuts "
            f"{images} images of {channels} channel(s) = {images * channels}{hint}"
        )
